//! Contract §2.1: what `data` looks like — one dict per request, parameter name → value,
//! values decoded by content type (JSON → parsed, text/* → str, else bytearray).
use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};

use super::common::*;
use crate::client::{Req, Resp};
use crate::ensure;
use crate::harness::{
    CheckResult, CheckSpec, Failure, Group::Decoding as G, Session, must, should,
};

pub const CHECKS: &[CheckSpec] = &[
    must(
        "DEC-2.1-01",
        G,
        "An application/json object body reaches the handler as data[0][\"body\"], a dict",
    ),
    must("DEC-2.1-02", G, "A JSON array body arrives as a list"),
    must(
        "DEC-2.1-03",
        G,
        "JSON scalars arrive parsed: number → int/float, string → str, true → bool, null → None",
    ),
    must(
        "DEC-2.1-04",
        G,
        "Invalid JSON under application/json arrives as the raw bytes (bytearray)",
    ),
    must(
        "DEC-2.1-05",
        G,
        "A text/plain body arrives as str, UTF-8 decoded",
    ),
    must(
        "DEC-2.1-06",
        G,
        "text/plain; charset=utf-8 arrives as str and the parameter's content type drops the charset",
    ),
    must("DEC-2.1-07", G, "Any text/* type (text/csv) arrives as str"),
    must(
        "DEC-2.1-08",
        G,
        "An application/octet-stream body arrives as a bytearray with the exact bytes",
    ),
    must(
        "DEC-2.1-09",
        G,
        "A body without Content-Type arrives as a bytearray and the parameter's content type is \"\"",
    ),
    must(
        "DEC-2.1-10",
        G,
        "A multipart file part named data arrives as data[0][\"data\"] with the part's content type",
    ),
    must(
        "DEC-2.1-11",
        G,
        "A multipart file part typed text/plain arrives as str",
    ),
    must(
        "DEC-2.1-12",
        G,
        "A multipart part typed application/json arrives parsed",
    ),
    must(
        "DEC-2.1-13",
        G,
        "A multipart attribute (no file name) arrives as a bytearray with content type \"\"",
    ),
    must(
        "DEC-2.1-14",
        G,
        "Each multipart field is its own key, in the order sent",
    ),
    should(
        "DEC-2.1-15",
        G,
        "Multipart parts with the same name collapse: the last one wins",
    ),
    must(
        "DEC-2.1-16",
        G,
        "An x-www-form-urlencoded body arrives as one key per field with URL-decoded bytearray values",
    ),
    must(
        "DEC-2.1-17",
        G,
        "application/json; charset=utf-8 is parsed as JSON",
    ),
    must("DEC-2.1-18", G, "Non-ASCII JSON strings arrive intact"),
    must(
        "DEC-2.1-19",
        G,
        "An unknown type (application/x-tsconform) arrives as a bytearray",
    ),
    should("DEC-2.1-20", G, "A 1 MiB binary body arrives intact"),
    should(
        "DEC-2.1-21",
        G,
        "An empty body arrives as an empty bytearray",
    ),
    must(
        "DEC-2.1-22",
        G,
        "Each request is one dict in data: len(data) is 1 for a single request",
    ),
];

const ECHO: &str = "dec_echo";

pub fn run(s: &Session) -> LocalBoxFuture<'_, anyhow::Result<()>> {
    Box::pin(body(s))
}

/// Sends `req` to the echo fixture and returns (response, echo JSON).
async fn seen(req: Req) -> Result<(Resp, Value), Failure> {
    let resp = req.send().await?;
    let v = ok_json(&resp)?;
    Ok((resp, v))
}

/// Checks the echo's view of parameter `key`: its Python type and its value.
fn expect(resp: &Resp, v: &Value, key: &str, ty: &str, value: &Value) -> CheckResult {
    ensure!(
        v["types"][key] == ty,
        resp,
        "data[0][{key:?}] should be a {ty}, got {}",
        v["types"][key]
    );
    ensure!(
        v["values"][key] == *value,
        resp,
        "data[0][{key:?}] should be {value}, got {}",
        v["values"][key]
    );
    Ok(())
}

fn b64(bytes: &[u8]) -> Value {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    json!({ "__bytes_b64__": out })
}

