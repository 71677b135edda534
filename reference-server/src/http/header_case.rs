//! Header names as the client spelled them.
//!
//! hyper stores header names in lower case, but TorchServe hands handlers a case-sensitive dict
//! keyed by the names as sent (`context.get_request_header(0, "X-Foo")`). Each accepted stream is
//! wrapped so the bytes hyper reads are also scanned for header blocks; the names of each block
//! are queued per connection, and [`take_names`] pairs them with the request hyper parsed from
//! that same block (HTTP/1.1 requests on one connection are handled in order). The scanner
//! follows Content-Length and chunked framing to skip bodies; on anything it does not
//! understand it stops, and names fall back to lower case.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

const MAX_LINE: usize = 64 * 1024;

/// Header-name lists of the requests read on one connection, oldest first.
#[derive(Clone, Default)]
pub struct ConnNames(Arc<Mutex<VecDeque<Vec<String>>>>);

impl ConnNames {
    /// The header names of the next request on this connection.
    pub fn take_names(&self) -> Option<Vec<String>> {
        self.0.lock().ok()?.pop_front()
    }
}

impl Connected<IncomingStream<'_, CaseListener>> for ConnNames {
    fn connect_info(stream: IncomingStream<'_, CaseListener>) -> Self {
        stream.io().names.clone()
    }
}

pub struct CaseListener(pub TcpListener);

impl Listener for CaseListener {
    type Io = CaseStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (CaseStream, std::net::SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    // Small JSON answers must not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    let names = ConnNames::default();
                    return (
                        CaseStream {
                            inner: stream,
                            scanner: Scanner::new(names.clone()),
                            names,
                        },
                        addr,
                    );
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.local_addr()
    }
}

pub struct CaseStream {
    inner: TcpStream,
    scanner: Scanner,
    names: ConnNames,
}

impl AsyncRead for CaseStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let new = buf.filled()[before..].to_vec();
            self.scanner.feed(&new);
        }
        res
    }
}

impl AsyncWrite for CaseStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[derive(Debug, PartialEq)]
enum State {
    RequestLine,
    Headers,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    Trailers,
    Stopped,
}

struct Scanner {
    state: State,
    line: Vec<u8>,
    names: Vec<String>,
    content_length: Option<u64>,
    chunked: bool,
    out: ConnNames,
}

impl Scanner {
    fn new(out: ConnNames) -> Scanner {
        Scanner {
            state: State::RequestLine,
            line: Vec::new(),
            names: Vec::new(),
            content_length: None,
            chunked: false,
            out,
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::Stopped => return,
                State::Body(n) | State::ChunkData(n) => {
                    let take = (n as usize).min(data.len());
                    data = &data[take..];
                    let left = n - take as u64;
                    self.state = match (&self.state, left) {
                        (State::Body(_), 0) => State::RequestLine,
                        (State::Body(_), l) => State::Body(l),
                        (_, 0) => State::ChunkSize,
                        (_, l) => State::ChunkData(l),
                    };
                }
                _ => {
                    let Some(pos) = data.iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(data);
                        if self.line.len() > MAX_LINE {
                            self.state = State::Stopped;
                        }
                        return;
                    };
                    self.line.extend_from_slice(&data[..pos]);
                    data = &data[pos + 1..];
                    if self.line.last() == Some(&b'\r') {
                        self.line.pop();
                    }
                    let line = std::mem::take(&mut self.line);
                    self.on_line(&line);
                }
            }
        }
    }

    fn on_line(&mut self, line: &[u8]) {
        match self.state {
            // Blank lines between requests are tolerated (RFC 9112 §2.2).
            State::RequestLine if line.is_empty() => {}
            State::RequestLine => {
                self.names.clear();
                self.content_length = None;
                self.chunked = false;
                self.state = State::Headers;
            }
            State::Headers if line.is_empty() => {
                if let Ok(mut q) = self.out.0.lock() {
                    q.push_back(std::mem::take(&mut self.names));
                }
                self.state = if self.chunked {
                    State::ChunkSize
                } else {
                    match self.content_length {
                        Some(n) if n > 0 => State::Body(n),
                        _ => State::RequestLine,
                    }
                };
            }
            State::Headers => {
                let Some(colon) = line.iter().position(|&b| b == b':') else {
                    self.state = State::Stopped;
                    return;
                };
                let name = String::from_utf8_lossy(&line[..colon]).trim().to_string();
                let value = String::from_utf8_lossy(&line[colon + 1..])
                    .trim()
                    .to_ascii_lowercase();
                if name.eq_ignore_ascii_case("content-length") {
                    self.content_length = value.parse().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding")
                    && value.contains("chunked")
                {
                    self.chunked = true;
                }
                self.names.push(name);
            }
            State::ChunkSize => {
                let text = String::from_utf8_lossy(line);
                let size = text.split(';').next().unwrap_or("").trim();
                match u64::from_str_radix(size, 16) {
                    Ok(0) => self.state = State::Trailers,
                    Ok(n) => self.state = State::ChunkData(n + 2), // data, then CRLF
                    Err(_) => self.state = State::Stopped,
                }
            }
            State::Trailers if line.is_empty() => self.state = State::RequestLine,
            State::Trailers => {}
            State::Body(_) | State::ChunkData(_) | State::Stopped => {}
        }
    }
}

/// The header names of one request as sent (a request extension).
#[derive(Clone, Debug)]
pub struct OriginalNames(pub Vec<String>);

/// Header pairs with the client's spelling where known, in hyper's order.
pub fn spelled(headers: &axum::http::HeaderMap, names: Option<&[String]>) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let name = names
                .and_then(|ns| ns.iter().find(|n| n.eq_ignore_ascii_case(k.as_str())))
                .cloned()
                .unwrap_or_else(|| k.as_str().to_string());
            (name, String::from_utf8_lossy(v.as_bytes()).into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Vec<Vec<String>> {
        let names = ConnNames::default();
        let mut s = Scanner::new(names.clone());
        for c in chunks {
            s.feed(c);
        }
        let mut out = Vec::new();
        while let Some(n) = names.take_names() {
            out.push(n);
        }
        out
    }

    #[test]
    fn follows_framing_across_requests_and_splits() {
        let req1 = b"POST /p HTTP/1.1\r\nHost: x\r\nX-Foo: a\r\nContent-Length: 13\r\n\r\nX-Evil: 1\r\n\r\n";
        let req2 = b"GET /q HTTP/1.1\r\nTransfer-Encoding: chunked\r\nMy-Header: b\r\n\r\n5\r\nX-No:\r\n0\r\n\r\n";
        let req3 = b"GET /r HTTP/1.1\r\nLast-One: c\r\n\r\n";
        let all: Vec<u8> = [&req1[..], &req2[..], &req3[..]].concat();
        let want = vec![
            vec!["Host".to_string(), "X-Foo".into(), "Content-Length".into()],
            vec!["Transfer-Encoding".into(), "My-Header".into()],
            vec!["Last-One".into()],
        ];
        assert_eq!(scan(&[&all]), want);
        // byte by byte gives the same
        let bytes: Vec<&[u8]> = all.chunks(1).collect();
        assert_eq!(scan(&bytes), want);
    }

    #[test]
    fn garbage_stops_the_scanner() {
        assert_eq!(
            scan(&[b"GET / HTTP/1.1\r\nno colon here\r\nA: b\r\n\r\n"]),
            Vec::<Vec<String>>::new()
        );
    }
}
