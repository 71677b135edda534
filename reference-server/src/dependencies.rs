//! `install_py_dep_per_model=true`: pip-installs a model's requirementsFile into its unpacked
//! folder at register, as TorchServe does (`pip install -U -t <model dir> -r <file>`), so the
//! worker (whose PYTHONPATH starts with the model folder) imports them.
//!
//! Only unpacked archives get packages: a model served in place from a folder of the user's is
//! never written to (TorchServe refuses installs outside its temp folder for the same reason).

use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DependencyError {
    #[error("Invalid 3rd party package installation path {0}")]
    NotUnpacked(String),
    #[error("Custom pip package installation failed for model {model}")]
    Failed { model: String, output: String },
}

/// The interpreter whose pip to use: the active virtual environment's, else `python3`.
fn python() -> String {
    match std::env::var("VIRTUAL_ENV") {
        Ok(venv) if !venv.is_empty() => format!("{venv}/bin/python"),
        _ => "python3".into(),
    }
}

pub async fn install(
    model: &str,
    model_dir: &Path,
    requirements: &str,
    unpacked: bool,
) -> Result<(), DependencyError> {
    if !unpacked {
        return Err(DependencyError::NotUnpacked(
            model_dir.display().to_string(),
        ));
    }
    let req = model_dir.join(requirements);
    let out = tokio::process::Command::new(python())
        .args(["-m", "pip", "install", "-U", "-t"])
        .arg(model_dir)
        .arg("-r")
        .arg(&req)
        .current_dir(model_dir)
        .output()
        .await;
    match out {
        Ok(o) if o.status.success() => {
            tracing::info!(model, "installed the model's pip requirements");
            Ok(())
        }
        Ok(o) => {
            let output = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            tracing::error!(model, "pip install failed:\n{output}");
            Err(DependencyError::Failed {
                model: model.to_string(),
                output,
            })
        }
        Err(e) => Err(DependencyError::Failed {
            model: model.to_string(),
            output: e.to_string(),
        }),
    }
}
