//! The frontend ↔ worker protocol: length-prefixed binary frames over a Unix socket.
//!
//! We do not speak TorchServe's own frame format (contract §8): it has no length prefix, so a
//! reader must parse field by field to find where a message ends, and it has no handshake. Ours is
//! simpler to read in one `read_exact`, carries a version handshake, and returns load failures with
//! their Python traceback instead of dying silently.
//!
//! # Framing
//! Every frame is `u32` (little-endian) body length, then the body. The body starts with a one-byte
//! tag naming the frame type, followed by the frame's fields in declaration order:
//!
//! | type      | encoding                                            |
//! |-----------|-----------------------------------------------------|
//! | `u8`/bool | one byte (bool: 0 or 1, anything else is an error)  |
//! | `u16`     | 2 bytes LE                                          |
//! | `u32`     | 4 bytes LE                                          |
//! | `u64`     | 8 bytes LE                                          |
//! | `f64`     | 8 bytes LE (IEEE-754 bits)                          |
//! | bytes     | `u32` length, then the raw bytes                    |
//! | string    | bytes, which must be UTF-8                          |
//! | `Option`  | `u8` 0 (none) or 1 followed by the value            |
//! | list      | `u32` count, then the items                         |
//! | pair      | string, string                                      |
//!
//! # Conversation
//! 1. The server listens on a private socket; the worker connects and sends [`Hello`]. The server
//!    checks [`Hello::version`] against [`PROTOCOL_VERSION`] and drops the worker on a mismatch.
//! 2. The server sends [`LoadRequest`]; the worker answers [`LoadReply`] (code 200 on success).
//! 3. Then any number of [`PredictRequest`]s, each answered by zero or more
//!    [`Frame::Intermediate`] replies (streaming chunks) and exactly one final
//!    [`Frame::PredictReply`] carrying the same `batch_id`.
//! 4. The worker exits with code 0 when the server closes the socket.

use thiserror::Error;

/// Bumped whenever the encoding of any frame changes.
pub const PROTOCOL_VERSION: u16 = 1;

/// Default upper bound on a frame body, in bytes. Both sides refuse larger frames.
pub const DEFAULT_MAX_FRAME: u32 = 64 * 1024 * 1024;

/// Frame tags (first byte of a body).
mod tag {
    pub const HELLO: u8 = 1;
    pub const LOAD: u8 = 2;
    pub const LOAD_REPLY: u8 = 3;
    pub const PREDICT: u8 = 4;
    pub const PREDICT_REPLY: u8 = 5;
    pub const INTERMEDIATE: u8 = 6;
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("frame truncated: needed {needed} more byte(s) at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("unknown frame tag {0}")]
    UnknownTag(u8),
    #[error("empty frame body")]
    Empty,
    #[error("invalid value {value} for {field} at offset {offset}")]
    InvalidValue {
        field: &'static str,
        value: u64,
        offset: usize,
    },
    #[error("string field at offset {offset} is not valid UTF-8")]
    InvalidUtf8 { offset: usize },
    #[error("{0} trailing byte(s) after the frame")]
    TrailingBytes(usize),
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: u64, max: u64 },
    #[error("protocol version mismatch: worker speaks {worker}, server speaks {server}")]
    VersionMismatch { worker: u16, server: u16 },
    #[error("I/O error: {0}")]
    Io(String),
}

impl From<std::io::Error> for ProtocolError {
    fn from(e: std::io::Error) -> Self {
        ProtocolError::Io(e.to_string())
    }
}

/// A string → string pair (header name and value, metric dimension...).
pub type Pair = (String, String);

/// First frame, worker → server.
#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    pub version: u16,
    pub pid: u32,
    /// e.g. "3.11.7"
    pub python_version: String,
    /// the worker crate's version
    pub worker_version: String,
}

/// Server → worker: load the handler of one model version.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadRequest {
    pub model_name: String,
    /// absolute path of the unpacked model folder; becomes the worker's cwd
    pub model_dir: String,
    /// handler string as in the manifest (after register overrides), e.g. `h.py`, `h:fn`
    pub handler: String,
    /// `service_envelope`, empty when none
    pub envelope: String,
    /// >= 1
    pub batch_size: u32,
    /// `None` on CPU; becomes `context.system_properties["gpu_id"]`
    pub gpu_id: Option<u32>,
    pub limit_max_image_pixels: bool,
    /// `decode_input_request`: decode bodies by content type before calling the handler
    pub decode_input_request: bool,
    /// `context.system_properties["server_version"]`
    pub server_version: String,
    /// model-config.yaml as a JSON object text (`{}` when the archive has none)
    pub model_yaml_config: String,
}

