//! `mar`: create, inspect and check TorchServe model archives. Thin: flags in, library call,
//! output and exit status out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mar::check::{self, CheckOptions};
use mar::create::{self, ArchiveFormat, CreateOptions};
use mar::extract::Limits;

#[derive(Parser)]
#[command(
    name = "mar",
    version,
    about = "Create, inspect and check TorchServe model archives"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an archive; the options of torch-model-archiver 0.12, same names and defaults.
    Create(Box<CreateArgs>),
    /// Show the manifest, model config and file list.
    Inspect {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = InspectFormat::Table)]
        format: InspectFormat,
    },
    /// Validate an archive before deploying it; exits 1 when an error is found.
    Check(CheckArgs),
}

#[derive(Args)]
struct CreateArgs {
    /// Exported model name; the file is <export-path>/<model-name>.mar
    #[arg(long = "model-name")]
    model_name: String,
    /// Path to the .pt/.pth/.onnx file (state_dict, TorchScript, ...)
    #[arg(long = "serialized-file")]
    serialized_file: Option<PathBuf>,
    /// Path to the python file with the model architecture
    #[arg(long = "model-file")]
    model_file: Option<PathBuf>,
    /// A built-in handler name or a handler path (my_handler.py, my_handler:fn)
    #[arg(long)]
    handler: String,
    /// Comma separated extra files; wildcards allowed; folders are merged into the root
    #[arg(long = "extra-files")]
    extra_files: Option<String>,
    #[arg(long, default_value = "python", value_parser = ["python", "python3", "LSP"])]
    runtime: String,
    /// Where the archive is written (default: the current folder)
    #[arg(long = "export-path")]
    export_path: Option<PathBuf>,
    #[arg(long = "archive-format", default_value = "default", value_parser = ["tgz", "no-archive", "zip-store", "default"])]
    archive_format: String,
    /// Overwrite an existing archive
    #[arg(short = 'f', long)]
    force: bool,
    /// Model's version
    #[arg(short = 'v', long)]
    version: String,
    /// Path to a requirements.txt with the model's Python dependencies
    #[arg(short = 'r', long = "requirements-file")]
    requirements_file: Option<PathBuf>,
    /// Path to a model-config.yaml
    #[arg(short = 'c', long = "config-file")]
    config_file: Option<PathBuf>,
}

#[derive(Args)]
struct CheckArgs {
    file: PathBuf,
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    format: CheckFormat,
    /// Largest total unpacked size accepted, in bytes
    #[arg(long, default_value_t = Limits::default().max_total_bytes)]
    max_total_bytes: u64,
    /// Largest number of entries accepted
    #[arg(long, default_value_t = Limits::default().max_entries)]
    max_entries: u64,
    /// Skip decompressing entries to verify their checksums
    #[arg(long)]
    no_verify: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum InspectFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum CheckFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Create(args) => run_create(*args),
        Command::Inspect { file, format } => match mar::inspect::inspect_path(&file) {
            Ok(i) => {
                match format {
                    InspectFormat::Table => emit(&i.render_table()),
                    InspectFormat::Json => emit(&format!("{}\n", i.to_json_pretty())),
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mar inspect: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Check(args) => {
            let opts = CheckOptions {
                limits: Limits {
                    max_total_bytes: args.max_total_bytes,
                    max_entries: args.max_entries,
                },
                verify_checksums: !args.no_verify,
            };
            let report = check::check_path_with(&args.file, &opts);
            match args.format {
                CheckFormat::Text => emit(&report.render_text()),
                CheckFormat::Json => emit(&format!("{}\n", report.to_json_pretty())),
            }
            if report.has_errors() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

/// Writes to stdout; a closed pipe (`mar inspect x | head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn run_create(a: CreateArgs) -> ExitCode {
    let Ok(archive_format) = a.archive_format.parse::<ArchiveFormat>() else {
        return ExitCode::from(2); // clap already restricts the choices
    };
    let opts = CreateOptions {
        model_name: a.model_name,
        version: a.version,
        serialized_file: a.serialized_file,
        model_file: a.model_file,
        handler: a.handler,
        extra_files: a
            .extra_files
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        runtime: a.runtime,
        export_path: a
            .export_path
            .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))),
        archive_format,
        force: a.force,
        requirements_file: a.requirements_file,
        config_file: a.config_file,
    };
    match create::create(&opts) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            // torch-model-archiver logs its errors as "ERROR - <message>".
            eprintln!("ERROR - {e}");
            ExitCode::FAILURE
        }
    }
}