fn param_type(v: &Value, key: &str) -> Value {
    v["headers"][key]["content-type"].clone()
}

async fn body(s: &Session) -> anyhow::Result<()> {
    setup_model(s, "echo", ECHO, 1, &[]).await?;
    let path = format!("/predictions/{ECHO}");
    let post = || s.inference.post(&path);
    let binary: Vec<u8> = (0..=255u8).chain([0, 255, 0]).collect();
    let big: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 % 251) as u8).collect();

    tokio::join!(
        s.check("DEC-2.1-01", async {
            let (r, v) = seen(post().json(&json!({"a": [1, 2], "b": {"c": null}}))).await?;
            expect(
                &r,
                &v,
                "body",
                "dict",
                &json!({"a": [1, 2], "b": {"c": null}}),
            )
        }),
        s.check("DEC-2.1-02", async {
            let (r, v) = seen(post().json(&json!([1, "two", 3.5]))).await?;
            expect(&r, &v, "body", "list", &json!([1, "two", 3.5]))
        }),
        s.check("DEC-2.1-03", async {
            for (text, ty, value) in [
                ("7", "int", json!(7)),
                ("2.5", "float", json!(2.5)),
                ("\"x\"", "str", json!("x")),
                ("true", "bool", json!(true)),
                ("null", "NoneType", Value::Null),
            ] {
                let (r, v) = seen(post().body(Some("application/json"), text)).await?;
                expect(&r, &v, "body", ty, &value)?;
            }
            Ok(())
        }),
        s.check("DEC-2.1-04", async {
            let (r, v) = seen(post().body(Some("application/json"), "{bad")).await?;
            expect(&r, &v, "body", "bytearray", &b64(b"{bad"))
        }),
        s.check("DEC-2.1-05", async {
            let (r, v) = seen(post().body(Some("text/plain"), "h\u{e9}llo \u{2713}")).await?;
            expect(&r, &v, "body", "str", &json!("h\u{e9}llo \u{2713}"))?;
            ensure!(
                param_type(&v, "body") == "text/plain",
                r,
                "the parameter's content type should be text/plain"
            );
            Ok(())
        }),
        s.check("DEC-2.1-06", async {
            let (r, v) = seen(post().body(Some("text/plain; charset=utf-8"), "abc")).await?;
            expect(&r, &v, "body", "str", &json!("abc"))?;
            ensure!(
                param_type(&v, "body") == "text/plain",
                r,
                "the parameter's content type should be text/plain, got {}",
                param_type(&v, "body")
            );
            Ok(())
        }),
        s.check("DEC-2.1-07", async {
            let (r, v) = seen(post().body(Some("text/csv"), "a,b\n1,2")).await?;
            expect(&r, &v, "body", "str", &json!("a,b\n1,2"))
        }),
        s.check("DEC-2.1-08", async {
            let (r, v) =
                seen(post().body(Some("application/octet-stream"), binary.clone())).await?;
            expect(&r, &v, "body", "bytearray", &b64(&binary))?;
            ensure!(
                param_type(&v, "body") == "application/octet-stream",
                r,
                "content type should be recorded"
            );
            Ok(())
        }),
        s.check("DEC-2.1-09", async {
            let (r, v) = seen(post().body(None, "raw")).await?;
            expect(&r, &v, "body", "bytearray", &b64(b"raw"))?;
            ensure!(
                param_type(&v, "body") == "",
                r,
                "the parameter's content type should be \"\""
            );
            Ok(())
        }),
        s.check("DEC-2.1-10", async {
            let png = b"\x89PNG\r\n\x1a\nfake";
            let (r, v) = seen(post().part("data", png, Some("image/png"), Some("x.png"))).await?;
            ensure!(
                v["keys"] == json!(["data"]),
                r,
                "keys should be [\"data\"], got {}",
                v["keys"]
            );
            expect(&r, &v, "data", "bytearray", &b64(png))?;
            ensure!(
                param_type(&v, "data") == "image/png",
                r,
                "the part's content type should be image/png"
            );
            Ok(())
        }),
        s.check("DEC-2.1-11", async {
            let (r, v) =
                seen(post().part("data", b"plain text", Some("text/plain"), Some("x.txt"))).await?;
            expect(&r, &v, "data", "str", &json!("plain text"))
        }),
        s.check("DEC-2.1-12", async {
            let (r, v) = seen(post().part(
                "j",
                br#"{"k": [1]}"#,
                Some("application/json"),
                Some("j.json"),
            ))
            .await?;
            expect(&r, &v, "j", "dict", &json!({"k": [1]}))
        }),
        s.check("DEC-2.1-13", async {
            let (r, v) = seen(post().part("attr", b"value", None, None)).await?;
            expect(&r, &v, "attr", "bytearray", &b64(b"value"))?;
            ensure!(
                param_type(&v, "attr") == "",
                r,
                "an attribute part carries no content type"
            );
            Ok(())
        }),
        s.check("DEC-2.1-14", async {
            let req = post()
                .part("zeta", b"1", None, None)
                .part("alpha", b"2", Some("text/plain"), Some("a.txt"))
                .part("mid", b"3", None, None);
            let (r, v) = seen(req).await?;
            ensure!(
                v["keys"] == json!(["zeta", "alpha", "mid"]),
                r,
                "keys should follow the form order, got {}",
                v["keys"]
            );
            Ok(())
        }),
        s.check("DEC-2.1-15", async {
            let (r, v) = seen(
                post()
                    .part("a", b"first", None, None)
                    .part("a", b"second", None, None),
            )
            .await?;
            expect(&r, &v, "a", "bytearray", &b64(b"second"))
        }),
        s.check("DEC-2.1-16", async {
            let (r, v) =
                seen(post().body(Some("application/x-www-form-urlencoded"), "a=1&b=x%20y")).await?;
            ensure!(
                v["keys"] == json!(["a", "b"]),
                r,
                "keys should be [a, b], got {}",
                v["keys"]
            );
            expect(&r, &v, "a", "bytearray", &b64(b"1"))?;
            expect(&r, &v, "b", "bytearray", &b64(b"x y"))
        }),
        s.check("DEC-2.1-17", async {
            let (r, v) =
                seen(post().body(Some("application/json; charset=utf-8"), r#"{"a": 1}"#)).await?;
            expect(&r, &v, "body", "dict", &json!({"a": 1}))
        }),
        s.check("DEC-2.1-18", async {
            let (r, v) =
                seen(post().json(&json!({"t": "\u{65e5}\u{672c} \u{1f600} \u{e9}"}))).await?;
            expect(
                &r,
                &v,
                "body",
                "dict",
                &json!({"t": "\u{65e5}\u{672c} \u{1f600} \u{e9}"}),
            )
        }),
        s.check("DEC-2.1-19", async {
            let (r, v) = seen(post().body(Some("application/x-tsconform"), "xyz")).await?;
            expect(&r, &v, "body", "bytearray", &b64(b"xyz"))
        }),
        s.check("DEC-2.1-20", async {
            let (r, v) = seen(post().body(Some("application/octet-stream"), big.clone())).await?;
            let got = echo_bytes(&v["values"]["body"]).unwrap_or_default();
            ensure!(
                got == big,
                r,
                "the 1 MiB body changed on the way ({} bytes arrived)",
                got.len()
            );
            Ok(())
        }),
        s.check("DEC-2.1-21", async {
            let (r, v) = seen(post().body(None, Vec::new())).await?;
            expect(&r, &v, "body", "bytearray", &b64(b""))
        }),
        s.check("DEC-2.1-22", async {
            let (r, v) = seen(post().json(&json!(1))).await?;
            ensure!(
                v["len_data"] == 1 && v["index"] == 0,
                r,
                "a single request should be data[0] of a one-element list"
            );
            Ok(())
        }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64_matches_python() {
        assert_eq!(b64(b""), json!({"__bytes_b64__": ""}));
        assert_eq!(b64(b"1"), json!({"__bytes_b64__": "MQ=="}));
        assert_eq!(b64(b"vm\n"), json!({"__bytes_b64__": "dm0K"}));
        assert_eq!(
            echo_bytes(&b64(b"\x00\x01\xffraw-bytes!")).unwrap(),
            b"\x00\x01\xffraw-bytes!"
        );
    }
}
