//! Which files go into the archive under which names: torch-model-archiver's `copy_artifacts`
//! replayed on a map instead of a temp folder, so a 1 GB serialized file is read once, when the
//! archive is written, and never copied.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::CreateOptions;
use crate::ArchiveError;
use crate::manifest::{BUILTIN_HANDLERS, MANIFEST_PATH};

/// Handler names the archiver does not copy for the LSP (C++) runtime.
const LSP_BUILTIN_HANDLERS: &[&str] = &["BaseHandler", "TorchScriptHandler"];
/// Folders the archiver leaves out at any depth (`archive_dir`), besides dot-folders.
const UNWANTED_DIRS: &[&str] = &["__MACOSX", "__pycache__"];

/// Archive-relative name (`/`-separated) -> source file. Sorted, so archives are reproducible.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub files: BTreeMap<String, PathBuf>,
    staging: PathBuf,
}

impl Plan {
    pub(super) fn build(opts: &CreateOptions) -> Result<Plan, ArchiveError> {
        let mut plan = Plan {
            files: BTreeMap::new(),
            // Only for error texts: the archiver stages into $TMPDIR/<model-name>.
            staging: std::env::temp_dir().join(&opts.model_name),
        };
        // The archiver's order; a later file replaces an earlier one of the same name.
        if let Some(p) = non_empty(opts.model_file.as_deref()) {
            plan.copy(p)?;
        }
        if let Some(p) = non_empty(opts.serialized_file.as_deref()) {
            plan.copy(p)?;
        }
        if let Some(handler) = handler_file(&opts.handler, &opts.runtime) {
            plan.copy(Path::new(&handler))?;
        }
        for item in &opts.extra_files {
            plan.extra(item)?;
        }
        if let Some(p) = non_empty(opts.requirements_file.as_deref()) {
            plan.copy(p)?;
        }
        if let Some(p) = non_empty(opts.config_file.as_deref()) {
            plan.copy(p)?;
        }
        plan.files
            .retain(|name, _| name != MANIFEST_PATH && !in_unwanted_dir(name));
        Ok(plan)
    }

    /// `shutil.copy(path, model_path)`.
    fn copy(&mut self, path: &Path) -> Result<(), ArchiveError> {
        let meta = std::fs::metadata(path).map_err(|_| missing(path))?;
        if meta.is_dir() {
            return Err(ArchiveError::Archiver(format!(
                "[Errno 21] Is a directory: '{}'",
                path.display()
            )));
        }
        let name = file_name(path);
        self.put(name, path);
        Ok(())
    }

    fn put(&mut self, name: String, source: &Path) {
        // Copying onto a folder's name puts the file inside that folder.
        let prefix = format!("{name}/");
        let target = if self.files.keys().any(|k| k.starts_with(&prefix)) {
            format!("{name}/{name}")
        } else {
            name
        };
        self.files.insert(target, source.to_path_buf());
    }

    /// One item of `--extra-files`: a file, a folder merged into the root, or a wildcard.
    fn extra(&mut self, item: &str) -> Result<(), ArchiveError> {
        let wildcard =
            item.contains('*') || item.contains('?') || (item.contains('[') && item.contains(']'));
        // pathlib's Path("") is ".", which exists: an empty item is silently skipped.
        let exists = item.is_empty() || Path::new(item).exists();
        if !(wildcard || exists) {
            return Err(ArchiveError::Archiver(format!(
                "File does not exist: {item}"
            )));
        }
        let pattern = item.trim();
        let matches = if pattern.is_empty() {
            Vec::new()
        } else if wildcard {
            python_glob(pattern)
        } else {
            vec![PathBuf::from(pattern)]
        };
        for path in matches {
            let meta = std::fs::metadata(&path);
            match meta {
                Ok(m) if m.is_file() => self.put(file_name(&path), &path),
                Ok(m) if m.is_dir() => self.merge_dir(&path)?,
                _ => {
                    return Err(ArchiveError::Archiver(format!(
                        "Invalid extra file given {}",
                        path.display()
                    )));
                }
            }
        }
        Ok(())
    }

