//! The handler's output → one [`Response`] per request (contract 2.2): body encoding by type,
//! and the status, reason phrase, content type and headers the handler set on the context.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString};
use worker_protocol::Response;

use crate::runtime::Runtime;

/// Whether these responses are a streaming chunk or the batch's final answer; it decides the
/// `ts_stream_next` header, as TorchServe's `create_predict_response` does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Intermediate,
    Final,
}

/// Encodes `ret[idx]` for every `idx` of `request_ids`, reading what the handler set through
/// `processors` (the batch's RequestProcessor list; `None`: `context.request_processor`). `ret` of `None` gives the body `error`
/// for each request (what TorchServe sends for an error reply). An element that cannot be
/// encoded makes the whole call fail with that Python error.
pub(crate) fn encode_responses(
    py: Python<'_>,
    rt: &Runtime,
    ret: &Bound<'_, PyAny>,
    request_ids: &Bound<'_, PyDict>,
    context: &Bound<'_, PyAny>,
    processors: Option<&Bound<'_, PyAny>>,
    part: Part,
) -> PyResult<Vec<Response>> {
    let stopping = context.getattr(intern!(py, "stopping_criteria"))?;
    let stopping = if stopping.is_truthy()? {
        Some(stopping)
    } else {
        None
    };
    // the caller may already hold the batch's processors; else ask the context
    let processors = match processors {
        Some(p) => p.clone(),
        None => context.getattr(intern!(py, "request_processor"))?,
    };
    let mut out = Vec::with_capacity(request_ids.len());
    for (idx, request_id) in request_ids.iter() {
        let value = if ret.is_none() {
            None
        } else {
            Some(ret.get_item(&idx)?)
        };
        let meta = ResponseMeta::read(py, context, &processors, &idx)?;
        let stream_next = match (part, &stopping, &value) {
            (Part::Intermediate, _, _) => Some("true"),
            (Part::Final, Some(criteria), Some(v)) => {
                let is_stop = criteria.get_item(&idx)?.call1((v,))?;
                if is_stop.is_none() {
                    None
                } else if is_stop.is_truthy()? {
                    Some("false")
                } else {
                    Some("true")
                }
            }
            (Part::Final, _, _) => match meta.headers.get_item(intern!(py, "ts_stream_next"))? {
                Some(flag)
                    if flag
                        .cast::<PyString>()
                        .is_ok_and(|f| f.to_str().is_ok_and(|f| f == "true")) =>
                {
                    Some("false")
                }
                _ => None,
            },
        };
        if let Some(flag) = stream_next {
            context.call_method1(
                intern!(py, "set_response_header"),
                (&idx, intern!(py, "ts_stream_next"), flag),
            )?;
        }

        let mut content_type = None;
        let mut header_pairs = Vec::new();
        for (k, v) in meta.headers.iter() {
            let key = k.str()?.to_string();
            if key == "content-type" {
                content_type = Some(v.str()?.to_string()).filter(|ct| !ct.is_empty());
            } else {
                header_pairs.push((key, v.str()?.to_string()));
            }
        }
        let (status, phrase) = (meta.status, meta.phrase);
        let body = match value {
            None => b"error".to_vec(),
            Some(v) => encode_body(py, rt, &v)?,
        };
        out.push(Response {
            request_id: request_id.str()?.to_string(),
            status,
            phrase,
            content_type,
            headers: header_pairs,
            body,
        });
    }
    Ok(out)
}

/// bytes / bytearray raw, str as UTF-8, torch.Tensor as torch.save bytes, anything else as
/// `json.dumps(v, indent=2)`.
pub(crate) fn encode_body(py: Python<'_>, rt: &Runtime, v: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = v.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    // torch is only checked for once a handler imported it: no import on our side
    if let Some(torch) = rt.sys_modules.bind(py).get_item(intern!(py, "torch"))?
        && let Ok(tensor) = torch.getattr(intern!(py, "Tensor"))
        && v.is_instance(&tensor)?
    {
        return Ok(rt
            .tensor_bytes
            .bind(py)
            .call1((v,))?
            .cast_into::<PyBytes>()?
            .as_bytes()
            .to_vec());
    }
    let text = rt
        .json_dumps
        .bind(py)
        .call((v,), Some(rt.indent_2.bind(py)))?;
    Ok(text.cast::<PyString>()?.to_str()?.as_bytes().to_vec())
}

/// What the handler set for one request: response headers (content type included), status
/// and reason phrase.
struct ResponseMeta<'py> {
    headers: Bound<'py, PyDict>,
    status: u16,
    phrase: String,
}

impl<'py> ResponseMeta<'py> {
    /// Reads the RequestProcessor's fields directly when it has TorchServe's layout (the bundled
    /// class and the real one both do): three attribute loads instead of five Python calls per
    /// request. Anything else goes through the public Context methods.
    fn read(
        py: Python<'py>,
        context: &Bound<'py, PyAny>,
        processors: &Bound<'py, PyAny>,
        idx: &Bound<'py, PyAny>,
    ) -> PyResult<ResponseMeta<'py>> {
        if let Ok(processor) = processors.get_item(idx)
            && let Ok(headers) = processor.getattr(intern!(py, "_response_header"))
            && let Ok(headers) = headers.cast_into::<PyDict>()
            && let Ok(status) = processor.getattr(intern!(py, "_status_code"))
            && let Ok(phrase) = processor.getattr(intern!(py, "_reason_phrase"))
        {
            return Ok(ResponseMeta {
                headers,
                status: status_code(&status)?,
                phrase: phrase_text(&phrase)?,
            });
        }
        let headers = context
            .call_method1(intern!(py, "get_response_headers"), (idx,))?
            .cast_into::<PyDict>()?;
        let status = context.call_method1(intern!(py, "get_response_status"), (idx,))?;
        Ok(ResponseMeta {
            headers,
            status: status_code(&status.get_item(0)?)?,
            phrase: phrase_text(&status.get_item(1)?)?,
        })
    }
}

/// None → 200 (TorchServe's default); a code outside u16 → 500.
fn status_code(v: &Bound<'_, PyAny>) -> PyResult<u16> {
    if v.is_none() {
        return Ok(200);
    }
    Ok(u16::try_from(v.extract::<i64>()?).unwrap_or(500))
}

fn phrase_text(v: &Bound<'_, PyAny>) -> PyResult<String> {
    if v.is_none() {
        Ok(String::new())
    } else {
        Ok(v.str()?.to_string())
    }
}
