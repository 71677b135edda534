//! `tsconform`'s flags (every one also readable from a `TSCONFORM_*` environment variable)
//! and their translation into a [`Target`] and [`RunOptions`].
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::harness::{Console, RunOptions, Selection};
use crate::target::{Capabilities, DeliveryMode, Keys, Target};

#[derive(Parser, Debug)]
#[command(
    name = "tsconform",
    about = "Conformance suite for TorchServe 0.12's custom-service contract"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the suite against a server.
    Run(Box<RunArgs>),
    /// Print the catalogue of checks.
    List {
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Text,
    Markdown,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Inference API base URL (default http://127.0.0.1:<port-base>).
    #[arg(long, env = "TSCONFORM_INFERENCE_URL")]
    pub inference_url: Option<String>,
    /// Management API base URL (default http://127.0.0.1:<port-base + 1>).
    #[arg(long, env = "TSCONFORM_MANAGEMENT_URL")]
    pub management_url: Option<String>,
    /// Metrics API base URL (default http://127.0.0.1:<port-base + 2>).
    #[arg(long, env = "TSCONFORM_METRICS_URL")]
    pub metrics_url: Option<String>,
    /// Port of the inference API when the URLs are not given; management and metrics follow.
    #[arg(long, env = "TSCONFORM_PORT_BASE", default_value_t = 8080)]
    pub port_base: u16,

    /// TorchServe's key_file.json (token authorisation on).
    #[arg(long, env = "TSCONFORM_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Inference key (instead of a key file).
    #[arg(long, env = "TSCONFORM_INFERENCE_KEY", requires = "management_key")]
    pub inference_key: Option<String>,
    /// Management key (instead of a key file).
    #[arg(long, env = "TSCONFORM_MANAGEMENT_KEY", requires = "inference_key")]
    pub management_key: Option<String>,

    /// The target's model store: fixtures are copied there and registered by file name.
    /// Without it, the suite serves them over its own loopback HTTP server and registers by URL.
    #[arg(long, env = "TSCONFORM_MODEL_STORE")]
    pub model_store: Option<PathBuf>,

    /// GPUs the target assigns to workers.
    #[arg(long, env = "TSCONFORM_GPUS", default_value_t = 0)]
    pub gpus: u32,
    /// The target runs with token authorisation on (implied by a key).
    #[arg(long, env = "TSCONFORM_TOKEN_AUTH")]
    pub token_auth: bool,
    /// The target runs with the model API disabled (TorchServe's default).
    #[arg(long, env = "TSCONFORM_NO_MODEL_API")]
    pub no_model_api: bool,

    /// Run only these checks: ids, id prefixes ending in `*`, group names or levels.
    #[arg(long, value_delimiter = ',', env = "TSCONFORM_ONLY")]
    pub only: Vec<String>,
    /// Skip these checks (same patterns as --only).
    #[arg(long, value_delimiter = ',', env = "TSCONFORM_SKIP")]
    pub skip: Vec<String>,
    /// Cases per property test.
    #[arg(long, env = "TSCONFORM_PROPTEST_CASES", default_value_t = 4)]
    pub proptest_cases: u32,

    /// Write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write the results and the target's settings (secrets redacted) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the lifecycle transcript into the source tree's snapshots/lifecycle.snap
    /// (only when recording the golden file against real TorchServe).
    #[arg(long, hide = true)]
    pub bless: bool,
    /// Print every check, not only failures.
    #[arg(short, long)]
    pub verbose: bool,
}

impl RunArgs {
    pub fn target(&self) -> anyhow::Result<Target> {
        let delivery = match &self.model_store {
            Some(dir) => DeliveryMode::ModelStore(std::path::absolute(dir)?),
            None => DeliveryMode::Serve,
        };
        let mut target = Target::loopback(self.port_base, delivery);
        if let Some(u) = &self.inference_url {
            target.inference_url = u.clone();
        }
        if let Some(u) = &self.management_url {
            target.management_url = u.clone();
        }
        if let Some(u) = &self.metrics_url {
            target.metrics_url = u.clone();
        }
        target.keys = match (&self.key_file, &self.inference_key, &self.management_key) {
            (Some(_), Some(_), _) => bail!("give either --key-file or the keys, not both"),
            (Some(path), None, _) => Some(Keys::from_key_file(path)?),
            (None, Some(i), Some(m)) => Some(Keys {
                inference: i.clone(),
                management: m.clone(),
                api: None,
            }),
            _ => None,
        };
        target.key_file = self.key_file.clone();
        target.caps = Capabilities {
            gpus: self.gpus,
            token_auth: self.token_auth || target.keys.is_some(),
            model_api: !self.no_model_api,
        };
        Ok(target)
    }

    pub fn options(&self) -> RunOptions {
        RunOptions {
            selection: Selection {
                only: self.only.clone(),
                skip: self.skip.clone(),
            },
            proptest_cases: self.proptest_cases,
            progress: Arc::new(Console::new(self.verbose)),
        }
    }
}
