//! A thin HTTP client that keeps every request as text, so a failing check can show the
//! exchange that broke it.
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::harness::{CheckResult, Exchange, Failure};

/// Longest a single request may take: a synchronous register or scale of several workers
/// on a loaded 2-core machine takes tens of seconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);
/// How much of a body a failure report shows.
const EXCERPT: usize = 3000;

/// One of the target's three endpoints, with the bearer key it needs (if any).
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl Api {
    pub fn new(client: reqwest::Client, base: &str, key: Option<String>) -> Self {
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// `http://host:port` without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `host:port`, for raw socket checks.
    pub fn authority(&self) -> &str {
        let rest = self
            .base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }

    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    pub fn request(&self, method: Method, path: &str) -> Req {
        Req {
            client: self.client.clone(),
            method,
            url: format!("{}{}", self.base, path),
            headers: Vec::new(),
            body: Body::None,
            auth: self.key.clone(),
        }
    }

    pub fn get(&self, path: &str) -> Req {
        self.request(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Req {
        self.request(Method::POST, path)
    }
    pub fn put(&self, path: &str) -> Req {
        self.request(Method::PUT, path)
    }
    pub fn delete(&self, path: &str) -> Req {
        self.request(Method::DELETE, path)
    }
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Bytes(Vec<u8>),
    Form(Vec<FormPart>),
}

#[derive(Debug, Clone)]
struct FormPart {
    name: String,
    bytes: Vec<u8>,
    file_name: Option<String>,
    content_type: Option<String>,
}

/// A request being built.
#[derive(Debug, Clone)]
pub struct Req {
    client: reqwest::Client,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Body,
    auth: Option<String>,
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A body with this Content-Type (none when `None`).
    pub fn body(mut self, content_type: Option<&str>, bytes: impl Into<Vec<u8>>) -> Self {
        if let Some(ct) = content_type {
            self.headers.push(("Content-Type".into(), ct.into()));
        }
        self.body = Body::Bytes(bytes.into());
        self
    }

    pub fn json(self, value: &Value) -> Self {
        self.body(Some("application/json"), value.to_string())
    }

    pub fn text(self, text: &str) -> Self {
        self.body(Some("text/plain"), text.as_bytes().to_vec())
    }

    /// Adds a multipart/form-data part; a part with a file name is a file part.
    pub fn part(
        mut self,
        name: &str,
        bytes: &[u8],
        content_type: Option<&str>,
        file_name: Option<&str>,
    ) -> Self {
        let part = FormPart {
            name: name.into(),
            bytes: bytes.to_vec(),
            file_name: file_name.map(Into::into),
            content_type: content_type.map(Into::into),
        };
        match &mut self.body {
            Body::Form(parts) => parts.push(part),
            _ => self.body = Body::Form(vec![part]),
        }
        self
    }

    /// Sends no Authorization header even when the endpoint has a key.
    pub fn no_auth(mut self) -> Self {
        self.auth = None;
        self
    }

    /// Sends this bearer key instead of the endpoint's.
    pub fn bearer(mut self, key: &str) -> Self {
        self.auth = Some(key.to_owned());
        self
    }

    fn describe(&self) -> String {
        let mut text = format!("{} {}", self.method, self.url);
        if let Some(key) = &self.auth {
            text.push_str(&format!("\nAuthorization: Bearer {}", redact_key(key)));
        }
        for (k, v) in &self.headers {
            text.push_str(&format!("\n{k}: {v}"));
        }
        match &self.body {
            Body::None => {}
            Body::Bytes(b) => text.push_str(&format!("\n\n{}", excerpt(b))),
            Body::Form(parts) => {
                for p in parts {
                    text.push_str(&format!(
                        "\n\n[part {:?} file={:?} type={:?}] {}",
                        p.name,
                        p.file_name,
                        p.content_type,
                        excerpt(&p.bytes)
                    ));
                }
            }
        }
        text
    }

    pub async fn send(self) -> Result<Resp, Failure> {
        let request_text = self.describe();
        let mut builder = self
            .client
            .request(self.method, &self.url)
            .timeout(REQUEST_TIMEOUT);
        if let Some(key) = &self.auth {
            builder = builder.header("Authorization", format!("Bearer {key}"));
        }
        for (k, v) in &self.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        builder = match self.body {
            Body::None => builder,
            Body::Bytes(b) => builder.body(b),
            Body::Form(parts) => {
                let mut form = reqwest::multipart::Form::new();
                for p in parts {
                    let mut part = reqwest::multipart::Part::bytes(p.bytes);
                    if let Some(f) = p.file_name {
                        part = part.file_name(f);
                    }
                    if let Some(ct) = p.content_type {
                        part = part.mime_str(&ct).map_err(|e| {
                            Failure::new(format!("bad part content type {ct}: {e}"))
                        })?;
                    }
                    form = form.part(p.name, part);
                }
                builder.multipart(form)
            }
        };
        let response = builder.send().await.map_err(|e| {
            Failure::with_exchange(
                format!("request failed: {e}"),
                Exchange {
                    request: request_text.clone(),
                    response: format!("(no response: {e})"),
                },
            )
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.bytes().await.map_err(|e| {
            Failure::with_exchange(
                format!("reading the response body failed: {e}"),
                Exchange {
                    request: request_text.clone(),
                    response: format!("HTTP {status} (body unreadable: {e})"),
                },
            )
        })?;
        Ok(Resp {
            status,
            headers,
            body: body.to_vec(),
            request: request_text,
        })
    }
}

/// A received response and the request that caused it.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    /// Header names as reqwest gives them (lowercase), in received order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    request: String,
}

impl Resp {
    /// A response that never crossed a network, for unit tests of assertion helpers.
    pub fn for_tests(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        Self {
            status,
            headers,
            body,
            request: "(test)".into(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn exchange(&self) -> Exchange {
        let mut response = format!("HTTP {}", self.status);
        for (k, v) in &self.headers {
            response.push_str(&format!("\n{k}: {v}"));
        }
        response.push_str(&format!("\n\n{}", excerpt(&self.body)));
        Exchange {
            request: self.request.clone(),
            response,
        }
    }

    pub fn fail(&self, message: impl Into<String>) -> Failure {
        Failure::with_exchange(message, self.exchange())
    }

    pub fn json(&self) -> Result<Value, Failure> {
        serde_json::from_slice(&self.body).map_err(|e| self.fail(format!("body is not JSON: {e}")))
    }

    pub fn expect_status(&self, code: u16) -> CheckResult {
        if self.status == code {
            Ok(())
        } else {
            Err(self.fail(format!("expected HTTP {code}, got {}", self.status)))
        }
    }

    /// Status `code` and exactly the body `{"code": code, "type": ty, "message": message}`,
    /// keys in that order.
    pub fn expect_error(&self, code: u16, ty: &str, message: &str) -> CheckResult {
        self.expect_error_with(code, ty, |m| m == message, &format!("{message:?}"))
    }

    /// Like [`Resp::expect_error`] with a predicate on the message.
    pub fn expect_error_with(
        &self,
        code: u16,
        ty: &str,
        ok: impl Fn(&str) -> bool,
        wanted: &str,
    ) -> CheckResult {
        self.expect_status(code)?;
        let v = self.json()?;
        let keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        // TorchServe writes exactly these three. The reference server may append a `cause`
        // string (a documented extension with the Python error); clients reading the three
        // fields see no difference, so it is accepted and nothing else is.
        let extension_ok = match keys.get(3..) {
            Some([]) | None => true,
            Some(["cause"]) => v["cause"].is_string(),
            Some(_) => false,
        };
        if keys.get(..3) != Some(&["code", "type", "message"][..]) || !extension_ok {
            return Err(self.fail(format!("error body keys should be [code, type, message] in order (optionally then cause), got {keys:?}")));
        }
        if v["code"] != code {
            return Err(self.fail(format!("body code should be {code}, got {}", v["code"])));
        }
        if v["type"] != ty {
            return Err(self.fail(format!("error type should be {ty}, got {}", v["type"])));
        }
        let message = v["message"].as_str().unwrap_or_default();
        if !ok(message) {
            return Err(self.fail(format!("error message should be {wanted}, got {message:?}")));
        }
        Ok(())
    }

    /// Status `code` and exactly the body `{"status": text}`.
    pub fn expect_status_message(&self, code: u16, text: &str) -> CheckResult {
        self.expect_status(code)?;
        let v = self.json()?;
        if v != serde_json::json!({ "status": text }) {
            return Err(self.fail(format!("body should be {{\"status\": {text:?}}}")));
        }
        Ok(())
    }
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(EXCERPT)]).into_owned();
    if bytes.len() > EXCERPT {
        format!("{text}... ({} bytes in all)", bytes.len())
    } else {
        text
    }
}

/// Keys never appear in reports: keep 2 characters so a reader can tell keys apart.
pub fn redact_key(key: &str) -> String {
    format!("{}***", key.chars().take(2).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Resp {
        Resp::for_tests(
            status,
            vec![("content-type".into(), "application/json".into())],
            body.as_bytes().to_vec(),
        )
    }

    #[test]
    fn error_shape() {
        let ok =
            r#"{"code": 404, "type": "ModelNotFoundException", "message": "Model not found: x"}"#;
        assert!(
            resp(404, ok)
                .expect_error(404, "ModelNotFoundException", "Model not found: x")
                .is_ok()
        );
        assert!(
            resp(404, ok)
                .expect_error(404, "ModelNotFoundException", "Model not found: y")
                .is_err()
        );
        assert!(
            resp(400, ok)
                .expect_error(404, "ModelNotFoundException", "Model not found: x")
                .is_err(),
            "status"
        );
        let with_cause = r#"{"code": 500, "type": "T", "message": "m", "cause": "ValueError: x"}"#;
        assert!(resp(500, with_cause).expect_error(500, "T", "m").is_ok());
        let other = r#"{"code": 500, "type": "T", "message": "m", "extra": 1}"#;
        assert!(resp(500, other).expect_error(500, "T", "m").is_err());
        let reordered = r#"{"type": "T", "code": 500, "message": "m"}"#;
        assert!(resp(500, reordered).expect_error(500, "T", "m").is_err());
        let wrong_code = r#"{"code": 400, "type": "T", "message": "m"}"#;
        assert!(resp(500, wrong_code).expect_error(500, "T", "m").is_err());
    }

    #[test]
    fn status_message_shape() {
        assert!(
            resp(200, "{\n  \"status\": \"Healthy\"\n}\n")
                .expect_status_message(200, "Healthy")
                .is_ok()
        );
        assert!(
            resp(200, r#"{"status": "Healthy", "x": 1}"#)
                .expect_status_message(200, "Healthy")
                .is_err()
        );
    }

    #[test]
    fn keys_are_redacted() {
        assert_eq!(redact_key("abcdef"), "ab***");
    }
}
