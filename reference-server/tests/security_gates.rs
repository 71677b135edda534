//! The two gates that are on by default in TorchServe 0.12 (contract §0): token authorization
//! and the disabled model API; and the flags and keys that turn them off.

mod common;

use common::{Api, Reply, ServerOptions, TestServer};
use serde_json::Value;

const TOKEN_FAILED: &str =
    "Token Authorization failed. Token either incorrect, expired, or not provided correctly";
const NOT_ALLOWED: &str = "Requested method is not allowed, please refer to API document.";

fn check_error(r: &Reply, status: u16, kind: &str, message: &str) {
    let (code, t, m) = r.error();
    assert_eq!(
        (code, t.as_str(), m.as_str()),
        (status, kind, message),
        "{}",
        r.what
    );
}

fn keys(s: &TestServer) -> Value {
    let path = s.dir().join("key_file.json");
    let text =
        std::fs::read_to_string(&path).expect("key_file.json in the server's working folder");
    serde_json::from_str(&text).expect("key file JSON")
}

fn key(keys: &Value, kind: &str) -> String {
    keys[kind]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{kind} key in {keys}"))
        .to_string()
}

#[test]
fn default_server_needs_tokens_and_refuses_the_model_api() {
    let mut s = ServerOptions::secure_defaults().fixture("echo").start();
    let k = keys(&s);
    let (inference, management, api) =
        (key(&k, "inference"), key(&k, "management"), key(&k, "API"));
    assert!(
        k["inference"]["expiration time"].is_string()
            && k["management"]["expiration time"].is_string(),
        "{k}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.dir().join("key_file.json"))
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key file is private");

    // No header, a wrong key, the other API's key, a malformed header: 400 InvalidKeyException.
    let tries: [(Option<String>, Api, &str); 6] = [
        (None, Api::Inference, "/ping"),
        (Some("nope".into()), Api::Inference, "/ping"),
        (
            Some(management.clone()),
            Api::Inference,
            "/predictions/echo",
        ),
        (None, Api::Management, "/models"),
        (Some(inference.clone()), Api::Management, "/models"),
        (Some(api.clone()), Api::Management, "/models"),
    ];
    for (bearer, which, path) in tries {
        s.set_bearer(bearer.as_deref());
        check_error(
            &s.get(which, path),
            400,
            "InvalidKeyException",
            TOKEN_FAILED,
        );
    }
    s.set_bearer(None);
    let r = s
        .req(Api::Inference, "GET", "/ping")
        .header("Authorization", &inference)
        .send();
    check_error(&r, 400, "InvalidKeyException", TOKEN_FAILED);

    // The API description needs no token; the metrics API is not token-protected.
    assert_eq!(s.req(Api::Inference, "OPTIONS", "/").send().status, 200);
    assert_eq!(s.get(Api::Metrics, "/metrics").status, 200);

    s.set_bearer(Some(&inference));
    assert_eq!(
        s.get(Api::Inference, "/ping").status_text(),
        (200, "Healthy".to_string())
    );
    s.set_bearer(Some(&management));
    assert_eq!(
        s.mgmt("GET", "/models").json(),
        serde_json::json!({"models": []})
    );

    // Model API off: register and unregister fall through to 405; the rest is not gated.
    check_error(
        &s.register("url=echo.mar"),
        405,
        "MethodNotAllowedException",
        NOT_ALLOWED,
    );
    check_error(
        &s.mgmt("DELETE", "/models/echo"),
        405,
        "MethodNotAllowedException",
        NOT_ALLOWED,
    );
    check_error(
        &s.mgmt("PUT", "/models/echo?min_worker=1"),
        404,
        "ModelNotFoundException",
        "Model not found: echo",
    );
    check_error(
        &s.mgmt("GET", "/models/echo"),
        404,
        "ModelNotFoundException",
        "Model not found: echo",
    );

    // /token?type=inference with the API key replaces the inference key.
    s.set_bearer(Some(&management));
    check_error(
        &s.mgmt("GET", "/token?type=inference"),
        400,
        "InvalidKeyException",
        "Token Authentication failed. Token either incorrect, expired, or not provided correctly",
    );
    s.set_bearer(Some(&api));
    assert_eq!(s.mgmt("GET", "/token?type=inference").status, 200);
    let fresh = key(&keys(&s), "inference");
    assert_ne!(fresh, inference, "a new inference key");
    assert_eq!(
        key(&keys(&s), "management"),
        management,
        "the management key is unchanged"
    );
    s.set_bearer(Some(&inference));
    check_error(
        &s.get(Api::Inference, "/ping"),
        400,
        "InvalidKeyException",
        TOKEN_FAILED,
    );
    s.set_bearer(Some(&fresh));
    assert_eq!(s.get(Api::Inference, "/ping").status, 200);
}

#[test]
fn flags_open_both_gates() {
    let s = ServerOptions::secure_defaults()
        .arg("--disable-token-auth")
        .arg("--enable-model-api")
        .fixture("echo")
        .start();
    assert!(
        !s.dir().join("key_file.json").exists(),
        "no key file without token authorization"
    );
    assert_eq!(s.get(Api::Inference, "/ping").status, 200);
    assert_eq!(s.register("url=echo.mar").status, 200);
    assert_eq!(s.mgmt("DELETE", "/models/echo").status, 200);
}

#[test]
fn config_keys_open_both_gates() {
    let s = ServerOptions::secure_defaults()
        .prop("disable_token_authorization", "TRUE")
        .prop("enable_model_api", "true")
        .fixture("echo")
        .start();
    assert_eq!(s.get(Api::Inference, "/ping").status, 200);
    assert_eq!(s.register("url=echo.mar").status, 200);
    // Only a case-insensitive "true" counts (Boolean.parseBoolean).
    let strict = ServerOptions::secure_defaults()
        .prop("enable_model_api", "yes")
        .start();
    let k = keys(&strict);
    let mut strict = strict;
    strict.set_bearer(Some(&key(&k, "management")));
    check_error(
        &strict.register("url=echo.mar"),
        405,
        "MethodNotAllowedException",
        NOT_ALLOWED,
    );
}

/// Inference and management keys expire after token_expiration_min; the API key does not, and
/// a key made by /token starts a new lifetime.
#[test]
fn keys_expire_and_refresh() {
    // 0.1 min = 6 s: long enough to use a fresh key, short enough to wait out.
    let mut s = ServerOptions::secure_defaults()
        .prop("token_expiration_min", "0.1")
        .start();
    let k = keys(&s);
    s.set_bearer(Some(&key(&k, "inference")));
    common::wait_for(
        std::time::Duration::from_secs(60),
        "the inference key to expire",
        || (s.get(Api::Inference, "/ping").status == 400).then_some(()),
    );
    check_error(
        &s.get(Api::Inference, "/ping"),
        400,
        "InvalidKeyException",
        TOKEN_FAILED,
    );
    s.set_bearer(Some(&key(&k, "API")));
    assert_eq!(
        s.mgmt("GET", "/token?type=inference").status,
        200,
        "the API key never expires"
    );
    s.set_bearer(Some(&key(&keys(&s), "inference")));
    assert_eq!(
        s.get(Api::Inference, "/ping").status,
        200,
        "a refreshed key works"
    );
}
