//! The ONE place where errors become HTTP: status code and TorchServe's error body
//! `{"code", "type", "message"}` (contract: exception → status table). We add a `cause` field
//! when we know more than TorchServe would say (a Python traceback's last line, a download
//! error); clients reading the three TorchServe fields are unaffected.

use super::response::json_response;
use crate::job::JobError;
use crate::lifecycle::{LifecycleError, SubmitError};
use crate::registry::RegistryError;
use crate::store::StoreError;
use axum::response::{IntoResponse, Response};

pub const NOT_FOUND_TEXT: &str = "Requested resource is not found, please refer to API document.";
pub const NOT_ALLOWED_TEXT: &str = "Requested method is not allowed, please refer to API document.";
pub const TOKEN_TEXT: &str =
    "Token Authorization failed. Token either incorrect, expired, or not provided correctly";

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    ResourceNotFound,
    MethodNotAllowed,
    ModelNotFound(String),
    ModelVersionNotFound(String),
    BadRequest(String),
    InvalidModel {
        message: String,
        cause: Option<String>,
    },
    /// TorchServe's generic ModelException (400)
    Model {
        message: String,
        cause: Option<String>,
    },
    InvalidKey(String),
    DownloadArchive {
        message: String,
        cause: String,
    },
    Conflict(String),
    RequestTimeout(String),
    ServiceUnavailable(String),
    /// TorchServe's IllegalArgumentException family, 403
    InvalidModelVersion(String),
    /// InternalServerException with any status (500, 503, 507, a handler's own code...)
    Internal {
        code: u16,
        message: String,
        cause: Option<String>,
    },
    PayloadTooLarge {
        limit: usize,
    },
}

impl ApiError {
    pub fn internal(code: u16, message: impl Into<String>) -> ApiError {
        ApiError::Internal {
            code,
            message: message.into(),
            cause: None,
        }
    }

    /// (status, type, message, cause)
    pub fn parts(&self) -> (u16, &'static str, String, Option<String>) {
        match self {
            ApiError::ResourceNotFound => (
                404,
                "ResourceNotFoundException",
                NOT_FOUND_TEXT.into(),
                None,
            ),
            ApiError::MethodNotAllowed => (
                405,
                "MethodNotAllowedException",
                NOT_ALLOWED_TEXT.into(),
                None,
            ),
            ApiError::ModelNotFound(m) => (404, "ModelNotFoundException", m.clone(), None),
            ApiError::ModelVersionNotFound(m) => {
                (404, "ModelVersionNotFoundException", m.clone(), None)
            }
            ApiError::BadRequest(m) => (400, "BadRequestException", m.clone(), None),
            ApiError::InvalidModel { message, cause } => {
                (400, "InvalidModelException", message.clone(), cause.clone())
            }
            ApiError::Model { message, cause } => {
                (400, "ModelException", message.clone(), cause.clone())
            }
            ApiError::InvalidKey(m) => (400, "InvalidKeyException", m.clone(), None),
            ApiError::DownloadArchive { message, cause } => (
                400,
                "DownloadArchiveException",
                message.clone(),
                Some(cause.clone()),
            ),
            ApiError::Conflict(m) => (409, "ConflictStatusException", m.clone(), None),
            ApiError::RequestTimeout(m) => (408, "RequestTimeoutException", m.clone(), None),
            ApiError::ServiceUnavailable(m) => {
                (503, "ServiceUnavailableException", m.clone(), None)
            }
            ApiError::InvalidModelVersion(m) => {
                (403, "InvalidModelVersionException", m.clone(), None)
            }
            // TorchServe remaps 413 from a worker to 507 (RestJob.sendError).
            ApiError::Internal {
                code,
                message,
                cause,
            } => {
                let code = if *code == 413 { 507 } else { *code };
                let code = if (100..=599).contains(&code) {
                    code
                } else {
                    500
                };
                (
                    code,
                    "InternalServerException",
                    message.clone(),
                    cause.clone(),
                )
            }
            ApiError::PayloadTooLarge { limit } => (
                413,
                "RequestEntityTooLargeException",
                format!("Request body exceeds max_request_size ({limit} bytes)"),
                None,
            ),
        }
    }

    pub fn status(&self) -> u16 {
        self.parts().0
    }

    /// The 503 text for a model with no worker or a full queue (FE/util/ApiUtils.java).
    pub fn no_worker(name: &str, version: Option<&str>) -> ApiError {
        let mut m = format!("Model \"{name}");
        if let Some(v) = version {
            m.push_str(&format!("\" Version {v}"));
        }
        m.push_str(
            "\" has no worker to serve inference request. Please use scale workers API to add workers. \
             If this is a sequence inference, please check if it is closed, or expired; or exceeds maxSequenceJobQueueSize",
        );
        ApiError::ServiceUnavailable(m)
    }

    pub fn no_worker_describe(name: &str) -> ApiError {
        ApiError::ServiceUnavailable(format!(
            "Model \"{name}\" has no worker to serve describe request. Please use scale workers API to add workers."
        ))
    }

