//! The embedded interpreter: set up once at start, then the Python objects the hot path needs,
//! looked up once and kept (no per-request imports or attribute walks through modules).

use std::ffi::CString;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::bundle::{BOOTSTRAP, SOURCES};
use crate::error::WorkerError;

pub(crate) struct Runtime {
    pub json_loads: Py<PyAny>,
    pub json_dumps: Py<PyAny>,
    /// `{"indent": 2}` for `json.dumps`, as TorchServe encodes outputs
    pub indent_2: Py<PyDict>,
    pub sys_modules: Py<PyDict>,
    pub tensor_bytes: Py<PyAny>,
    /// `logging.getLogger(...).warning`, for bodies that do not decode
    pub decode_warning: Py<PyAny>,
    pub load: Py<PyAny>,
    pub load_failure: Py<PyAny>,
    pub predict_failure: Py<PyAny>,
    pub output_failure: Py<PyAny>,
    pub metrics_cache: Py<PyAny>,
}

impl Runtime {
    /// Makes the embedded sources importable, routes logging to stderr and, when `VIRTUAL_ENV`
    /// is set, adds that environment's site-packages (torch, a real `ts`...).
    pub(crate) fn start(py: Python<'_>) -> Result<Runtime, WorkerError> {
        Self::try_start(py).map_err(|e| WorkerError::Python(describe(py, &e)))
    }

    fn try_start(py: Python<'_>) -> PyResult<Runtime> {
        if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
            let v = py.version_info();
            let site_packages = std::path::Path::new(&venv)
                .join(format!("lib/python{}.{}/site-packages", v.major, v.minor));
            if site_packages.is_dir() {
                py.import("site")?
                    .call_method1("addsitedir", (site_packages,))?;
            }
        }

        fix_interpreter_identity(py)?;

        let sources = PyDict::new(py);
        for s in SOURCES {
            sources.set_item(s.module, (s.is_package, s.text))?;
        }
        let code = CString::new(BOOTSTRAP).expect("bootstrap.py has no NUL byte");
        let bootstrap =
            PyModule::from_code(py, &code, c"<ts-worker>/bootstrap.py", c"_tsrs_bootstrap")?;
        bootstrap.call_method1("install", (sources,))?;

        py.import("_tsrs_worker.logs")?.call_method0("install")?;
        // a segfault in a C extension then leaves a Python stack on stderr
        py.import("faulthandler")?.call_method0("enable")?;

        let json = py.import("json")?;
        let indent_2 = PyDict::new(py);
        indent_2.set_item("indent", 2)?;
        let logger = py
            .import("logging")?
            .call_method1("getLogger", ("ts.protocol.otf_message_handler",))?;
        let failures = py.import("_tsrs_worker.failures")?;
        Ok(Runtime {
            json_loads: json.getattr("loads")?.unbind(),
            json_dumps: json.getattr("dumps")?.unbind(),
            indent_2: indent_2.unbind(),
            sys_modules: py
                .import("sys")?
                .getattr("modules")?
                .cast_into::<PyDict>()?
                .unbind(),
            tensor_bytes: py
                .import("_tsrs_worker.encode")?
                .getattr("tensor_bytes")?
                .unbind(),
            decode_warning: logger.getattr("warning")?.unbind(),
            load: py.import("_tsrs_worker.loader")?.getattr("load")?.unbind(),
            load_failure: failures.getattr("load_failure")?.unbind(),
            predict_failure: failures.getattr("predict_failure")?.unbind(),
            output_failure: failures.getattr("output_failure")?.unbind(),
            metrics_cache: py
                .import("_tsrs_worker.metrics")?
                .getattr("MetricsCache")?
                .unbind(),
        })
    }
}

/// An embedded interpreter has no `sys.argv`, and its `sys.executable` is this binary. Handler
/// code that reads argv (argparse, absl) or starts `sys.executable` (subprocess,
/// multiprocessing) needs both to look like a normal Python: argv is `["ts-worker"]` and the
/// executable is the venv's python, or the python this worker was built against.
fn fix_interpreter_identity(py: Python<'_>) -> PyResult<()> {
    let sys = py.import("sys")?;
    if !sys.hasattr("argv")? {
        sys.setattr("argv", vec!["ts-worker"])?;
    }
    let v = py.version_info();
    let mut candidates = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        candidates.push(std::path::PathBuf::from(venv).join("bin/python"));
    }
    let base: String = sys.getattr("base_exec_prefix")?.extract()?;
    candidates.push(std::path::Path::new(&base).join(format!("bin/python{}.{}", v.major, v.minor)));
    if let Some(python) = candidates.into_iter().find(|p| p.is_file()) {
        sys.setattr("executable", python.display().to_string())?;
    }
    Ok(())
}

/// What a failure handler in `_tsrs_worker.failures` returns: code, one line, traceback.
pub(crate) struct Failure {
    pub code: u16,
    pub message: String,
    pub detail: String,
}

impl Failure {
    /// Calls one of the `failures` functions; if even that fails, still returns something true.
    pub(crate) fn classify(py: Python<'_>, f: &Py<PyAny>, model: &str, err: &PyErr) -> Failure {
        let value = err.value(py);
        // pyo3 keeps the traceback beside the exception; the Python side reads __traceback__
        if let Some(tb) = err.traceback(py) {
            let _ = value.setattr("__traceback__", tb);
        }
        let outcome = f
            .bind(py)
            .call1((model, value))
            .and_then(|t| t.extract::<(i64, String, String)>());
        match outcome {
            Ok((code, message, detail)) => Failure {
                code: u16::try_from(code)
                    .ok()
                    .filter(|c| (100..=599).contains(c))
                    .unwrap_or(500),
                message,
                detail,
            },
            Err(e) => Failure {
                code: 500,
                message: describe(py, err),
                detail: describe(py, &e),
            },
        }
    }
}

/// `Type: message` of a Python exception, for errors that have no better channel.
pub(crate) fn describe(py: Python<'_>, err: &PyErr) -> String {
    let value = err.value(py);
    let name = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    match value.str() {
        Ok(s) if !s.to_string().is_empty() => format!("{name}: {s}"),
        _ => name,
    }
}

/// Flushes Python's stdout and stderr (pyo3 never finalizes the interpreter, so a partial line
/// would otherwise be lost at exit).
pub(crate) fn flush_std_streams(py: Python<'_>) {
    if let Ok(sys) = py.import("sys") {
        for name in ["stdout", "stderr"] {
            if let Ok(stream) = sys.getattr(name) {
                let _ = stream.call_method0("flush");
            }
        }
    }
}
