//! A strict reader of the Prometheus text exposition format 0.0.4: it rejects what a scraper
//! would reject (samples without a TYPE, repeated families, bad names or label syntax, values
//! that are not floats, inconsistent histograms) and gives the samples back for assertions.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Default)]
pub struct Exposition {
    /// family name → type
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// Samples named `name` whose labels include every `(k, v)` of `with`.
    pub fn find(&self, name: &str, with: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && with
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The value of the one sample matching, panicking when there is not exactly one.
    pub fn value(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        let found = self.find(name, with);
        assert_eq!(
            found.len(),
            1,
            "expected one {name} sample with {with:?}, found {found:?}"
        );
        found[0].value
    }
}

type Labels = Vec<(String, String)>;

fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

/// The family a sample belongs to (histogram series carry suffixes).
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
        {
            return base;
        }
    }
    name
}

fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        let name: String = std::iter::from_fn(|| chars.next_if(|&c| c != '=')).collect();
        if name.is_empty() && chars.peek().is_none() {
            break;
        }
        if !valid_name(&name) || name.contains(':') {
            return Err(format!("bad label name {name:?}"));
        }
        if chars.next() != Some('=') || chars.next() != Some('"') {
            return Err(format!("label {name}: expected =\""));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("label {name}: bad escape {other:?}")),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => return Err(format!("label {name}: unterminated value")),
            }
        }
        if labels.insert(name.clone(), value).is_some() {
            return Err(format!("label {name} repeated"));
        }
        match chars.next() {
            Some(',') => {}
            None => break,
            Some(c) => return Err(format!("unexpected {c:?} after label {name}")),
        }
    }
    Ok(labels)
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => v.parse().map_err(|_| format!("bad value {v:?}")),
    }
}

/// Parses and validates an exposition; the error names the offending line.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut exp = Exposition::default();
    let mut helped = std::collections::BTreeSet::new();
    let mut seen_samples_of = std::collections::BTreeSet::new();
    for (no, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", no + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, arg) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            match kw {
                "HELP" if !helped.insert(name.to_string()) => {
                    return Err(at("HELP repeated".into()));
                }
                "TYPE" => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg) {
                        return Err(at(format!("unknown type {arg:?}")));
                    }
                    if seen_samples_of.contains(name) {
                        return Err(at("TYPE after the family's samples".into()));
                    }
                    if exp
                        .types
                        .insert(name.to_string(), arg.to_string())
                        .is_some()
                    {
                        return Err(at("TYPE repeated".into()));
                    }
                }
                _ => {}
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or_else(|| at("no value".into()))?;
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let inner = rest
                    .strip_suffix('}')
                    .ok_or_else(|| at("unclosed {".into()))?;
                (n, parse_labels(inner).map_err(at)?)
            }
            None => (series, BTreeMap::new()),
        };
        if !valid_name(name) {
            return Err(at(format!("bad metric name {name:?}")));
        }
        let family = family_of(name, &exp.types);
        if !exp.types.contains_key(family) {
            return Err(at(format!("no TYPE for {family}")));
        }
        seen_samples_of.insert(family.to_string());
        let value = parse_value(value).map_err(at)?;
        exp.samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    check_histograms(&exp)?;
    Ok(exp)
}

/// Buckets ascend in `le` and in count, and the +Inf bucket equals `_count`.
fn check_histograms(exp: &Exposition) -> Result<(), String> {
    for (family, kind) in &exp.types {
        if kind != "histogram" {
            continue;
        }
        // labels without `le` → (le, cumulative count) per bucket
        let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for s in exp
            .samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let le = s
                .labels
                .get("le")
                .ok_or(format!("{family}: bucket without le"))?;
            let key: Vec<_> = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "le")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            series
                .entry(key)
                .or_default()
                .push((parse_value(le)?, s.value));
        }
        for (key, buckets) in series {
            for w in buckets.windows(2) {
                if w[0].0 >= w[1].0 || w[0].1 > w[1].1 {
                    return Err(format!(
                        "{family}{key:?}: buckets not ascending: {buckets:?}"
                    ));
                }
            }
            let last = buckets.last().ok_or(format!("{family}: no buckets"))?;
            if last.0 != f64::INFINITY {
                return Err(format!("{family}{key:?}: no +Inf bucket"));
            }
            let count = exp
                .samples
                .iter()
                .find(|s| {
                    s.name == format!("{family}_count")
                        && s.labels
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .eq(key.iter().cloned())
                })
                .ok_or(format!("{family}{key:?}: no _count"))?;
            if count.value != last.1 {
                return Err(format!(
                    "{family}{key:?}: +Inf bucket {} != count {}",
                    last.1, count.value
                ));
            }
        }
    }
    Ok(())
}
