//! The `torchserve-rs` binary: flags → Config → run.

use clap::Parser;
use reference_server::cli::Args;
use reference_server::config::Config;
use reference_server::daemon;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.stop {
        return daemon::stop(&args);
    }
    if !args.foreground && args.start {
        return daemon::start(&args);
    }
    if !args.foreground && !args.start {
        eprintln!("torchserve-rs: nothing to do; use --start, --foreground or --stop (see --help)");
        std::process::exit(2);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: --start sends this to logs/torchserve-rs.log.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = Config::resolve(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(reference_server::run(config))?;
    Ok(())
}
