//! OpenAPI 3.0 descriptions of our routes: `OPTIONS /` and `GET /api-description` per API, and
//! `OPTIONS` on a model's path.

use super::Api;
use crate::model::ModelVersion;
use crate::server::SERVER_VERSION;
use serde_json::{Value, json};

fn op(summary: &str, params: &[(&str, &str, &str, bool)], responses: &[(&str, &str)]) -> Value {
    let parameters: Vec<Value> = params
        .iter()
        .map(|(name, inn, desc, required)| {
            json!({ "name": name, "in": inn, "description": desc, "required": required, "schema": { "type": "string" } })
        })
        .collect();
    let mut resp = serde_json::Map::new();
    for (code, desc) in responses {
        resp.insert((*code).to_string(), json!({ "description": desc }));
    }
    json!({ "summary": summary, "parameters": parameters, "responses": resp })
}

fn document(title: &str, paths: Value) -> Value {
    json!({
        "openapi": "3.0.1",
        "info": { "title": title, "description": "TorchServe 0.12 compatible API served by torchserve-rs", "version": SERVER_VERSION },
        "paths": paths,
    })
}

const ERR: [(&str, &str); 3] = [
    ("400", "Bad request"),
    ("404", "Not found"),
    ("500", "Internal server error"),
];

pub fn describe_api(api: Api) -> axum::response::Response {
    let doc = match api {
        Api::Inference => inference_doc(),
        Api::Management => management_doc(),
        Api::Metrics => document(
            "TorchServe Metrics API",
            json!({ "/metrics": { "get": op("Prometheus metrics", &[("name[]", "query", "metric names to return", false)], &[("200", "Prometheus text 0.0.4")]) } }),
        ),
    };
    super::response::json_response(200, &doc)
}

fn predict_ops(summary: &str) -> Value {
    let p = [
        ("model_name", "path", "model name", true),
        ("model_version", "path", "version (optional)", false),
    ];
    let r = [
        ("200", "handler output"),
        ("404", "model not found"),
        ("503", "no worker or queue full"),
        ("507", "out of resources"),
    ];
    json!({ "post": op(summary, &p, &r), "put": op(summary, &p, &r), "get": op(summary, &p, &r) })
}

fn inference_doc() -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/".into(),
        json!({ "options": op("This API description", &[], &[("200", "OpenAPI document")]) }),
    );
    paths.insert(
        "/api-description".into(),
        json!({ "get": op("This API description", &[], &[("200", "OpenAPI document")]) }),
    );
    paths.insert("/ping".into(), json!({ "get": op("Health: Healthy when every model has its minimum healthy workers", &[], &[("200", "Healthy"), ("500", "Unhealthy")]) }));
    paths.insert(
        "/predictions/{model_name}".into(),
        predict_ops("Run the model's handler on the request"),
    );
    paths.insert(
        "/predictions/{model_name}/{model_version}".into(),
        predict_ops("Run a given version's handler"),
    );
    paths.insert(
        "/explanations/{model_name}".into(),
        predict_ops("Ask the handler for an explanation (header explain: True)"),
    );
    paths.insert(
        "/explanations/{model_name}/{model_version}".into(),
        predict_ops("Explanation from a given version"),
    );
    paths.insert(
        "/v1/models/{model_name}:predict".into(),
        predict_ops("KServe v1 predict"),
    );
    paths.insert(
        "/v1/models/{model_name}:explain".into(),
        predict_ops("KServe v1 explain"),
    );
    paths.insert(
        "/v2/models/{model_name}/infer".into(),
        predict_ops("KServe v2 infer"),
    );
    paths.insert(
        "/v2/models/{model_name}/explain".into(),
        predict_ops("KServe v2 explain"),
    );
    paths.insert(
        "/{model_name}/predict".into(),
        predict_ops("Legacy predict (query parameters reach the handler)"),
    );
    paths.insert(
        "/invocations".into(),
        predict_ops("SageMaker invocations (?model_name=)"),
    );
    paths.insert(
        "/models/{model_name}/invoke".into(),
        predict_ops("SageMaker invoke"),
    );
    document("TorchServe Inference API", Value::Object(paths))
}

