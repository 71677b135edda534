//! Golden bytes for every frame: these pin the wire encoding, so any change to it must bump
//! `PROTOCOL_VERSION` and update this file on purpose.

use worker_protocol::{
    BatchKind, Frame, Hello, LoadReply, LoadRequest, Metric, MetricKind, Param, PredictReply,
    PredictRequest, ProtocolError, Request, Response, body_len, read_frame, write_frame,
};

/// Parses a golden spec: hex byte pairs, and `'text'` runs copied as ASCII. Whitespace separates
/// nothing and is ignored; it only lines the fields up for the reader.
fn golden(spec: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '\'' => {
                for t in chars.by_ref() {
                    if t == '\'' {
                        break;
                    }
                    out.push(u8::try_from(t).expect("golden text is ASCII"));
                }
            }
            hi => {
                let lo = chars.next().expect("odd number of hex digits");
                let pair: String = [hi, lo].iter().collect();
                out.push(u8::from_str_radix(&pair, 16).expect("hex digit"));
            }
        }
    }
    out
}

/// Checks the encoding of `frame` against `spec` (length prefix included), then decodes it back.
fn check(frame: Frame, spec: &str) {
    let expected = golden(spec);
    let bytes = frame.to_bytes();
    assert_eq!(bytes, expected, "encoding of {frame:?}");
    let len = body_len(bytes[..4].try_into().unwrap(), u32::MAX).unwrap();
    assert_eq!(len, bytes.len() - 4, "length prefix");
    assert_eq!(Frame::decode(&bytes[4..]).unwrap(), frame, "decoding");
}

#[test]
fn hello() {
    check(
        Frame::Hello(Hello {
            version: 1,
            pid: 0x0102_0304,
            python_version: "3.11".into(),
            worker_version: "0.1".into(),
        }),
        "16000000  01  0100  04030201  04000000'3.11'  03000000'0.1'",
    );
}

#[test]
fn load_without_gpu() {
    check(
        Frame::Load(LoadRequest {
            model_name: "m".into(),
            model_dir: "/d".into(),
            handler: "h.py".into(),
            envelope: String::new(),
            batch_size: 8,
            gpu_id: None,
            limit_max_image_pixels: true,
            decode_input_request: false,
            server_version: "0.12".into(),
            model_yaml_config: "{}".into(),
        }),
        "2d000000  02
         01000000'm'  02000000'/d'  04000000'h.py'  00000000
         08000000  00  01  00  04000000'0.12'  02000000'{}'",
    );
}

#[test]
fn load_with_gpu_and_envelope() {
    check(
        Frame::Load(LoadRequest {
            model_name: "m".into(),
            model_dir: "/d".into(),
            handler: "h:f".into(),
            envelope: "json".into(),
            batch_size: 1,
            gpu_id: Some(3),
            limit_max_image_pixels: false,
            decode_input_request: true,
            server_version: String::new(),
            model_yaml_config: "{\"a\":1}".into(),
        }),
        "35000000  02
         01000000'm'  02000000'/d'  03000000'h:f'  04000000'json'
         01000000  01 03000000  00  01  00000000  07000000'{\"a\":1}'",
    );
}

#[test]
fn load_reply_success() {
    check(
        Frame::LoadReply(LoadReply {
            code: 200,
            message: "loaded model m".into(),
            detail: String::new(),
            metrics: vec![],
        }),
        "1d000000  03  c800  0e000000'loaded model m'  00000000  00000000",
    );
}

#[test]
fn load_reply_failure_with_metric() {
    check(
        Frame::LoadReply(LoadReply {
            code: 500,
            message: "E".into(),
            detail: "tb".into(),
            metrics: vec![Metric {
                name: "C".into(),
                unit: "count".into(),
                kind: MetricKind::Counter,
                value: 1.0,
                dimensions: vec![("Level".into(), "Model".into())],
            }],
        }),
        "3f000000  03  f401  01000000'E'  02000000'tb'
         01000000
           01000000'C'  05000000'count'  00  000000000000f03f
           01000000  05000000'Level' 05000000'Model'",
    );
}

#[test]
fn predict_batch_of_two() {
    check(
        Frame::Predict(PredictRequest {
            batch_id: 0x0807_0605_0403_0201,
            kind: BatchKind::Predict,
            requests: vec![
                Request {
                    request_id: "r1".into(),
                    headers: vec![("X-A".into(), "v".into())],
                    params: vec![Param {
                        name: "body".into(),
                        content_type: "text/plain".into(),
                        value: b"hi".to_vec(),
                    }],
                },
                Request {
                    request_id: "r2".into(),
                    headers: vec![],
                    params: vec![],
                },
            ],
        }),
        "52000000  04  0102030405060708  00
         02000000
           02000000'r1'
           01000000  03000000'X-A' 01000000'v'
           01000000  04000000'body' 0a000000'text/plain' 02000000'hi'
           02000000'r2'  00000000  00000000",
    );
}

#[test]
fn describe_batch() {
    check(
        Frame::Predict(PredictRequest {
            batch_id: 7,
            kind: BatchKind::Describe,
            requests: vec![],
        }),
        "0e000000  04  0700000000000000  01  00000000",
    );
}

fn reply_with_two_responses() -> PredictReply {
    PredictReply {
        batch_id: 9,
        code: 200,
        message: String::new(),
        detail: String::new(),
        responses: vec![
            Response {
                request_id: "a".into(),
                status: 201,
                phrase: "Made".into(),
                content_type: Some("text/plain".into()),
                headers: vec![("k".into(), "v".into())],
                body: vec![0, 0xff],
            },
            Response {
                request_id: "b".into(),
                status: 200,
                phrase: String::new(),
                content_type: None,
                headers: vec![],
                body: vec![],
            },
        ],
        metrics: vec![Metric {
            name: "T".into(),
            unit: "ms".into(),
            kind: MetricKind::Gauge,
            value: -2.5,
            dimensions: vec![],
        }],
    }
}

