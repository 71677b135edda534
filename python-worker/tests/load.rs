//! Loading handlers by TorchServe's rules, and load failures with their tracebacks.

mod common;

use common::*;
use worker_protocol::PROTOCOL_VERSION;

#[test]
fn hello_then_function_entry_point_initialised_once() -> anyhow::Result<()> {
    let dir = fixture("fn_entry");
    let mut w = Worker::start(&dir)?;
    assert_eq!(w.hello.version, PROTOCOL_VERSION);
    assert_eq!(w.hello.pid, w.pid());
    assert!(w.hello.python_version.starts_with("3."), "{:?}", w.hello);
    let reply = w.load(&dir, "fn_entry:predict")?;
    assert_eq!((reply.code, reply.message.as_str(), reply.detail.as_str()), (200, "loaded model test", ""));
    for _ in 0..2 {
        let r = w.predict(vec![body("a", "", b"x")])?;
        assert_eq!(r.code, 200, "{r:?}");
        let v = json_of(&r.responses[0].body);
        assert_eq!(v["entry"], "predict");
        assert_eq!(v["init_calls"], 1);
        assert_eq!(v["init_records"][0]["data_is_none"], true);
        assert_eq!(v["init_records"][0]["request_ids_unset"], true);
        assert_eq!(v["init_records"][0]["batch_size"], 4);
    }
    Ok(())
}