/// Worker → server: outcome of a [`LoadRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReply {
    /// 200 on success; 507 out of memory; 500 anything else
    pub code: u16,
    /// `loaded model <name>` on success, else a one-line cause
    pub message: String,
    /// Python traceback of a failure, empty on success
    pub detail: String,
    /// metrics the handler emitted during initialize
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    Predict = 0,
    /// `GET /models/{m}?customized=true`: the handler sees header `describe: True`
    Describe = 1,
}

/// Server → worker: one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictRequest {
    pub batch_id: u64,
    pub kind: BatchKind,
    pub requests: Vec<Request>,
}

/// One request of a batch; becomes one dict of `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub request_id: String,
    /// HTTP headers as the client spelled them, plus the frontend's own (`explain`, `url_path`)
    pub headers: Vec<Pair>,
    pub params: Vec<Param>,
}

/// One parameter of a request: the raw body (`body`), a form field, or a multipart part.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    /// MIME type without parameters, empty when none
    pub content_type: String,
    pub value: Vec<u8>,
}

/// Worker → server: the answer for a batch (final or intermediate).
#[derive(Debug, Clone, PartialEq)]
pub struct PredictReply {
    pub batch_id: u64,
    /// 200, or the batch-level error code that applies to every request of the batch
    pub code: u16,
    /// batch-level message (`Prediction failed`, ...), empty on success
    pub message: String,
    /// traceback of a batch-level failure, empty otherwise
    pub detail: String,
    /// one per request on success (in any order; routed by `request_id`)
    pub responses: Vec<Response>,
    pub metrics: Vec<Metric>,
}

/// One request's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub request_id: String,
    pub status: u16,
    /// reason phrase; empty = the standard one
    pub phrase: String,
    /// set only when the handler set one
    pub content_type: Option<String>,
    pub headers: Vec<Pair>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter = 0,
    Gauge = 1,
    Histogram = 2,
}

/// A metric emitted by a handler through `context.metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub unit: String,
    pub kind: MetricKind,
    pub value: f64,
    pub dimensions: Vec<Pair>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Hello(Hello),
    Load(LoadRequest),
    LoadReply(LoadReply),
    Predict(PredictRequest),
    /// a streaming chunk sent before the final [`Frame::PredictReply`] of the same batch
    Intermediate(PredictReply),
    PredictReply(PredictReply),
}

