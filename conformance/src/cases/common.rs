//! Helpers shared by the case files: registering, describing, waiting for workers.
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::Resp;
use crate::harness::{Failure, Session};

/// TorchServe's fixed texts.
pub const NOT_FOUND_MSG: &str = "Requested resource is not found, please refer to API document.";
pub const NOT_ALLOWED_MSG: &str = "Requested method is not allowed, please refer to API document.";

pub fn no_worker_msg(model: &str) -> String {
    format!(
        "Model \"{model}\" has no worker to serve inference request. Please use scale workers API to add workers. \
         If this is a sequence inference, please check if it is closed, or expired; or exceeds maxSequenceJobQueueSize"
    )
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn enc(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?k=v&...` with encoded values (empty when there are none).
pub fn query(params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    format!("?{}", pairs.join("&"))
}

/// `POST /models?url=...&params`; a 2xx answer marks the model for the group's teardown.
pub async fn register(s: &Session, url: &str, params: &[(&str, &str)]) -> Result<Resp, Failure> {
    let mut all = vec![("url", url)];
    all.extend_from_slice(params);
    let resp = s
        .management
        .post(&format!("/models{}", query(&all)))
        .send()
        .await?;
    track_from(s, &resp, params);
    Ok(resp)
}

/// Tracks the registered model, named by `model_name` or by the status text.
pub fn track_from(s: &Session, resp: &Resp, params: &[(&str, &str)]) {
    if !(200..300).contains(&resp.status) && resp.status != 500 {
        return;
    }
    // A failed synchronous register may leave the model behind (TorchServe keeps it when
    // the worker answered the load with an error), so 500 is tracked too.
    let name = params
        .iter()
        .find(|(k, _)| *k == "model_name")
        .map(|(_, v)| v.to_string())
        .or_else(|| {
            let text = resp.text();
            let start = text.find("Model \\\"")? + 8;
            let end = text[start..].find("\\\"")? + start;
            Some(text[start..end].to_owned())
        });
    if let Some(name) = name {
        s.track_model(&name);
    }
}

/// Setup step: register and require a 2xx answer.
pub async fn register_ok(s: &Session, url: &str, params: &[(&str, &str)]) -> anyhow::Result<Resp> {
    let resp = register(s, url, params).await?;
    if !(200..300).contains(&resp.status) {
        return Err(resp
            .fail(format!(
                "setup: registering {url} failed with HTTP {}",
                resp.status
            ))
            .into());
    }
    Ok(resp)
}

/// Setup step: build the fixture as `model` (file `<model>.mar`) and register it with
/// `workers` workers, synchronously.
pub async fn setup_model(
    s: &Session,
    fixture: &str,
    model: &str,
    workers: u32,
    extra: &[(&str, &str)],
) -> anyhow::Result<String> {
    let url = s.fixture_url(fixture, &Default::default(), &format!("{model}.mar"))?;
    let w = workers.to_string();
    let mut params = vec![
        ("model_name", model),
        ("initial_workers", w.as_str()),
        ("synchronous", "true"),
    ];
    params.extend_from_slice(extra);
    register_ok(s, &url, &params).await?;
    Ok(url)
}

pub async fn unregister(s: &Session, path: &str) -> Result<Resp, Failure> {
    s.management.delete(&format!("/models/{path}")).send().await
}

/// `GET /models/<path>` answered 200 with a JSON array.
pub async fn describe(s: &Session, path: &str) -> Result<Vec<Value>, Failure> {
    let resp = s.management.get(&format!("/models/{path}")).send().await?;
    resp.expect_status(200)?;
    match resp.json()? {
        Value::Array(items) => Ok(items),
        _ => Err(resp.fail("describe should answer a JSON array")),
    }
}

/// A worker as describe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub id: String,
    pub pid: i64,
    pub status: String,
    pub gpu: bool,
}

pub fn workers_of(model: &Value) -> Vec<Worker> {
    model["workers"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .map(|w| Worker {
                    id: w["id"].as_str().unwrap_or_default().to_owned(),
                    pid: w["pid"].as_i64().unwrap_or(-1),
                    status: w["status"].as_str().unwrap_or_default().to_owned(),
                    gpu: w["gpu"].as_bool().unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The workers of the model's default (or named) version.
pub async fn workers(s: &Session, path: &str) -> Result<Vec<Worker>, Failure> {
    let d = describe(s, path).await?;
    Ok(d.first().map(workers_of).unwrap_or_default())
}

/// Polls describe until `done(workers)` holds, or fails after `limit`.
pub async fn wait_workers(
    s: &Session,
    path: &str,
    limit: Duration,
    what: &str,
    done: impl Fn(&[Worker]) -> bool,
) -> Result<Vec<Worker>, Failure> {
    let deadline = Instant::now() + limit;
    loop {
        let ws = workers(s, path).await?;
        if done(&ws) {
            return Ok(ws);
        }
        if Instant::now() > deadline {
            return Err(Failure::new(format!(
                "after {} s, {path} still has not {what}; workers now: {ws:?}",
                limit.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until exactly `n` workers exist and all are READY.
pub async fn wait_ready(
    s: &Session,
    path: &str,
    n: usize,
    limit: Duration,
) -> Result<Vec<Worker>, Failure> {
    wait_workers(s, path, limit, &format!("{n} READY workers"), |ws| {
        ws.len() == n && ws.iter().all(|w| w.status == "READY")
    })
    .await
}

/// `POST /predictions/<path>` with a JSON body.
pub async fn infer_json(s: &Session, path: &str, body: &Value) -> Result<Resp, Failure> {
    s.inference
        .post(&format!("/predictions/{path}"))
        .json(body)
        .send()
        .await
}

/// A 200 answer's JSON body.
pub fn ok_json(resp: &Resp) -> Result<Value, Failure> {
    resp.expect_status(200)?;
    resp.json()
}

/// Decodes the echo fixture's `{"__bytes_b64__": ...}` wrapper.
pub fn echo_bytes(v: &Value) -> Option<Vec<u8>> {
    b64_decode(v.get("__bytes_b64__")?.as_str()?)
}

fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let bytes: Vec<u8> = text.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = chunk.len().saturating_sub(1);
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Some(out)
}

pub fn is_uuid(text: &str) -> bool {
    let re = regex::Regex::new(
        "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    )
    .expect("valid regex");
    re.is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_python_output() {
        assert_eq!(b64_decode("").unwrap(), b"");
        assert_eq!(b64_decode("dm0K").unwrap(), b"vm\n");
        assert_eq!(b64_decode("MQ==").unwrap(), b"1");
        assert_eq!(b64_decode("AAH/cmF3").unwrap(), b"\x00\x01\xffraw");
        assert!(b64_decode("!!").is_none());
    }

    #[test]
    fn query_encoding() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[("url", "http://h:1/a b.mar"), ("x", "1")]),
            "?url=http%3A%2F%2Fh%3A1%2Fa%20b.mar&x=1"
        );
    }

    #[test]
    fn uuid_shape() {
        assert!(is_uuid("2d6c36c3-f3a6-4b0d-a818-24118a7a5803"));
        assert!(!is_uuid("2d6c36c3f3a64b0da81824118a7a5803"));
    }
}
