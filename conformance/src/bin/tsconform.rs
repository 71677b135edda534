//! `tsconform run` / `tsconform list`; see `conformance::cli` for the flags.
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use conformance::cli::{Cli, Command, ListFormat};

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::List { format, out } => {
            let checks = conformance::cases::catalogue();
            let text = match format {
                ListFormat::Markdown => conformance::catalogue::markdown(&checks),
                ListFormat::Text => conformance::catalogue::text(&checks),
            };
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            let target = args.target()?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(conformance::run(target, args.options()))?;
            println!("{}", report.summary_table());
            if args.bless {
                let path = concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots/lifecycle.snap");
                let transcript = report
                    .artifacts
                    .get(conformance::cases::lifecycle::TRANSCRIPT)
                    .context("the lifecycle group did not run")?;
                std::fs::write(
                    path,
                    conformance::cases::lifecycle::snapshot_file(transcript),
                )?;
                eprintln!("wrote {path}");
            }
            if let Some(path) = &args.junit {
                std::fs::write(path, report.to_junit())
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = &args.json {
                let text = serde_json::to_string_pretty(&report.to_json())?;
                std::fs::write(path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(if report.exit_code() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