impl Frame {
    /// Appends the length prefix and the body of this frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        let mut w = Writer(out);
        match self {
            Frame::Hello(h) => {
                w.u8(tag::HELLO);
                w.u16(h.version);
                w.u32(h.pid);
                w.str(&h.python_version);
                w.str(&h.worker_version);
            }
            Frame::Load(l) => {
                w.u8(tag::LOAD);
                w.str(&l.model_name);
                w.str(&l.model_dir);
                w.str(&l.handler);
                w.str(&l.envelope);
                w.u32(l.batch_size);
                w.opt_u32(l.gpu_id);
                w.bool(l.limit_max_image_pixels);
                w.bool(l.decode_input_request);
                w.str(&l.server_version);
                w.str(&l.model_yaml_config);
            }
            Frame::LoadReply(r) => {
                w.u8(tag::LOAD_REPLY);
                w.u16(r.code);
                w.str(&r.message);
                w.str(&r.detail);
                w.metrics(&r.metrics);
            }
            Frame::Predict(p) => {
                w.u8(tag::PREDICT);
                w.u64(p.batch_id);
                w.u8(p.kind as u8);
                w.u32(len32(p.requests.len()));
                for r in &p.requests {
                    w.str(&r.request_id);
                    w.pairs(&r.headers);
                    w.u32(len32(r.params.len()));
                    for p in &r.params {
                        w.str(&p.name);
                        w.str(&p.content_type);
                        w.bytes(&p.value);
                    }
                }
            }
            Frame::Intermediate(r) | Frame::PredictReply(r) => {
                w.u8(if matches!(self, Frame::Intermediate(_)) {
                    tag::INTERMEDIATE
                } else {
                    tag::PREDICT_REPLY
                });
                w.u64(r.batch_id);
                w.u16(r.code);
                w.str(&r.message);
                w.str(&r.detail);
                w.u32(len32(r.responses.len()));
                for resp in &r.responses {
                    w.str(&resp.request_id);
                    w.u16(resp.status);
                    w.str(&resp.phrase);
                    match &resp.content_type {
                        None => w.u8(0),
                        Some(ct) => {
                            w.u8(1);
                            w.str(ct);
                        }
                    }
                    w.pairs(&resp.headers);
                    w.bytes(&resp.body);
                }
                w.metrics(&r.metrics);
            }
        }
        let body_len = len32(out.len() - start - 4);
        out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    }

    /// The encoded frame, length prefix included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes one frame body (without its length prefix). The whole slice must be consumed.
    pub fn decode(body: &[u8]) -> Result<Frame, ProtocolError> {
        let mut r = Reader { buf: body, pos: 0 };
        let t = r.u8().map_err(|_| ProtocolError::Empty)?;
        let frame = match t {
            tag::HELLO => Frame::Hello(Hello {
                version: r.u16()?,
                pid: r.u32()?,
                python_version: r.string()?,
                worker_version: r.string()?,
            }),
            tag::LOAD => Frame::Load(LoadRequest {
                model_name: r.string()?,
                model_dir: r.string()?,
                handler: r.string()?,
                envelope: r.string()?,
                batch_size: r.u32()?,
                gpu_id: r.opt_u32()?,
                limit_max_image_pixels: r.bool("limit_max_image_pixels")?,
                decode_input_request: r.bool("decode_input_request")?,
                server_version: r.string()?,
                model_yaml_config: r.string()?,
            }),
            tag::LOAD_REPLY => Frame::LoadReply(LoadReply {
                code: r.u16()?,
                message: r.string()?,
                detail: r.string()?,
                metrics: r.metrics()?,
            }),
            tag::PREDICT => {
                let batch_id = r.u64()?;
                let kind = match r.u8()? {
                    0 => BatchKind::Predict,
                    1 => BatchKind::Describe,
                    v => return Err(r.invalid("batch kind", v.into())),
                };
                let n = r.count()?;
                let mut requests = Vec::with_capacity(n);
                for _ in 0..n {
                    let request_id = r.string()?;
                    let headers = r.pairs()?;
                    let np = r.count()?;
                    let mut params = Vec::with_capacity(np);
                    for _ in 0..np {
                        params.push(Param {
                            name: r.string()?,
                            content_type: r.string()?,
                            value: r.bytes()?.to_vec(),
                        });
                    }
                    requests.push(Request {
                        request_id,
                        headers,
                        params,
                    });
                }
                Frame::Predict(PredictRequest {
                    batch_id,
                    kind,
                    requests,
                })
            }
            tag::PREDICT_REPLY | tag::INTERMEDIATE => {
                let batch_id = r.u64()?;
                let code = r.u16()?;
                let message = r.string()?;
                let detail = r.string()?;
                let n = r.count()?;
                let mut responses = Vec::with_capacity(n);
                for _ in 0..n {
                    let request_id = r.string()?;
                    let status = r.u16()?;
                    let phrase = r.string()?;
                    let content_type = match r.u8()? {
                        0 => None,
                        1 => Some(r.string()?),
                        v => return Err(r.invalid("content type option", v.into())),
                    };
                    let headers = r.pairs()?;
                    let body = r.bytes()?.to_vec();
                    responses.push(Response {
                        request_id,
                        status,
                        phrase,
                        content_type,
                        headers,
                        body,
                    });
                }
                let metrics = r.metrics()?;
                let reply = PredictReply {
                    batch_id,
                    code,
                    message,
                    detail,
                    responses,
                    metrics,
                };
                if t == tag::INTERMEDIATE {
                    Frame::Intermediate(reply)
                } else {
                    Frame::PredictReply(reply)
                }
            }
            other => return Err(ProtocolError::UnknownTag(other)),
        };
        if r.pos != body.len() {
            return Err(ProtocolError::TrailingBytes(body.len() - r.pos));
        }
        Ok(frame)
    }
}