    /// A folder's contents go to the root; a sub-folder may not already exist there.
    fn merge_dir(&mut self, dir: &Path) -> Result<(), ArchiveError> {
        let mut children = read_dir_sorted(dir)?;
        for child in children.drain(..) {
            let name = file_name(&child);
            match std::fs::metadata(&child) {
                Ok(m) if m.is_dir() => {
                    let prefix = format!("{name}/");
                    if self
                        .files
                        .keys()
                        .any(|k| *k == name || k.starts_with(&prefix))
                    {
                        return Err(ArchiveError::Archiver(format!(
                            "[Errno 17] File exists: '{}'",
                            self.staging.join(&name).display()
                        )));
                    }
                    self.add_tree(&child, &name)?;
                }
                Ok(_) => self.put(name, &child),
                Err(_) => return Err(missing(&child)),
            }
        }
        Ok(())
    }

    fn add_tree(&mut self, dir: &Path, prefix: &str) -> Result<(), ArchiveError> {
        for child in read_dir_sorted(dir)? {
            let name = format!("{prefix}/{}", file_name(&child));
            match std::fs::metadata(&child) {
                Ok(m) if m.is_dir() => self.add_tree(&child, &name)?,
                Ok(_) => {
                    self.files.insert(name, child);
                }
                Err(_) => return Err(missing(&child)),
            }
        }
        Ok(())
    }
}

/// The file the archiver copies for `--handler` (MA/model_packaging_utils.py `copy_artifacts`):
/// none for a built-in handler; `name:fn` -> `name.py`; a string containing `.py` as is.
pub fn handler_file(handler: &str, runtime: &str) -> Option<String> {
    if handler.is_empty() {
        return None;
    }
    let module = handler.split(':').next().unwrap_or(handler);
    match runtime {
        "LSP" if LSP_BUILTIN_HANDLERS.contains(&handler) => None,
        "LSP" => Some(format!("{module}.so")),
        _ if BUILTIN_HANDLERS.contains(&handler) => None,
        _ if handler.contains(".py") => Some(handler.to_string()),
        _ => Some(format!("{module}.py")),
    }
}

fn non_empty(p: Option<&Path>) -> Option<&Path> {
    p.filter(|p| !p.as_os_str().is_empty())
}

fn missing(path: &Path) -> ArchiveError {
    ArchiveError::Archiver(format!(
        "[Errno 2] No such file or directory: '{}'",
        path.display()
    ))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, ArchiveError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| ArchiveError::io(dir, e))? {
        out.push(entry.map_err(|e| ArchiveError::io(dir, e))?.path());
    }
    out.sort();
    Ok(out)
}

fn in_unwanted_dir(name: &str) -> bool {
    let mut comps: Vec<&str> = name.split('/').collect();
    comps.pop();
    comps
        .iter()
        .any(|c| c.starts_with('.') || UNWANTED_DIRS.contains(c))
}

/// Python's `glob.glob(pattern)`: `*` and `?` do not match a leading dot, results sorted.
fn python_glob(pattern: &str) -> Vec<PathBuf> {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    match glob::glob_with(pattern, options) {
        Ok(paths) => paths.filter_map(Result::ok).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_files() {
        assert_eq!(
            handler_file("model_handler:handle", "python3").as_deref(),
            Some("model_handler.py")
        );
        assert_eq!(handler_file("h.py", "python").as_deref(), Some("h.py"));
        assert_eq!(
            handler_file("dir/h.py:fn", "python").as_deref(),
            Some("dir/h.py:fn")
        );
        assert_eq!(handler_file("image_classifier", "python"), None);
        assert_eq!(
            handler_file("image_classifier:x", "python").as_deref(),
            Some("image_classifier.py")
        );
        assert_eq!(handler_file("BaseHandler", "LSP"), None);
        assert_eq!(handler_file("libh:fn", "LSP").as_deref(), Some("libh.so"));
    }

    #[test]
    fn unwanted_dirs() {
        assert!(in_unwanted_dir("__pycache__/a.pyc"));
        assert!(in_unwanted_dir("a/.git/config"));
        assert!(!in_unwanted_dir(".hidden"));
        assert!(!in_unwanted_dir("a/b.txt"));
    }
}
