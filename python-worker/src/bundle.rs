//! Python sources compiled into the binary: the `ts` compatibility package and the worker's own
//! `_tsrs_worker` package, served by the import hook in `python/bootstrap.py`. Embedding them
//! means no files are written at start and the worker binary is self-contained.

/// One embedded module.
pub(crate) struct Source {
    pub module: &'static str,
    pub is_package: bool,
    pub text: &'static str,
}

macro_rules! embed {
    ($module:literal, package, $path:literal) => {
        Source {
            module: $module,
            is_package: true,
            text: include_str!(concat!("../python/", $path)),
        }
    };
    ($module:literal, $path:literal) => {
        Source {
            module: $module,
            is_package: false,
            text: include_str!(concat!("../python/", $path)),
        }
    };
}

/// Installs the import hook; run first, as plain code, because nothing else is importable yet.
pub(crate) const BOOTSTRAP: &str = include_str!("../python/bootstrap.py");

pub(crate) const SOURCES: &[Source] = &[
    embed!("ts", package, "ts/__init__.py"),
    embed!("ts.version", "ts/version.py"),
    embed!("ts.context", "ts/context.py"),
    embed!("ts.utils", package, "ts/utils/__init__.py"),
    embed!("ts.utils.util", "ts/utils/util.py"),
    embed!("ts.metrics", package, "ts/metrics/__init__.py"),
    embed!("ts.metrics.dimension", "ts/metrics/dimension.py"),
    embed!(
        "ts.metrics.metric_type_enum",
        "ts/metrics/metric_type_enum.py"
    ),
    embed!(
        "ts.metrics.metric_cache_errors",
        "ts/metrics/metric_cache_errors.py"
    ),
    embed!("ts.metrics.unit", "ts/metrics/unit.py"),
    embed!("ts.protocol", package, "ts/protocol/__init__.py"),
    embed!(
        "ts.protocol.otf_message_handler",
        "ts/protocol/otf_message_handler.py"
    ),
    embed!("ts.handler_utils", package, "ts/handler_utils/__init__.py"),
    embed!("ts.handler_utils.utils", "ts/handler_utils/utils.py"),
    embed!("_tsrs_worker", package, "_tsrs_worker/__init__.py"),
    embed!("_tsrs_worker.encode", "_tsrs_worker/encode.py"),
    embed!("_tsrs_worker.failures", "_tsrs_worker/failures.py"),
    embed!("_tsrs_worker.loader", "_tsrs_worker/loader.py"),
    embed!("_tsrs_worker.logs", "_tsrs_worker/logs.py"),
    embed!("_tsrs_worker.metrics", "_tsrs_worker/metrics.py"),
];

#[cfg(test)]
mod tests {
    use super::SOURCES;
    use std::path::{Path, PathBuf};

    fn python_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                python_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "py") {
                out.push(path);
            }
        }
    }

    /// A .py file added under python/ but not listed above would silently be missing at run time.
    #[test]
    fn every_python_file_is_embedded_under_its_module_name() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
        let mut files = Vec::new();
        python_files(&root, &mut files);
        let mut expected: Vec<String> = files
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().with_extension(""))
            .filter(|p| p != Path::new("bootstrap"))
            .map(|p| {
                let dotted = p.to_str().unwrap().replace('/', ".");
                dotted
                    .strip_suffix(".__init__")
                    .map(str::to_owned)
                    .unwrap_or(dotted)
            })
            .collect();
        expected.sort();
        let mut listed: Vec<String> = SOURCES.iter().map(|s| s.module.to_owned()).collect();
        listed.sort();
        assert_eq!(listed, expected);
        for s in SOURCES {
            let file = root.join(s.module.replace('.', "/"));
            assert_eq!(s.is_package, file.is_dir(), "{}: package flag", s.module);
        }
    }
}
