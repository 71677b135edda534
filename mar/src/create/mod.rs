//! `mar create`: torch-model-archiver 0.12's options, defaults, results and error texts.

mod localtime;
mod plan;
mod write;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::ArchiveError;
use crate::manifest::{self, Manifest, ModelInfo, RUNTIMES};

pub(crate) use localtime::LocalTime;
pub use plan::handler_file;

/// The version torch-model-archiver writes as `archiverVersion`; TorchServe only checks presence.
pub const ARCHIVER_VERSION: &str = "0.12.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchiveFormat {
    /// `<name>.mar`, deflated zip.
    #[default]
    Default,
    /// `<name>.mar`, stored (uncompressed) zip.
    ZipStore,
    /// `<name>.tar.gz`, entries under `<name>/`.
    Tgz,
    /// a folder `<export-path>/<name>/`.
    NoArchive,
}

impl ArchiveFormat {
    pub const ALL: [ArchiveFormat; 4] = [
        ArchiveFormat::Default,
        ArchiveFormat::ZipStore,
        ArchiveFormat::Tgz,
        ArchiveFormat::NoArchive,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ArchiveFormat::Default => "default",
            ArchiveFormat::ZipStore => "zip-store",
            ArchiveFormat::Tgz => "tgz",
            ArchiveFormat::NoArchive => "no-archive",
        }
    }

    /// What the archiver appends to the model name.
    pub fn extension(&self) -> &'static str {
        match self {
            ArchiveFormat::Default | ArchiveFormat::ZipStore => ".mar",
            ArchiveFormat::Tgz => ".tar.gz",
            ArchiveFormat::NoArchive => "",
        }
    }
}

impl std::fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ArchiveFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ArchiveFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "invalid choice: '{s}' (choose from 'tgz', 'no-archive', 'zip-store', 'default')"
                )
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    pub model_name: String,
    pub version: String,
    pub serialized_file: Option<PathBuf>,
    pub model_file: Option<PathBuf>,
    pub handler: String,
    /// comma list items; globs allowed
    pub extra_files: Vec<String>,
    pub runtime: String,
    pub export_path: PathBuf,
    pub archive_format: ArchiveFormat,
    pub force: bool,
    pub requirements_file: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
}

impl CreateOptions {
    /// The archiver's defaults: runtime `python`, export path the current folder, format `default`.
    pub fn new(model_name: &str, version: &str, handler: &str) -> CreateOptions {
        CreateOptions {
            model_name: model_name.to_string(),
            version: version.to_string(),
            serialized_file: None,
            model_file: None,
            handler: handler.to_string(),
            extra_files: Vec::new(),
            runtime: "python".to_string(),
            export_path: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            archive_format: ArchiveFormat::Default,
            force: false,
            requirements_file: None,
            config_file: None,
        }
    }

    /// Where the result goes: `<export-path>/<model-name><extension>`.
    pub fn output_path(&self) -> PathBuf {
        self.export_path.join(format!(
            "{}{}",
            self.model_name,
            self.archive_format.extension()
        ))
    }
}

/// Same results and error texts as torch-model-archiver 0.12. Returns the written path.
pub fn create(opts: &CreateOptions) -> Result<PathBuf, ArchiveError> {
    let manifest = manifest_for(opts, &LocalTime::now().created_on())?;
    validate_inputs(opts)?;
    let out = opts.output_path();
    if out.exists() && !opts.force {
        return Err(ArchiveError::Archiver(format!(
            "{} already exists.\nPlease specify --force/-f option to overwrite the model archive output file.\nSee -h/--help for more details.",
            out.display()
        )));
    }
    let plan = plan::Plan::build(opts)?;
    let manifest_text = manifest.to_json_pretty();
    match opts.archive_format {
        ArchiveFormat::Default => write::zip(&out, &plan, &manifest_text, true)?,
        ArchiveFormat::ZipStore => write::zip(&out, &plan, &manifest_text, false)?,
        ArchiveFormat::Tgz => write::tgz(&out, &opts.model_name, &plan, &manifest_text)?,
        ArchiveFormat::NoArchive => write::folder(&out, &plan, &manifest_text)?,
    }
    Ok(out)
}

/// The manifest the archiver writes for these options (MA/manifest_components/model.py).
pub fn manifest_for(opts: &CreateOptions, created_on: &str) -> Result<Manifest, ArchiveError> {
    if !RUNTIMES.contains(&opts.runtime.as_str()) {
        return Err(ArchiveError::Archiver(format!(
            "'{}' is not a valid RuntimeType",
            opts.runtime
        )));
    }
    let text = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
    };
    // os.path.basename for some fields and split("/")[-1] for others: both keep what follows
    // the last `/`, and an empty result is still written for the split ones.
    let last = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    let model = ModelInfo {
        model_name: Some(opts.model_name.clone()),
        serialized_file: text(&opts.serialized_file)
            .map(|s| last(&s))
            .filter(|s| !s.is_empty()),
        handler: Some(last(&opts.handler)),
        model_file: text(&opts.model_file).map(|s| last(&s)),
        model_version: Some(opts.version.clone()).filter(|v| !v.is_empty()),
        requirements_file: text(&opts.requirements_file).map(|s| last(&s)),
        config_file: text(&opts.config_file)
            .map(|s| last(&s))
            .filter(|s| !s.is_empty()),
        ..ModelInfo::default()
    };
    Ok(Manifest {
        created_on: Some(created_on.to_string()),
        runtime: Some(opts.runtime.clone()),
        model: Some(model),
        archiver_version: Some(ARCHIVER_VERSION.to_string()),
        ..Manifest::default()
    })
}

fn validate_inputs(opts: &CreateOptions) -> Result<(), ArchiveError> {
    if !manifest::is_valid_model_name(&opts.model_name) {
        return Err(ArchiveError::Archiver(
            "Model name contains special characters.\nThe allowed regular expression filter for model name is: ^[A-Za-z0-9][A-Za-z0-9_\\-.]*$".to_string(),
        ));
    }
    if !is_dir(&opts.export_path) {
        return Err(ArchiveError::Archiver(format!(
            "Given export-path {} is not a directory. Point to a valid export-path directory.",
            opts.export_path.display()
        )));
    }
    Ok(())
}

fn is_dir(p: &Path) -> bool {
    let p = if p.as_os_str().is_empty() {
        Path::new(".")
    } else {
        p
    };
    p.is_dir()
}
