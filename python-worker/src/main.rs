//! `ts-worker --socket <path>`: one Python worker process, started by the server.

use clap::Parser;
use python_worker::{Config, WorkerError, format_log_line, run};

#[derive(Parser, Debug)]
#[command(version, about = "Python handler worker for the reference server")]
struct Args {
    /// Unix socket the server listens on
    #[arg(long)]
    socket: std::path::PathBuf,
    /// model name, used only to tag log lines
    #[arg(long, env = "TSRS_MODEL_NAME")]
    model_name: Option<String>,
    /// worker id, used only to tag log lines
    #[arg(long, env = "TSRS_WORKER_ID")]
    worker_id: Option<String>,
}

fn main() {
    let args = Args::parse();
    let config = Config {
        socket: args.socket,
        model_name: args.model_name,
        worker_id: args.worker_id,
    };
    let code = match run(&config) {
        Ok(exit) => exit.code(),
        Err(e) => {
            // LoadFailed was already reported to the server and logged with its traceback
            if !matches!(e, WorkerError::LoadFailed { .. }) {
                eprint!(
                    "{}",
                    format_log_line("ERROR", "ts_worker", &format!("worker stopped: {e}"))
                );
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}