    /// A job's failure, for the model (and version, as the client named it) it was sent to.
    pub fn from_job(e: JobError, name: &str, version: Option<&str>) -> ApiError {
        match e {
            JobError::WorkerDied => ApiError::internal(500, "Worker died."),
            JobError::WorkerKilledForMemory => ApiError::Internal {
                code: 507,
                message: "Worker died.".into(),
                cause: Some("the worker process was killed for using too much memory".into()),
            },
            JobError::Handler { code, message } => ApiError::internal(code, message),
            JobError::ClientTimeout => {
                ApiError::RequestTimeout("Request timed out before a worker took it".into())
            }
            JobError::NoWorker => ApiError::no_worker(name, version),
            JobError::Cancelled(m) => ApiError::ServiceUnavailable(format!(
                "Model {m} was unregistered while the request was waiting"
            )),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let m = e.to_string();
        match e {
            RegistryError::ModelNotFound(_) => ApiError::ModelNotFound(m),
            RegistryError::VersionNotFound { .. }
            | RegistryError::DefaultVersionNotFound { .. } => ApiError::ModelVersionNotFound(m),
            RegistryError::AlreadyRegistered { .. } => ApiError::Conflict(m),
            RegistryError::CannotRemoveDefault(_) => ApiError::InvalidModelVersion(m),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let m = e.to_string();
        let cause = e.cause();
        match e {
            StoreError::NoStore
            | StoreError::EmptyUrl
            | StoreError::RelativePath(_)
            | StoreError::UrlNotAllowed(_)
            | StoreError::NotFound(_) => ApiError::ModelNotFound(m),
            StoreError::AlreadyExists(_) | StoreError::Io { .. } => ApiError::Internal {
                code: 500,
                message: m,
                cause,
            },
            StoreError::Unpack { .. } => ApiError::InvalidModel { message: m, cause },
            StoreError::Download { reason, .. } => ApiError::DownloadArchive {
                message: m,
                cause: reason,
            },
            StoreError::InvalidModel(_) => ApiError::InvalidModel {
                message: m,
                cause: None,
            },
            StoreError::BadRuntime(_) => ApiError::BadRequest(m),
        }
    }
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::Store(e) => e.into(),
            LifecycleError::Registry(e) => e.into(),
            LifecycleError::BadRequest(m) => ApiError::BadRequest(m),
            LifecycleError::WorkersFailed {
                status,
                message,
                cause,
            } => {
                let line = match &*cause {
                    crate::workers::WorkerError::LoadFailed { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                ApiError::Internal {
                    code: status,
                    message,
                    cause: Some(line),
                }
            }
            LifecycleError::Dependencies(e) => {
                let cause = match &e {
                    crate::dependencies::DependencyError::Failed { output, .. } => output
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .map(str::to_string),
                    crate::dependencies::DependencyError::NotUnpacked(_) => None,
                };
                ApiError::Model {
                    message: e.to_string(),
                    cause,
                }
            }
            LifecycleError::StopTimeout(name) => {
                ApiError::RequestTimeout(format!("Timed out while cleaning resources: {name}"))
            }
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Registry(e) => e.into(),
            SubmitError::NoWorker { name, version } => {
                ApiError::no_worker(&name, version.as_deref())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, kind, message, cause) = self.parts();
        let mut body = serde_json::json!({ "code": code, "type": kind, "message": message });
        if let Some(c) = cause {
            body["cause"] = serde_json::Value::String(c);
        }
        json_response(code, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_types() {
        let check = |e: ApiError, code: u16, kind: &str| {
            let (c, k, _, _) = e.parts();
            assert_eq!((c, k), (code, kind), "{e:?}");
        };
        check(ApiError::ResourceNotFound, 404, "ResourceNotFoundException");
        check(
            RegistryError::AlreadyRegistered {
                name: "a".into(),
                version: "1".into(),
            }
            .into(),
            409,
            "ConflictStatusException",
        );
        check(
            RegistryError::CannotRemoveDefault("a".into()).into(),
            403,
            "InvalidModelVersionException",
        );
        check(
            StoreError::NotFound("x.mar".into()).into(),
            404,
            "ModelNotFoundException",
        );
        check(
            StoreError::AlreadyExists("x.mar".into()).into(),
            500,
            "InternalServerException",
        );
        check(
            ApiError::internal(413, "big"),
            507,
            "InternalServerException",
        );
        check(
            ApiError::from_job(
                JobError::Handler {
                    code: 418,
                    message: "x".into(),
                },
                "m",
                None,
            ),
            418,
            "InternalServerException",
        );
        assert_eq!(
            ApiError::no_worker("m", Some("2.0")).parts().2,
            "Model \"m\" Version 2.0\" has no worker to serve inference request. Please use scale workers API to add workers. If this is a sequence inference, please check if it is closed, or expired; or exceeds maxSequenceJobQueueSize"
        );
    }
}
