//! `--only` / `--skip`: by id, id prefix (`MGMT-4.2-*`), group name or level.
use super::spec::CheckSpec;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub only: Vec<String>,
    pub skip: Vec<String>,
}

impl Selection {
    /// True when the user turned this check off.
    pub fn disabled(&self, spec: &CheckSpec) -> bool {
        (!self.only.is_empty() && !self.only.iter().any(|p| matches(p, spec)))
            || self.skip.iter().any(|p| matches(p, spec))
    }
}

fn matches(pattern: &str, spec: &CheckSpec) -> bool {
    let pattern = pattern.trim();
    if let Some(prefix) = pattern.strip_suffix('*') {
        return spec.id.starts_with(prefix);
    }
    pattern == spec.id
        || pattern == spec.group.as_str()
        || pattern.eq_ignore_ascii_case(spec.level.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::spec::{Group, must, should};

    fn sel(only: &[&str], skip: &[&str]) -> Selection {
        Selection {
            only: only.iter().map(|s| s.to_string()).collect(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn patterns() {
        let a = must("MGMT-4.2-01", Group::Lifecycle, "a");
        let b = should("BAT-6.1-02", Group::Batching, "b");
        let check = |s: Selection, expect: [bool; 2]| {
            assert_eq!([s.disabled(&a), s.disabled(&b)], expect, "{s:?}")
        };
        check(sel(&[], &[]), [false, false]);
        check(sel(&["lifecycle"], &[]), [false, true]);
        check(sel(&["BAT-6.1-02"], &[]), [true, false]);
        check(sel(&["MGMT-4.*"], &[]), [false, true]);
        check(sel(&[], &["batching"]), [false, true]);
        check(sel(&["must"], &[]), [false, true]);
        check(
            sel(&["lifecycle", "batching"], &["MGMT-4.2-01"]),
            [true, false],
        );
    }
}