/// Reads the body length out of a 4-byte prefix, refusing frames above `max`.
pub fn body_len(prefix: [u8; 4], max: u32) -> Result<usize, ProtocolError> {
    let len = u32::from_le_bytes(prefix);
    if len > max {
        return Err(ProtocolError::TooLarge {
            len: len.into(),
            max: max.into(),
        });
    }
    Ok(len as usize)
}

/// Blocking read of one frame (the server reads asynchronously with [`body_len`] +
/// [`Frame::decode`]). Returns `Ok(None)` on a clean end of stream before a frame.
pub fn read_frame<R: std::io::Read>(r: &mut R, max: u32) -> Result<Option<Frame>, ProtocolError> {
    read_frame_into(r, max, &mut Vec::new())
}

/// [`read_frame`] with a caller-owned body buffer, reused between frames (the worker's hot
/// path); a buffer grown past 1 MiB by a large frame is released afterwards.
pub fn read_frame_into<R: std::io::Read>(
    r: &mut R,
    max: u32,
    body: &mut Vec<u8>,
) -> Result<Option<Frame>, ProtocolError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut prefix[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(ProtocolError::Truncated {
                    offset: got,
                    needed: 4 - got,
                });
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = body_len(prefix, max)?;
    body.resize(len, 0);
    r.read_exact(body)?;
    let frame = Frame::decode(body);
    if body.capacity() > 1 << 20 {
        *body = Vec::new();
    }
    frame.map(Some)
}

/// Blocking write of one frame.
pub fn write_frame<W: std::io::Write>(w: &mut W, frame: &Frame) -> Result<(), ProtocolError> {
    w.write_all(&frame.to_bytes())?;
    w.flush()?;
    Ok(())
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("protocol field longer than 4 GiB")
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn bool(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(len32(v.len()));
        self.0.extend_from_slice(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.u32(x);
            }
        }
    }
    fn pairs(&mut self, v: &[Pair]) {
        self.u32(len32(v.len()));
        for (k, val) in v {
            self.str(k);
            self.str(val);
        }
    }
    fn metrics(&mut self, v: &[Metric]) {
        self.u32(len32(v.len()));
        for m in v {
            self.str(&m.name);
            self.str(&m.unit);
            self.u8(m.kind as u8);
            self.f64(m.value);
            self.pairs(&m.dimensions);
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        let rest = self.buf.len() - self.pos;
        if rest < n {
            return Err(ProtocolError::Truncated {
                offset: self.pos,
                needed: n - rest,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn invalid(&self, field: &'static str, value: u64) -> ProtocolError {
        ProtocolError::InvalidValue {
            field,
            value,
            offset: self.pos.saturating_sub(1),
        }
    }
    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self, field: &'static str) -> Result<bool, ProtocolError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(self.invalid(field, v.into())),
        }
    }
    fn u16(&mut self) -> Result<u16, ProtocolError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, ProtocolError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, ProtocolError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64, ProtocolError> {
        Ok(f64::from_bits(self.u64()?))
    }
    /// A list count. Each item takes at least one byte, so a count above the remaining length is
    /// corrupt; refusing it early keeps random input from allocating gigabytes.
    fn count(&mut self) -> Result<usize, ProtocolError> {
        let n = self.u32()? as usize;
        let rest = self.buf.len() - self.pos;
        if n > rest {
            return Err(ProtocolError::Truncated {
                offset: self.pos,
                needed: n - rest,
            });
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8], ProtocolError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, ProtocolError> {
        let offset = self.pos;
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| ProtocolError::InvalidUtf8 { offset })
    }
    fn opt_u32(&mut self) -> Result<Option<u32>, ProtocolError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u32()?)),
            v => Err(self.invalid("option tag", v.into())),
        }
    }
    fn pairs(&mut self) -> Result<Vec<Pair>, ProtocolError> {
        let n = self.count()?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push((self.string()?, self.string()?));
        }
        Ok(v)
    }
    fn metrics(&mut self) -> Result<Vec<Metric>, ProtocolError> {
        let n = self.count()?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.string()?;
            let unit = self.string()?;
            let kind = match self.u8()? {
                0 => MetricKind::Counter,
                1 => MetricKind::Gauge,
                2 => MetricKind::Histogram,
                k => return Err(self.invalid("metric kind", k.into())),
            };
            let value = self.f64()?;
            let dimensions = self.pairs()?;
            v.push(Metric {
                name,
                unit,
                kind,
                value,
                dimensions,
            });
        }
        Ok(v)
    }
}