fn management_doc() -> Value {
    let name = ("model_name", "path", "model name", true);
    let version = ("model_version", "path", "model version", true);
    let register = [
        (
            "url",
            "query",
            "archive in the model store, folder, or allowed URL",
            true,
        ),
        (
            "model_name",
            "query",
            "overrides the manifest's name",
            false,
        ),
        (
            "handler",
            "query",
            "overrides the manifest's handler",
            false,
        ),
        ("runtime", "query", "python, python3 or LSP", false),
        (
            "batch_size",
            "query",
            "maximum requests per handler call",
            false,
        ),
        (
            "max_batch_delay",
            "query",
            "ms to wait for a batch to fill",
            false,
        ),
        (
            "initial_workers",
            "query",
            "workers to start (default default_workers_per_model)",
            false,
        ),
        (
            "synchronous",
            "query",
            "wait for the workers (default true)",
            false,
        ),
        (
            "response_timeout",
            "query",
            "s per worker round trip",
            false,
        ),
        ("startup_timeout", "query", "s to load the model", false),
    ];
    let scale = [
        name,
        ("min_worker", "query", "workers to keep (default 1)", false),
        (
            "max_worker",
            "query",
            "upper bound (default min_worker)",
            false,
        ),
        (
            "synchronous",
            "query",
            "wait for the workers (default false)",
            false,
        ),
    ];
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/".into(),
        json!({ "options": op("This API description", &[], &[("200", "OpenAPI document")]) }),
    );
    paths.insert(
        "/models".into(),
        json!({
            "get": op("List models", &[("limit", "query", "page size (max 100)", false), ("next_page_token", "query", "offset", false)], &[("200", "models")]),
            "post": op("Register a model (needs --enable-model-api)", &register, &[("200", "registered"), ("202", "accepted"), ("409", "already registered"), ("405", "model API disabled"), ERR[0], ERR[1], ERR[2]]),
        }),
    );
    paths.insert(
        "/models/{model_name}".into(),
        json!({
            "get": op("Describe the default version", &[name, ("customized", "query", "ask the handler too", false)], &[("200", "description"), ERR[1]]),
            "put": op("Scale workers", &scale, &[("200", "scaled"), ("202", "accepted"), ERR[0], ERR[1]]),
            "delete": op("Unregister the default version (needs --enable-model-api)", &[name], &[("200", "unregistered"), ("403", "default version with others left"), ERR[1]]),
        }),
    );
    paths.insert(
        "/models/{model_name}/{model_version}".into(),
        json!({
            "get": op("Describe a version (`all` for every version)", &[name, version], &[("200", "description"), ERR[1]]),
            "put": op("Scale a version's workers", &scale, &[("200", "scaled"), ("202", "accepted"), ERR[0], ERR[1]]),
            "delete": op("Unregister a version (needs --enable-model-api)", &[name, version], &[("200", "unregistered"), ERR[1]]),
        }),
    );
    paths.insert(
        "/models/{model_name}/{model_version}/set-default".into(),
        json!({ "put": op("Make a version the default", &[name, version], &[("200", "updated"), ERR[1]]) }),
    );
    paths.insert(
        "/v1/models/{model_name}".into(),
        json!({ "get": op("KServe v1 readiness", &[name], &[("200", "readiness"), ERR[1]]) }),
    );
    paths.insert(
        "/token".into(),
        json!({ "get": op("Rotate a key (token authorization on; API key)", &[("type", "query", "management or inference", true)], &[("200", "rotated"), ("400", "bad key or type")]) }),
    );
    document("TorchServe Management API", Value::Object(paths))
}

pub fn model_inference_api(mv: &ModelVersion) -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        format!("/predictions/{}", mv.name()),
        predict_ops(&format!("Predictions from model {}", mv.name())),
    );
    paths.insert(
        format!("/predictions/{}/{}", mv.name(), mv.version()),
        predict_ops(&format!(
            "Predictions from model {} version {}",
            mv.name(),
            mv.version()
        )),
    );
    document(
        &format!("Inference API of model {}", mv.name()),
        Value::Object(paths),
    )
}

pub fn model_management_api(mv: &ModelVersion) -> Value {
    let mut doc = management_doc();
    doc["info"]["title"] = json!(format!("Management API of model {}", mv.name()));
    doc
}
