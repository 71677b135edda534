//! A reader for Java `.properties` files, the format of TorchServe's config.properties
//! (java.util.Properties.load): `#`/`!` comments, `=`, `:` or whitespace separators, backslash
//! escapes and line continuations. Later keys replace earlier ones; order is kept for logging.

/// Parses the text into `(key, value)` pairs in file order.
pub fn parse(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut logical = String::new();
    let mut continuing = false;
    for raw in text.lines() {
        let line = if continuing { raw.trim_start() } else { raw };
        if !continuing {
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') || t.starts_with('!') {
                continue;
            }
        }
        // An odd number of trailing backslashes continues the line.
        let trailing = line.chars().rev().take_while(|&c| c == '\\').count();
        if trailing % 2 == 1 {
            logical.push_str(&line[..line.len() - 1]);
            continuing = true;
            continue;
        }
        logical.push_str(line);
        continuing = false;
        out.push(split(&logical));
        logical.clear();
    }
    if continuing && !logical.trim().is_empty() {
        out.push(split(&logical));
    }
    out
}

fn split(line: &str) -> (String, String) {
    let line = line.trim_start();
    let mut key_end = line.len();
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' | ' ' | '\t' | '\u{c}' => {
                key_end = i;
                break;
            }
            _ => {}
        }
    }
    let key = unescape(&line[..key_end]);
    let mut rest = line[key_end..].trim_start_matches([' ', '\t', '\u{c}']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\u{c}']);
    }
    (key, unescape(rest))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn check(text: &str, expected: &[(&str, &str)]) {
        let got = parse(text);
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want, "input: {text:?}");
    }

    #[test]
    fn separators_comments_and_escapes() {
        check(
            "a=1\nb : 2\nc 3\n# x=y\n! z\n\n",
            &[("a", "1"), ("b", "2"), ("c", "3")],
        );
        check(
            "inference_address=http://0.0.0.0:8080",
            &[("inference_address", "http://0.0.0.0:8080")],
        );
        check("k=a\\\n    b\\\n  c", &[("k", "abc")]);
        check("my\\ key=v\\tx", &[("my key", "v\tx")]);
        check("k=\\u0041", &[("k", "A")]);
        check(
            "models={\"a\": {\"1.0\": {}}}",
            &[("models", "{\"a\": {\"1.0\": {}}}")],
        );
        check("empty=", &[("empty", "")]);
        check("lonely", &[("lonely", "")]);
    }
}
