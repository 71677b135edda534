//! Command-line flags, named as `torchserve`'s own (ts/model_server.py), so scripts can switch
//! binaries. Parsed flags are turned into a [`crate::config::Config`] by `Config::resolve`.

use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "torchserve-rs",
    version,
    about = "A TorchServe 0.12 compatible model server: same APIs, warm Python workers",
    after_help = "Configuration precedence: defaults < config.properties < TS_* environment variables \
                  (when enable_envvars_config=true) < these flags."
)]
pub struct Args {
    /// Start the server in the background; returns once the APIs answer.
    #[arg(long, conflicts_with_all = ["stop", "foreground"])]
    pub start: bool,

    /// Stop the server started with --start.
    #[arg(long, conflicts_with = "foreground")]
    pub stop: bool,

    /// Run in the foreground (logs to the terminal; Ctrl-C stops it).
    #[arg(long)]
    pub foreground: bool,

    /// Folder holding model archives (.mar, .tar.gz or unpacked folders).
    #[arg(long, value_name = "DIR")]
    pub model_store: Option<PathBuf>,

    /// Models to load at start-up: `all`, `file.mar`, or `name=file.mar` (several allowed).
    #[arg(long, num_args = 1.., value_name = "MODEL")]
    pub models: Vec<String>,

    /// config.properties to read (default: $TS_CONFIG_FILE, else ./config.properties if present).
    #[arg(long, value_name = "FILE")]
    pub ts_config: Option<PathBuf>,

    /// Accepted for compatibility: this server writes no config snapshots.
    #[arg(long, alias = "no-config-snapshots")]
    pub ncs: bool,

    /// Turn token authorization off (it is on by default, as in TorchServe 0.12).
    #[arg(long)]
    pub disable_token_auth: bool,

    /// Allow register and unregister through the management API (off by default).
    #[arg(long)]
    pub enable_model_api: bool,

    /// Accepted for compatibility and ignored (log4j configuration).
    #[arg(long, value_name = "FILE", hide = true)]
    pub log_config: Option<PathBuf>,

    /// Accepted for compatibility and ignored: workflows are not supported.
    #[arg(long, value_name = "DIR", hide = true)]
    pub workflow_store: Option<PathBuf>,

    /// Accepted for compatibility and ignored: Java plugins do not apply.
    #[arg(long, value_name = "DIR", hide = true)]
    pub plugins_path: Option<PathBuf>,

    /// Where the --start/--stop pid file lives (default: $TMPDIR/.torchserve-rs.pid).
    #[arg(long, value_name = "FILE", hide = true)]
    pub pid_file: Option<PathBuf>,
}
