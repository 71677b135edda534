//! Reading TorchServe's own predict-response encoding (contract §8).
//!
//! When the real `ts` package is installed, a handler's `send_intermediate_predict_response`
//! is TorchServe's: it encodes the responses in TorchServe's wire format and calls
//! `context.cl_socket.sendall(msg)`. Our `cl_socket` decodes that message here and forwards it
//! as a [`worker_protocol::Frame::Intermediate`].

use worker_protocol::Response;

/// A decoded TorchServe response message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TsResponse {
    pub code: i32,
    pub message: String,
    pub responses: Vec<Response>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed TorchServe response message at byte {offset}: {what}")]
pub(crate) struct TsFrameError {
    offset: usize,
    what: &'static str,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn fail<T>(&self, what: &'static str) -> Result<T, TsFrameError> {
        Err(TsFrameError {
            offset: self.pos,
            what,
        })
    }
    fn int(&mut self) -> Result<i32, TsFrameError> {
        let Some(b) = self.buf.get(self.pos..self.pos + 4) else {
            return self.fail("truncated int");
        };
        self.pos += 4;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes_of_len(&mut self, len: i32) -> Result<&'a [u8], TsFrameError> {
        let Ok(len) = usize::try_from(len) else {
            return self.fail("negative length");
        };
        let Some(b) = self.buf.get(self.pos..self.pos.saturating_add(len)) else {
            return self.fail("truncated bytes");
        };
        self.pos += len;
        Ok(b)
    }
    fn bytes(&mut self) -> Result<&'a [u8], TsFrameError> {
        let len = self.int()?;
        self.bytes_of_len(len)
    }
    fn string(&mut self) -> Result<String, TsFrameError> {
        let b = self.bytes()?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => self.fail("invalid UTF-8"),
        }
    }
}

pub(crate) fn parse_ts_response(buf: &[u8]) -> Result<TsResponse, TsFrameError> {
    let mut c = Cursor { buf, pos: 0 };
    let code = c.int()?;
    let message = c.string()?;
    let mut responses = Vec::new();
    loop {
        let id_len = c.int()?;
        if id_len == -1 {
            break;
        }
        let request_id = match std::str::from_utf8(c.bytes_of_len(id_len)?) {
            Ok(s) => s.to_owned(),
            Err(_) => return c.fail("invalid UTF-8"),
        };
        let content_type = Some(c.string()?).filter(|ct| !ct.is_empty());
        let Ok(status) = u16::try_from(c.int()?) else {
            return c.fail("status out of range");
        };
        let phrase = c.string()?;
        let n_headers = c.int()?;
        if n_headers < 0 {
            return c.fail("negative header count");
        }
        let mut headers = Vec::new();
        for _ in 0..n_headers {
            let key = c.string()?;
            let value = c.string()?;
            // content-type travels in its own field
            if key != "content-type" {
                headers.push((key, value));
            }
        }
        let body = c.bytes()?.to_vec();
        responses.push(Response {
            request_id,
            status,
            phrase,
            content_type,
            headers,
            body,
        });
    }
    if c.pos != buf.len() {
        return c.fail("trailing bytes");
    }
    Ok(TsResponse {
        code,
        message,
        responses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i32) -> Vec<u8> {
        v.to_be_bytes().to_vec()
    }
    fn string(s: &str) -> Vec<u8> {
        let mut v = int(s.len() as i32);
        v.extend_from_slice(s.as_bytes());
        v
    }

    #[test]
    fn decodes_a_streaming_chunk() {
        let msg = [
            int(200),
            string("Intermediate Prediction success"),
            string("req-1"),
            string("text/plain"),
            int(206),
            string(""),
            int(2),
            string("ts_stream_next"),
            string("true"),
            string("content-type"),
            string("text/plain"),
            string("chunk"),
            int(-1),
        ]
        .concat();
        let parsed = parse_ts_response(&msg).unwrap();
        assert_eq!(parsed.code, 200);
        assert_eq!(parsed.message, "Intermediate Prediction success");
        assert_eq!(
            parsed.responses,
            vec![Response {
                request_id: "req-1".into(),
                status: 206,
                phrase: String::new(),
                content_type: Some("text/plain".into()),
                headers: vec![("ts_stream_next".into(), "true".into())],
                body: b"chunk".to_vec(),
            }]
        );
    }

    #[test]
    fn an_error_message_has_no_content_type() {
        let msg = [
            int(503),
            string("m"),
            string("a"),
            int(0),
            int(503),
            int(0),
            int(0),
            string("error"),
            int(-1),
        ]
        .concat();
        let parsed = parse_ts_response(&msg).unwrap();
        assert_eq!(parsed.responses[0].content_type, None);
        assert_eq!(parsed.responses[0].body, b"error");
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert!(parse_ts_response(&[]).is_err());
        assert!(
            parse_ts_response(&[int(200), string("m")].concat()).is_err(),
            "no end marker"
        );
        assert!(parse_ts_response(&[int(200), int(-5)].concat()).is_err());
        assert!(parse_ts_response(&[int(200), string(""), int(-1), int(0)].concat()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(buf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)) {
            let _ = parse_ts_response(&buf);
        }
    }
}
