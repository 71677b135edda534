//! Raw HTTP/1.1 over a TCP socket, for what reqwest hides: header-name spelling on the
//! wire and the reason phrase.
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::harness::{Exchange, Failure};

const RAW_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub reason: String,
    /// Header names exactly as the server wrote them.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    request: String,
    head: String,
}

impl RawResponse {
    pub fn exchange(&self) -> Exchange {
        Exchange {
            request: self.request.clone(),
            response: format!("{}\n\n{}", self.head, String::from_utf8_lossy(&self.body)),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` as is to `authority` (`host:port`) and reads one response, framed by
/// Content-Length or chunked encoding (TorchServe keeps the connection open even when
/// asked to close it, so end-of-stream cannot be the frame).
pub async fn send(authority: &str, request: &[u8]) -> Result<RawResponse, Failure> {
    let shown = String::from_utf8_lossy(request).into_owned();
    let fail = |m: String| {
        Failure::with_exchange(
            m.clone(),
            Exchange {
                request: shown.clone(),
                response: m,
            },
        )
    };
    let work = async {
        let mut stream = TcpStream::connect(authority)
            .await
            .map_err(|e| fail(format!("connect {authority}: {e}")))?;
        stream
            .write_all(request)
            .await
            .map_err(|e| fail(format!("write: {e}")))?;
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(pos) = find(&buf, b"\r\n\r\n") {
                break pos;
            }
            read_more(&mut stream, &mut buf).await.map_err(fail)?;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let mut parts = status_line.splitn(3, ' ');
        let _version = parts.next();
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| fail(format!("bad status line {status_line:?}")))?;
        let reason = parts.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
            .collect();
        let mut rest = buf[head_end + 4..].to_vec();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let body = if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            read_chunked(&mut stream, &mut rest).await.map_err(fail)?
        } else {
            let len: usize = get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while rest.len() < len {
                read_more(&mut stream, &mut rest).await.map_err(fail)?;
            }
            rest.truncate(len);
            rest
        };
        Ok(RawResponse {
            status,
            reason,
            headers,
            body,
            request: shown.clone(),
            head,
        })
    };
    tokio::time::timeout(RAW_TIMEOUT, work)
        .await
        .map_err(|_| fail("no complete response within 60 s".into()))?
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 16384];
    let n = stream
        .read(&mut chunk)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if n == 0 {
        return Err("connection closed before the response was complete".into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(p) = find(buf, b"\r\n") {
                break p;
            }
            read_more(stream, buf).await?;
        };
        let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        while buf.len() < line_end + 2 + size + 2 {
            read_more(stream, buf).await?;
        }
        body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
        buf.drain(..line_end + 2 + size + 2);
        if size == 0 {
            return Ok(body);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
