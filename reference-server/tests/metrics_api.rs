//! Metrics API (contract §5.3): `GET /metrics` is valid Prometheus text 0.0.4 (checked by a
//! strict parser), counts what was served, carries the handler's own metrics, and honours the
//! `name[]` filter.

mod common;

use common::prometheus::{Exposition, parse};
use common::{Api, ServerOptions, TestServer};
use serde_json::json;

fn scrape(s: &TestServer, query: &str) -> Exposition {
    let r = s.get(Api::Metrics, &format!("/metrics{query}"));
    assert_eq!(r.status, 200);
    let ct = r.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("text/plain") && ct.contains("version=0.0.4"),
        "content type {ct:?}"
    );
    parse(&r.text()).unwrap_or_else(|e| panic!("invalid exposition: {e}\n{}", r.text()))
}

#[test]
fn metrics_count_requests_and_carry_handler_metrics() {
    let s = ServerOptions::default()
        .fixture("echo")
        .fixture("metrics_emitter")
        .fixture("errors")
        .start();
    let empty = scrape(&s, "");
    assert!(
        empty.find("ts_inference_requests_total", &[]).is_empty(),
        "nothing served yet"
    );
    for m in ["echo", "metrics_emitter", "errors"] {
        s.register_ok(&format!("url={m}.mar&initial_workers=1&synchronous=true"));
    }
    for _ in 0..5 {
        assert_eq!(s.predict_json("echo", &json!({})).status, 200);
    }
    for _ in 0..2 {
        assert_eq!(s.predict_json("echo/1.0", &json!({})).status, 200);
    }
    for _ in 0..3 {
        assert_eq!(s.predict_json("metrics_emitter", &json!({})).status, 200);
    }
    assert_eq!(
        s.predict_json("errors", &json!({"mode": "plain"})).status,
        503
    );
    assert_eq!(s.predict_json("missing", &json!({})).status, 404);

    let m = scrape(&s, "");
    let host =
        m.find("ts_inference_requests_total", &[("model_name", "echo")])[0].labels["hostname"]
            .clone();
    assert!(!host.is_empty());
    assert_eq!(m.types["ts_inference_requests_total"], "counter");
    assert_eq!(
        m.value(
            "ts_inference_requests_total",
            &[("model_name", "echo"), ("model_version", "default")]
        ),
        5.0
    );
    assert_eq!(
        m.value(
            "ts_inference_requests_total",
            &[("model_name", "echo"), ("model_version", "1.0")]
        ),
        2.0
    );
    assert_eq!(
        m.value("ts_inference_requests_total", &[("model_name", "errors")]),
        1.0,
        "failed requests count too"
    );
    assert!(
        m.value(
            "ts_inference_latency_microseconds",
            &[("model_name", "echo"), ("model_version", "default")]
        ) > 0.0
    );
    assert!(
        m.value(
            "ts_queue_latency_microseconds",
            &[("model_name", "echo"), ("model_version", "1.0")]
        ) >= 0.0
    );
    // Every answer of every API counts by status class; these are lower bounds because the
    // management calls above count as well.
    assert!(m.value("Requests2XX", &[("Level", "Host")]) >= 10.0);
    assert!(m.value("Requests4XX", &[("Level", "Host")]) >= 1.0);
    assert!(m.value("Requests5XX", &[("Level", "Host")]) >= 1.0);
    // Batches of one, seven of them, for echo 1.0 (both routes reach the same version).
    assert_eq!(m.types["ts_batch_size"], "histogram");
    assert_eq!(
        m.value(
            "ts_batch_size_count",
            &[("model_name", "echo"), ("model_version", "1.0")]
        ),
        7.0
    );
    assert_eq!(
        m.value(
            "ts_batch_size_sum",
            &[("model_name", "echo"), ("model_version", "1.0")]
        ),
        7.0
    );
    assert_eq!(
        m.value(
            "ts_queue_depth",
            &[("model_name", "echo"), ("model_version", "1.0")]
        ),
        0.0
    );
    for gauge in ["QueueTime", "WorkerThreadTime", "WorkerLoadTime"] {
        assert_eq!(
            m.types.get(gauge).map(String::as_str),
            Some("gauge"),
            "{gauge}"
        );
    }

    // Handler metrics (see the metrics_emitter fixture), with ModelName and Hostname added.
    let me = [("ModelName", "metrics_emitter")];
    assert_eq!(
        m.value("LoadCounter", &[("Stage", "init"), me[0]]),
        1.0,
        "recorded once, at load"
    );
    assert_eq!(m.types["Requests"], "counter");
    assert_eq!(
        m.value(
            "Requests",
            &[("Route", "predict"), me[0], ("Hostname", &host)]
        ),
        3.0
    );
    assert_eq!(m.value("HandlerMs", &me), 12.5);
    assert_eq!(m.value("PayloadSize", &me), 3.0);
    assert_eq!(m.value("Utilisation", &me), 75.0);
    assert_eq!(m.types["Latency"], "histogram");
    assert_eq!(m.value("Latency_count", &me), 3.0);
    assert_eq!(m.value("Latency_sum", &me), 21.0);
    assert_eq!(
        m.find("Custom", &[("Color", "red"), me[0]]).len(),
        1,
        "add_metric_to_cache + add_or_update"
    );

    // name[] keeps only the named families.
    let some = scrape(&s, "?name[]=ts_inference_requests_total&name[]=Requests2XX");
    let families: std::collections::BTreeSet<&str> =
        some.types.keys().map(String::as_str).collect();
    assert_eq!(
        families,
        ["Requests2XX", "ts_inference_requests_total"]
            .into_iter()
            .collect()
    );
    assert_eq!(
        some.value(
            "ts_inference_requests_total",
            &[("model_name", "echo"), ("model_version", "default")]
        ),
        5.0
    );
}

#[test]
fn metrics_api_can_be_disabled() {
    let s = ServerOptions::default()
        .prop("enable_metrics_api", "false")
        .start();
    assert!(s.metrics.is_none(), "no metrics address in the ready file");
    assert_eq!(s.get(Api::Inference, "/ping").status, 200);
}
