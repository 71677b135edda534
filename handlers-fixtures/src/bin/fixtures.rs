//! `fixtures`: list the handler fixtures, write their sources, or build their archives.
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use handlers_fixtures::{ArchiveFormat, BuildOptions};

#[derive(Parser)]
#[command(
    about = "TorchServe contract fixtures: list them, write their sources, build their archives"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print each fixture's name, handler string and description.
    List,
    /// Build the archives into DIR (one per fixture, named after it).
    Build {
        #[arg(long)]
        out: PathBuf,
        /// default | zip-store | tgz | no-archive
        #[arg(long, default_value = "default")]
        format: String,
        #[arg(long, default_value = "1.0")]
        version: String,
        /// Comma-separated fixture names (all when absent).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Write each fixture's files into DIR/<name>/.
    Sources {
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::List => {
            for f in handlers_fixtures::all()? {
                println!(
                    "{:<16} {:<20} {}",
                    f.name(),
                    f.spec().handler,
                    f.spec().description
                );
            }
        }
        Command::Build {
            out,
            format,
            version,
            only,
        } => {
            let opts = BuildOptions {
                format: format
                    .parse::<ArchiveFormat>()
                    .map_err(anyhow::Error::msg)?,
                version,
                ..BuildOptions::default()
            };
            for f in handlers_fixtures::all()? {
                if only.is_empty() || only.iter().any(|n| n == f.name()) {
                    let path = f
                        .build(&out, &opts)
                        .with_context(|| format!("building {}", f.name()))?;
                    println!("{}", path.display());
                }
            }
        }
        Command::Sources { out } => {
            for f in handlers_fixtures::all()? {
                f.write_sources(&out.join(f.name()))?;
                println!("{}", out.join(f.name()).display());
            }
        }
    }
    Ok(())
}
