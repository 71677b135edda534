//! From an HTTP request to the worker's view of it (contract §2.1): headers as sent, and
//! parameters: the raw body under `body`, or one per form field for multipart and urlencoded
//! bodies, plus query parameters on the legacy routes.

use super::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use worker_protocol::{Pair, Param};

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })
}

/// The MIME type without parameters (`application/json; charset=utf-8` → `application/json`).
pub fn mime_type(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default()
}

/// Header pairs in the order received, names spelled as the client sent them when known.
pub fn header_pairs(headers: &HeaderMap, ext: &axum::http::Extensions) -> Vec<Pair> {
    let names = ext
        .get::<super::header_case::OriginalNames>()
        .map(|n| n.0.as_slice());
    super::header_case::spelled(headers, names)
}

/// Query parameters as `(name, value)` pairs, percent-decoded.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The body as worker parameters.
pub async fn body_params(headers: &HeaderMap, body: Bytes) -> Result<Vec<Param>, ApiError> {
    let mime = mime_type(headers);
    if mime.eq_ignore_ascii_case("multipart/form-data") {
        let ct = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let boundary = multer::parse_boundary(ct)
            .map_err(|e| ApiError::BadRequest(format!("Invalid multipart request: {e}")))?;
        let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
        let mut mp = multer::Multipart::new(stream, boundary);
        let mut params = Vec::new();
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    return Err(ApiError::BadRequest(format!(
                        "Invalid multipart request: {e}"
                    )));
                }
            };
            let name = field.name().unwrap_or("").to_string();
            // File parts keep their content type; plain attributes have none (raw bytes).
            let content_type = if field.file_name().is_some() {
                field
                    .content_type()
                    .map(|m| m.essence_str().to_string())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let value = field
                .bytes()
                .await
                .map_err(|e| ApiError::BadRequest(format!("Invalid multipart request: {e}")))?;
            params.push(Param {
                name,
                content_type,
                value: value.to_vec(),
            });
        }
        return Ok(params);
    }
    if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Ok(form_urlencoded::parse(&body)
            .map(|(k, v)| Param {
                name: k.into_owned(),
                content_type: String::new(),
                value: v.into_owned().into_bytes(),
            })
            .collect());
    }
    Ok(vec![Param {
        name: "body".into(),
        content_type: mime,
        value: body.to_vec(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", ct.parse().unwrap());
        h
    }

    #[tokio::test]
    async fn raw_form_and_multipart_bodies() {
        let p = body_params(
            &headers("application/json; charset=utf-8"),
            Bytes::from_static(b"{}"),
        )
        .await
        .unwrap();
        assert_eq!(
            p,
            vec![Param {
                name: "body".into(),
                content_type: "application/json".into(),
                value: b"{}".to_vec()
            }]
        );

        let p = body_params(
            &headers("application/x-www-form-urlencoded"),
            Bytes::from_static(b"a=1&b=x%20y"),
        )
        .await
        .unwrap();
        assert_eq!(
            p[1],
            Param {
                name: "b".into(),
                content_type: String::new(),
                value: b"x y".to_vec()
            }
        );

        let body = "--XX\r\nContent-Disposition: form-data; name=\"data\"; filename=\"a.bin\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--XX\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\nv\r\n--XX--\r\n";
        let p = body_params(
            &headers("multipart/form-data; boundary=XX"),
            Bytes::from(body),
        )
        .await
        .unwrap();
        assert_eq!(
            p[0],
            Param {
                name: "data".into(),
                content_type: "image/png".into(),
                value: b"PNG".to_vec()
            }
        );
        assert_eq!(
            p[1],
            Param {
                name: "k".into(),
                content_type: String::new(),
                value: b"v".to_vec()
            }
        );

        let p = body_params(&HeaderMap::new(), Bytes::new()).await.unwrap();
        assert_eq!(
            p,
            vec![Param {
                name: "body".into(),
                content_type: String::new(),
                value: vec![]
            }]
        );
    }
}
