//! Entry names and link targets, judged before anything touches the disk.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

/// Why an entry name cannot be unpacked.
pub fn unsafe_reason(name: &str) -> Option<&'static str> {
    if name.contains('\0') {
        return Some("the name contains a NUL byte");
    }
    if name.starts_with('/') {
        return Some("absolute path");
    }
    if name.split('/').any(|c| c == "..") {
        return Some("the path contains `..`");
    }
    None
}

/// The relative path an entry name denotes (`.` and empty components dropped), or `None` when
/// the name is unsafe. The empty path means the root folder itself.
pub fn relative_path(name: &str) -> Option<PathBuf> {
    if unsafe_reason(name).is_some() {
        return None;
    }
    Some(
        name.split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect(),
    )
}

/// Whether a link at `link` (relative to the root) pointing to `target` resolves inside the root,
/// following the other links of the same archive (`links`: relative path -> target) on the way,
/// so `a -> .` followed by `b -> a/..` is caught.
pub fn link_stays_inside(link: &Path, target: &str, links: &HashMap<PathBuf, String>) -> bool {
    const MAX_HOPS: usize = 40;
    if target.starts_with('/') || target.contains('\0') {
        return false;
    }
    let mut resolved: Vec<String> = parent_components(link);
    let mut pending: VecDeque<String> = split(target);
    let mut hops = 0;
    while let Some(comp) = pending.pop_front() {
        match comp.as_str() {
            "" | "." => {}
            ".." => {
                if resolved.pop().is_none() {
                    return false;
                }
            }
            _ => {
                resolved.push(comp);
                let here: PathBuf = resolved.iter().collect();
                if let Some(next) = links.get(&here) {
                    hops += 1;
                    if hops > MAX_HOPS || next.starts_with('/') {
                        return false;
                    }
                    resolved.pop();
                    for c in split(next).into_iter().rev() {
                        pending.push_front(c);
                    }
                }
            }
        }
    }
    true
}

fn parent_components(link: &Path) -> Vec<String> {
    let mut comps: Vec<String> = link
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    comps.pop();
    comps
}

fn split(s: &str) -> VecDeque<String> {
    s.split('/').map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(relative_path("a/./b//c"), Some(PathBuf::from("a/b/c")));
        assert_eq!(relative_path("./"), Some(PathBuf::new()));
        for bad in ["../x", "a/../../x", "/etc/passwd", "a/..", "a\0b"] {
            assert!(relative_path(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn links() {
        let none = HashMap::new();
        assert!(link_stays_inside(Path::new("a/l"), "../b", &none));
        assert!(link_stays_inside(Path::new("l"), ".", &none));
        assert!(!link_stays_inside(Path::new("l"), "..", &none));
        assert!(!link_stays_inside(Path::new("a/l"), "../../b", &none));
        assert!(!link_stays_inside(Path::new("l"), "/etc", &none));
        let mut links = HashMap::new();
        links.insert(PathBuf::from("a"), ".".to_string());
        assert!(!link_stays_inside(Path::new("b"), "a/..", &links));
        links.insert(PathBuf::from("loop"), "loop".to_string());
        assert!(!link_stays_inside(Path::new("c"), "loop/x", &links));
        links.insert(PathBuf::from("d/e"), "../f".to_string());
        assert!(link_stays_inside(Path::new("g"), "d/e", &links));
    }
}
