//! The test client. Every answer goes through [`Req::send`], which checks the conventions
//! TorchServe applies to all responses (contract: serialisation conventions): an `x-request-id`
//! UUID, the no-cache headers, and `Connection: close` exactly when the status is >= 400.

use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Inference,
    Management,
    Metrics,
}

pub static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$").expect("regex")
});

pub struct Client {
    inner: reqwest::blocking::Client,
}

impl Client {
    pub fn new() -> Client {
        let inner = reqwest::blocking::Client::builder()
            .no_proxy()
            // bounds a wait; the slowest thing a test waits for is a worker start or a timeout
            .timeout(Duration::from_secs(180))
            .build()
            .expect("http client");
        Client { inner }
    }

    pub fn request(&self, method: &str, url: &str) -> Req<'_> {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        Req {
            rb: self.inner.request(m, url),
            what: format!("{method} {url}"),
            _client: self,
        }
    }
}

pub struct Req<'a> {
    rb: reqwest::blocking::RequestBuilder,
    what: String,
    _client: &'a Client,
}

impl Req<'_> {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.rb = self.rb.header(k, v);
        self
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(mut self, v: &Value) -> Self {
        self.rb = self
            .rb
            .header("Content-Type", "application/json")
            .body(v.to_string());
        self
    }

    /// A body with the given content type (none when empty).
    pub fn body(mut self, content_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        if !content_type.is_empty() {
            self.rb = self.rb.header("Content-Type", content_type);
        }
        self.rb = self.rb.body(bytes.into());
        self
    }

    pub fn multipart(mut self, form: reqwest::blocking::multipart::Form) -> Self {
        self.rb = self.rb.multipart(form);
        self
    }

    /// Sends the request and checks the headers every TorchServe answer carries.
    pub fn send(self) -> Reply {
        let resp = self
            .rb
            .send()
            .unwrap_or_else(|e| panic!("{}: {e}", self.what));
        let status = resp.status().as_u16();
        let reason = resp.status().canonical_reason().map(String::from);
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .unwrap_or_else(|e| panic!("{}: reading the body: {e}", self.what))
            .to_vec();
        let reply = Reply {
            status,
            headers,
            body,
            what: self.what,
            reason,
        };
        reply.check_conventions();
        reply
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    pub what: String,
    pub reason: Option<String>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn request_id(&self) -> &str {
        self.header("x-request-id").expect("x-request-id")
    }

    /// A body the server wrote itself: JSON, pretty-printed with a 2-space indent and one
    /// trailing newline, `Content-Type: application/json`.
    pub fn json(&self) -> Value {
        let text = self.text();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text:?}", self.what));
        let pretty = serde_json::to_string_pretty(&v).expect("serialise") + "\n";
        assert_eq!(
            text, pretty,
            "{}: JSON must be 2-space pretty-printed with a trailing newline",
            self.what
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}: content type",
            self.what
        );
        v
    }

    /// A handler's JSON output (formatted by Python, not by the server).
    pub fn handler_json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: status {} body not JSON ({e}): {}",
                self.what,
                self.status,
                self.text()
            )
        })
    }

    /// The three fields of TorchServe's error body.
    pub fn error(&self) -> (u16, String, String) {
        let v = self.json();
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            keys.len() >= 3 && keys[..3] == ["code", "type", "message"],
            "{} ({}): not an error body: {v}",
            self.what,
            self.status
        );
        assert!(
            keys.len() == 3 || (keys.len() == 4 && keys[3] == "cause"),
            "{}: error fields {keys:?}",
            self.what
        );
        assert_eq!(
            v["code"].as_u64(),
            Some(u64::from(self.status)),
            "{}: code equals the HTTP status",
            self.what
        );
        (
            self.status,
            v["type"].as_str().expect("type").into(),
            v["message"].as_str().expect("message").into(),
        )
    }

    /// `{"status": "..."}` with its HTTP code.
    pub fn status_text(&self) -> (u16, String) {
        let v = self.json();
        let obj = v.as_object().expect("object");
        assert_eq!(
            obj.len(),
            1,
            "{}: a status body has one field: {v}",
            self.what
        );
        (self.status, v["status"].as_str().expect("status").into())
    }

    fn check_conventions(&self) {
        let w = &self.what;
        let id = self
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{w}: no x-request-id"));
        assert!(UUID.is_match(id), "{w}: x-request-id {id:?} is not a UUID");
        assert_eq!(self.header("pragma"), Some("no-cache"), "{w}: Pragma");
        assert_eq!(
            self.header("cache-control"),
            Some("no-cache; no-store, must-revalidate, private"),
            "{w}: Cache-Control"
        );
        assert_eq!(
            self.header("expires"),
            Some("Thu, 01 Jan 1970 00:00:00 UTC"),
            "{w}: Expires"
        );
        let connection = if self.status >= 400 {
            "close"
        } else {
            "keep-alive"
        };
        assert_eq!(
            self.header("connection"),
            Some(connection),
            "{w}: Connection after {}",
            self.status
        );
    }
}

/// Status, header lines (name as sent, value) and body of one raw HTTP response.
pub type RawResponse = (u16, Vec<(String, String)>, Vec<u8>);

/// One raw HTTP/1.1 exchange (`Connection: close`), for what a client library would normalise
/// (header spelling). Returns the status, the header lines and the body.
pub fn raw_http(addr: &str, request: &str) -> RawResponse {
    let raw = raw_exchange(addr, request);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

/// Writes `request` (one or several pipelined requests, the last with `Connection: close`) and
/// reads everything until the server closes.
pub fn raw_exchange(addr: &str, request: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    raw
}

/// Parses consecutive HTTP/1.1 responses framed by Content-Length (what pipelined requests on
/// one connection get back).
pub fn split_responses(mut raw: &[u8]) -> Vec<RawResponse> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of headers");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .expect("status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .expect("content-length");
        let body_start = split + 4;
        out.push((status, headers, raw[body_start..body_start + len].to_vec()));
        raw = &raw[body_start + len..];
    }
    out
}
