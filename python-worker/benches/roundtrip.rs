//! Worker round-trip benchmark: drives one `ts-worker` directly over its socket with a trivial
//! echo handler and reports calls per second and the overhead per request (round trip minus
//! the time Python spends in the handler) at batch sizes 1 and 8, next to the floor: the same
//! handler called in a plain Python loop.
//!
//! Each figure is the median of ROUNDTRIP_ROUNDS rounds (default 5) of ROUNDTRIP_CALLS batches
//! (default 20000), with the best round beside it: on a shared 2-core machine other processes
//! steal time, and the best round is the closest to the worker's own cost. The bare socket
//! ping-pong of the same frames between two threads (no Python, no worker) is measured in the
//! same run as the IPC floor.
//!
//! Run: `cargo bench -p python-worker --bench roundtrip`.

use std::io::{BufReader, BufWriter, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use worker_protocol::{
    BatchKind, DEFAULT_MAX_FRAME, Frame, LoadRequest, Param, PredictReply, PredictRequest, Request,
    read_frame,
};

const BODY: &[u8] = b"0123456789abcdef0123456789abcdef";

struct Conn {
    reader: BufReader<std::os::unix::net::UnixStream>,
    writer: BufWriter<std::os::unix::net::UnixStream>,
    batch_id: u64,
}

impl Conn {
    fn round_trip(&mut self, kind: BatchKind, requests: Vec<Request>) -> Result<PredictReply> {
        self.batch_id += 1;
        let frame = Frame::Predict(PredictRequest {
            batch_id: self.batch_id,
            kind,
            requests,
        });
        self.writer.write_all(&frame.to_bytes())?;
        self.writer.flush()?;
        match read_frame(&mut self.reader, DEFAULT_MAX_FRAME)? {
            Some(Frame::PredictReply(r)) if r.code == 200 => Ok(r),
            other => bail!("unexpected reply {other:?}"),
        }
    }

    /// (handler ns, handler calls) since the last stats call
    fn handler_stats(&mut self) -> Result<(u64, u64)> {
        let r = self.round_trip(BatchKind::Describe, requests(1))?;
        let text = String::from_utf8(r.responses[0].body.clone())?;
        let (ns, calls) = text.split_once(' ').context("stats format")?;
        Ok((ns.parse()?, calls.parse()?))
    }
}

fn requests(n: usize) -> Vec<Request> {
    (0..n)
        .map(|i| Request {
            request_id: format!("00000000-0000-0000-0000-{i:012}"),
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            params: vec![Param {
                name: "body".into(),
                content_type: "application/octet-stream".into(),
                value: BODY.to_vec(),
            }],
        })
        .collect()
}

struct Measured {
    calls_per_s: f64,
    round_trip_us: f64,
    handler_us: f64,
}

fn measure(conn: &mut Conn, batch: usize, calls: usize) -> Result<Measured> {
    let reqs = requests(batch);
    for _ in 0..calls / 10 {
        conn.round_trip(BatchKind::Predict, reqs.clone())?;
    }
    conn.handler_stats()?;
    let start = Instant::now();
    for _ in 0..calls {
        conn.round_trip(BatchKind::Predict, reqs.clone())?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (handler_ns, handler_calls) = conn.handler_stats()?;
    assert_eq!(handler_calls as usize, calls);
    Ok(Measured {
        calls_per_s: calls as f64 / elapsed,
        round_trip_us: elapsed * 1e6 / calls as f64,
        handler_us: handler_ns as f64 / 1e3 / calls as f64,
    })
}

/// The same handler, called in a plain Python loop with a minimal context: the floor.
fn python_floor(handler_dir: &Path, batch: usize, calls: usize) -> Result<f64> {
    let script = format!(
        r#"
import sys, time
sys.path.insert(0, {dir:?})
import bench_echo
class Ctx:
    def get_request_header(self, idx, key):
        return None
ctx = Ctx()
body = {body:?}.encode()
for _ in range({warm}):
    bench_echo.handle([{{"body": bytearray(body)}} for _ in range({batch})], ctx)
start = time.perf_counter()
for _ in range({calls}):
    bench_echo.handle([{{"body": bytearray(body)}} for _ in range({batch})], ctx)
print((time.perf_counter() - start) / {calls} * 1e6)
"#,
        dir = handler_dir.display().to_string(),
        body = String::from_utf8_lossy(BODY),
        warm = calls / 10,
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .context("run python3")?;
    if !out.status.success() {
        bail!(
            "python floor failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

/// Round trip of the same request and reply frames between two threads over a socket pair,
/// decoding included: what any worker pays before running Python at all.
fn ipc_floor(batch: usize, calls: usize) -> Result<f64> {
    let (client, server) = std::os::unix::net::UnixStream::pair()?;
    let reply = Frame::PredictReply(PredictReply {
        batch_id: 0,
        code: 200,
        message: String::new(),
        detail: String::new(),
        responses: requests(batch)
            .into_iter()
            .map(|r| worker_protocol::Response {
                request_id: r.request_id,
                status: 200,
                phrase: String::new(),
                content_type: None,
                headers: vec![],
                body: BODY.to_vec(),
            })
            .collect(),
        metrics: vec![],
    });
    let echo = std::thread::spawn(move || -> Result<()> {
        let mut reader = BufReader::new(server.try_clone()?);
        let mut writer = server;
        while let Some(_frame) = read_frame(&mut reader, DEFAULT_MAX_FRAME)? {
            writer.write_all(&reply.to_bytes())?;
        }
        Ok(())
    });
    let mut reader = BufReader::new(client.try_clone()?);
    let mut writer = client;
    let request = Frame::Predict(PredictRequest {
        batch_id: 0,
        kind: BatchKind::Predict,
        requests: requests(batch),
    });
    let mut once = || -> Result<()> {
        writer.write_all(&request.to_bytes())?;
        read_frame(&mut reader, DEFAULT_MAX_FRAME)?.context("echo ended")?;
        Ok(())
    };
    for _ in 0..calls / 10 {
        once()?;
    }
    let start = Instant::now();
    for _ in 0..calls {
        once()?;
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / calls as f64;
    drop(writer);
    drop(reader);
    echo.join().expect("echo thread")?;
    Ok(us)
}

/// (median, best) of per-round figures
fn median_best(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0])
}

fn main() -> Result<()> {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run briefly then
    let quick = !std::env::args().any(|a| a == "--bench");
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let calls = env("ROUNDTRIP_CALLS", if quick { 200 } else { 20_000 });
    let rounds = env("ROUNDTRIP_ROUNDS", if quick { 1 } else { 5 }).max(1);
    let handler_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/bench_echo")
        .canonicalize()?;
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("bench.sock");
    let listener = UnixListener::bind(&socket)?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ts-worker"))
        .arg("--socket")
        .arg(&socket)
        .current_dir(&handler_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let (stream, _) = listener.accept()?;
    let mut conn = Conn {
        reader: BufReader::new(stream.try_clone()?),
        writer: BufWriter::new(stream),
        batch_id: 0,
    };
    let Some(Frame::Hello(hello)) = read_frame(&mut conn.reader, DEFAULT_MAX_FRAME)? else {
        bail!("no hello")
    };
    let load = LoadRequest {
        model_name: "bench".into(),
        model_dir: handler_dir.display().to_string(),
        handler: "bench_echo".into(),
        envelope: String::new(),
        batch_size: 8,
        gpu_id: None,
        limit_max_image_pixels: true,
        decode_input_request: true,
        server_version: "0.12.0".into(),
        model_yaml_config: "{}".into(),
    };
    conn.writer.write_all(&Frame::Load(load).to_bytes())?;
    conn.writer.flush()?;
    match read_frame(&mut conn.reader, DEFAULT_MAX_FRAME)? {
        Some(Frame::LoadReply(r)) if r.code == 200 => {}
        other => bail!("load failed: {other:?}"),
    }

    println!(
        "worker round trip, echo handler, {} B body, Python {}, median (best) of {rounds} rounds x {calls} batches",
        BODY.len(),
        hello.python_version
    );
    println!(
        "{:>5} {:>16} {:>18} {:>12} {:>20} {:>18} {:>16}",
        "batch",
        "calls/s",
        "round trip us",
        "handler us",
        "overhead us/req",
        "python loop us/req",
        "ipc floor us"
    );
    for batch in [1, 8] {
        let (mut rate, mut rtt, mut handler, mut overhead, mut floor, mut ipc) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..rounds {
            let m = measure(&mut conn, batch, calls)?;
            rate.push(-m.calls_per_s); // negated so that "best" is the highest rate
            rtt.push(m.round_trip_us);
            handler.push(m.handler_us);
            overhead.push((m.round_trip_us - m.handler_us) / batch as f64);
            floor.push(python_floor(&handler_dir, batch, calls)? / batch as f64);
            ipc.push(ipc_floor(batch, calls)?);
        }
        let cell = |v: Vec<f64>, scale: f64| {
            let (median, best) = median_best(v);
            format!("{:.2} ({:.2})", median * scale, best * scale)
        };
        let (rate_median, rate_best) = median_best(rate);
        println!(
            "{batch:>5} {:>16} {:>18} {:>12} {:>20} {:>18} {:>16}",
            format!("{:.0} ({:.0})", -rate_median, -rate_best),
            cell(rtt, 1.0),
            cell(handler, 1.0),
            cell(overhead, 1.0),
            cell(floor, 1.0),
            cell(ipc, 1.0),
        );
    }
    drop(conn);
    child.wait()?;
    Ok(())
}
