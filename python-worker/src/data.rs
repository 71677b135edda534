//! Requests of a batch → the handler's `data` list and the per-request header maps (contract
//! 2.1): one dict per request, parameter name → value, values decoded by content type.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict, PyList, PyString};
use worker_protocol::Request;

use crate::runtime::Runtime;

pub(crate) struct Batch<'py> {
    /// the handler's first argument
    pub data: Bound<'py, PyList>,
    /// `context.request_ids`: index → request id
    pub request_ids: Bound<'py, PyDict>,
    /// `context.request_processor`: one RequestProcessor per request
    pub processors: Bound<'py, PyList>,
}

pub(crate) fn build_batch<'py>(
    py: Python<'py>,
    rt: &Runtime,
    request_processor: &Bound<'py, PyAny>,
    requests: &[Request],
    describe: bool,
    decode: bool,
) -> PyResult<Batch<'py>> {
    let data = PyList::empty(py);
    let request_ids = PyDict::new(py);
    let processors = PyList::empty(py);
    for (idx, request) in requests.iter().enumerate() {
        let inputs = PyDict::new(py);
        // the lookup map of get_request_header: parameter entries first, then the headers, so
        // a header wins over a parameter of the same name (as in TorchServe)
        let headers = PyDict::new(py);
        for param in &request.params {
            // "body" is the name of nearly every parameter: reuse one Python string for it
            let name = if param.name == "body" {
                intern!(py, "body").clone()
            } else {
                PyString::new(py, &param.name)
            };
            inputs.set_item(
                &name,
                decode_value(py, rt, &param.content_type, &param.value, decode)?,
            )?;
            let meta = PyDict::new(py);
            meta.set_item(intern!(py, "content-type"), &param.content_type)?;
            headers.set_item(name, meta)?;
        }
        for (name, value) in &request.headers {
            headers.set_item(name, value)?;
        }
        if describe {
            headers.set_item(intern!(py, "describe"), intern!(py, "True"))?;
        }
        data.append(inputs)?;
        request_ids.set_item(idx, &request.request_id)?;
        processors.append(request_processor.call1((headers,))?)?;
    }
    Ok(Batch {
        data,
        request_ids,
        processors,
    })
}

/// JSON → parsed (raw bytes kept when it does not parse), text/* → str, anything else →
/// bytearray; with decoding off, always bytearray. (TorchServe hands out bytearray, not bytes.)
fn decode_value<'py>(
    py: Python<'py>,
    rt: &Runtime,
    content_type: &str,
    value: &[u8],
    decode: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if decode && content_type == "application/json" {
        if let Ok(text) = std::str::from_utf8(value)
            && let Ok(parsed) = rt.json_loads.bind(py).call1((text,))
        {
            return Ok(parsed);
        }
        rt.decode_warning
            .bind(py)
            .call1(("Failed json decoding of input data. Forwarding encoded payload",))?;
    } else if decode && content_type.starts_with("text") {
        if let Ok(text) = std::str::from_utf8(value) {
            return Ok(PyString::new(py, text).into_any());
        }
        rt.decode_warning
            .bind(py)
            .call1(("Failed utf-8 decoding of input data. Forwarding encoded payload",))?;
    }
    Ok(PyByteArray::new(py, value).into_any())
}
