//! Property tests: every frame survives encode → decode unchanged, and no byte string makes the
//! decoder panic.

use proptest::collection::vec;
use proptest::prelude::*;
use worker_protocol::{
    BatchKind, Frame, Hello, LoadReply, LoadRequest, Metric, MetricKind, Pair, Param, PredictReply,
    PredictRequest, Request, Response, read_frame,
};

fn text() -> impl Strategy<Value = String> {
    // any Unicode, short: multi-byte characters exercise the byte lengths
    ".{0,12}"
}

fn pairs() -> impl Strategy<Value = Vec<Pair>> {
    vec((text(), text()), 0..4)
}

fn metric() -> impl Strategy<Value = Metric> {
    (
        text(),
        text(),
        prop_oneof![
            Just(MetricKind::Counter),
            Just(MetricKind::Gauge),
            Just(MetricKind::Histogram)
        ],
        // NaN != NaN would fail the equality check without saying anything about the codec
        any::<f64>().prop_filter("not NaN", |v| !v.is_nan()),
        pairs(),
    )
        .prop_map(|(name, unit, kind, value, dimensions)| Metric {
            name,
            unit,
            kind,
            value,
            dimensions,
        })
}

fn hello() -> impl Strategy<Value = Hello> {
    (any::<u16>(), any::<u32>(), text(), text()).prop_map(
        |(version, pid, python_version, worker_version)| Hello {
            version,
            pid,
            python_version,
            worker_version,
        },
    )
}

fn load() -> impl Strategy<Value = LoadRequest> {
    (
        (text(), text(), text(), text()),
        (
            any::<u32>(),
            any::<Option<u32>>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (text(), text()),
    )
        .prop_map(
            |(
                (model_name, model_dir, handler, envelope),
                (batch_size, gpu_id, limit_max_image_pixels, decode_input_request),
                (server_version, model_yaml_config),
            )| LoadRequest {
                model_name,
                model_dir,
                handler,
                envelope,
                batch_size,
                gpu_id,
                limit_max_image_pixels,
                decode_input_request,
                server_version,
                model_yaml_config,
            },
        )
}

fn load_reply() -> impl Strategy<Value = LoadReply> {
    (any::<u16>(), text(), text(), vec(metric(), 0..3)).prop_map(
        |(code, message, detail, metrics)| LoadReply {
            code,
            message,
            detail,
            metrics,
        },
    )
}

fn param() -> impl Strategy<Value = Param> {
    (text(), text(), vec(any::<u8>(), 0..32)).prop_map(|(name, content_type, value)| Param {
        name,
        content_type,
        value,
    })
}

fn predict() -> impl Strategy<Value = PredictRequest> {
    let request =
        (text(), pairs(), vec(param(), 0..3)).prop_map(|(request_id, headers, params)| Request {
            request_id,
            headers,
            params,
        });
    (
        any::<u64>(),
        prop_oneof![Just(BatchKind::Predict), Just(BatchKind::Describe)],
        vec(request, 0..4),
    )
        .prop_map(|(batch_id, kind, requests)| PredictRequest {
            batch_id,
            kind,
            requests,
        })
}

fn predict_reply() -> impl Strategy<Value = PredictReply> {
    let response = (
        text(),
        any::<u16>(),
        text(),
        proptest::option::of(text()),
        pairs(),
        vec(any::<u8>(), 0..32),
    )
        .prop_map(
            |(request_id, status, phrase, content_type, headers, body)| Response {
                request_id,
                status,
                phrase,
                content_type,
                headers,
                body,
            },
        );
    (
        any::<u64>(),
        any::<u16>(),
        text(),
        text(),
        vec(response, 0..4),
        vec(metric(), 0..3),
    )
        .prop_map(
            |(batch_id, code, message, detail, responses, metrics)| PredictReply {
                batch_id,
                code,
                message,
                detail,
                responses,
                metrics,
            },
        )
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        hello().prop_map(Frame::Hello),
        load().prop_map(Frame::Load),
        load_reply().prop_map(Frame::LoadReply),
        predict().prop_map(Frame::Predict),
        predict_reply().prop_map(Frame::Intermediate),
        predict_reply().prop_map(Frame::PredictReply),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_frame_round_trips(f in frame()) {
        let bytes = f.to_bytes();
        let len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        prop_assert_eq!(len, bytes.len() - 4);
        prop_assert_eq!(&Frame::decode(&bytes[4..]).unwrap(), &f);
        // the stream reader sees the same frame and then a clean end
        let mut cursor = std::io::Cursor::new(bytes);
        prop_assert_eq!(read_frame(&mut cursor, u32::MAX).unwrap(), Some(f));
        prop_assert_eq!(read_frame(&mut cursor, u32::MAX).unwrap(), None);
    }

    #[test]
    fn random_bytes_never_panic_the_decoder(body in vec(any::<u8>(), 0..256)) {
        let _ = Frame::decode(&body);
    }

    #[test]
    fn random_bytes_after_a_valid_tag_never_panic(tag in 0u8..8, rest in vec(any::<u8>(), 0..256)) {
        let mut body = vec![tag];
        body.extend(rest);
        let _ = Frame::decode(&body);
    }

    #[test]
    fn truncated_or_mutated_frames_never_panic(f in frame(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let bytes = f.to_bytes();
        let body = &bytes[4..];
        let _ = Frame::decode(&body[..cut.index(body.len() + 1)]);
        let mut mutated = body.to_vec();
        if !mutated.is_empty() {
            let i = flip.index(mutated.len());
            mutated[i] = byte;
        }
        let _ = Frame::decode(&mutated);
    }

    #[test]
    fn random_streams_never_panic_the_reader(wire in vec(any::<u8>(), 0..256)) {
        let mut cursor = std::io::Cursor::new(wire);
        while let Ok(Some(_)) = read_frame(&mut cursor, 1 << 16) {}
    }
}