const REPLY_BODY: &str = "0900000000000000  c800  00000000  00000000
     02000000
       01000000'a'  c900  04000000'Made'  01 0a000000'text/plain'
       01000000  01000000'k' 01000000'v'  02000000 00ff
       01000000'b'  c800  00000000  00  00000000  00000000
     01000000
       01000000'T'  02000000'ms'  01  00000000000004c0  00000000";

#[test]
fn predict_reply() {
    check(
        Frame::PredictReply(reply_with_two_responses()),
        &format!("79000000  05  {REPLY_BODY}"),
    );
}

#[test]
fn intermediate_reply_differs_only_by_tag() {
    check(
        Frame::Intermediate(reply_with_two_responses()),
        &format!("79000000  06  {REPLY_BODY}"),
    );
}

#[test]
fn batch_error_reply_with_histogram() {
    check(
        Frame::PredictReply(PredictReply {
            batch_id: 1,
            code: 503,
            message: "Prediction failed".into(),
            detail: "Traceback".into(),
            responses: vec![],
            metrics: vec![Metric {
                name: "H".into(),
                unit: String::new(),
                kind: MetricKind::Histogram,
                value: 0.0,
                dimensions: vec![],
            }],
        }),
        "4b000000  05  0100000000000000  f701  11000000'Prediction failed'  09000000'Traceback'
         00000000
         01000000  01000000'H'  00000000  02  0000000000000000  00000000",
    );
}

#[test]
fn decode_errors_name_the_problem() {
    assert_eq!(Frame::decode(&[]), Err(ProtocolError::Empty));
    assert_eq!(Frame::decode(&[0x63]), Err(ProtocolError::UnknownTag(0x63)));
    assert_eq!(
        Frame::decode(&golden("01 0100")),
        Err(ProtocolError::Truncated {
            offset: 3,
            needed: 4
        })
    );
    // hello with an extra byte at the end
    assert_eq!(
        Frame::decode(&golden("01 0100 00000000 00000000 00000000 ff")),
        Err(ProtocolError::TrailingBytes(1))
    );
    // a bool that is neither 0 nor 1 (limit_max_image_pixels of a load)
    let mut load = Frame::Load(LoadRequest {
        model_name: String::new(),
        model_dir: String::new(),
        handler: String::new(),
        envelope: String::new(),
        batch_size: 1,
        gpu_id: None,
        limit_max_image_pixels: false,
        decode_input_request: false,
        server_version: String::new(),
        model_yaml_config: String::new(),
    })
    .to_bytes();
    load[4 + 1 + 16 + 4 + 1] = 2;
    assert_eq!(
        Frame::decode(&load[4..]),
        Err(ProtocolError::InvalidValue {
            field: "limit_max_image_pixels",
            value: 2,
            offset: 22
        })
    );
    // invalid UTF-8 in the python version of a hello
    assert_eq!(
        Frame::decode(&golden("01 0100 00000000 01000000 ff 00000000")),
        Err(ProtocolError::InvalidUtf8 { offset: 7 })
    );
    // batch kind 2 does not exist
    assert!(matches!(
        Frame::decode(&golden("04 0000000000000000 02 00000000")),
        Err(ProtocolError::InvalidValue {
            field: "batch kind",
            value: 2,
            ..
        })
    ));
    // a list count larger than the rest of the frame is refused before allocating
    assert!(matches!(
        Frame::decode(&golden("04 0000000000000000 00 ffffffff")),
        Err(ProtocolError::Truncated { .. })
    ));
}

#[test]
fn body_len_refuses_oversized_frames() {
    assert_eq!(body_len(10u32.to_le_bytes(), 10), Ok(10));
    assert_eq!(
        body_len(11u32.to_le_bytes(), 10),
        Err(ProtocolError::TooLarge { len: 11, max: 10 })
    );
}

#[test]
fn stream_read_and_write() {
    let frames = vec![
        Frame::Predict(PredictRequest {
            batch_id: 1,
            kind: BatchKind::Describe,
            requests: vec![],
        }),
        Frame::PredictReply(reply_with_two_responses()),
    ];
    let mut wire = Vec::new();
    for f in &frames {
        write_frame(&mut wire, f).unwrap();
    }
    let mut cursor = std::io::Cursor::new(wire.clone());
    for f in &frames {
        assert_eq!(read_frame(&mut cursor, 1 << 20).unwrap().as_ref(), Some(f));
    }
    assert_eq!(
        read_frame(&mut cursor, 1 << 20).unwrap(),
        None,
        "clean end of stream"
    );

    // a stream cut inside the length prefix, or inside the body, is an error, not a clean end
    let mut cut = std::io::Cursor::new(wire[..2].to_vec());
    assert_eq!(
        read_frame(&mut cut, 1 << 20),
        Err(ProtocolError::Truncated {
            offset: 2,
            needed: 2
        })
    );
    let mut cut = std::io::Cursor::new(wire[..8].to_vec());
    assert!(matches!(
        read_frame(&mut cut, 1 << 20),
        Err(ProtocolError::Io(_))
    ));
    // a prefix above the limit is refused without reading the body
    let mut big = std::io::Cursor::new(wire.clone());
    assert!(matches!(
        read_frame(&mut big, 4),
        Err(ProtocolError::TooLarge { .. })
    ));
}
