//! Getting fixture archives to the target: copy into its model store, or serve them over a
//! loopback HTTP server of our own and register by URL.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::target::DeliveryMode;

pub struct Delivery {
    mode: DeliveryMode,
    served: Option<Served>,
    /// Paths we put into the model store, removed at the end of the run.
    published: Mutex<Vec<PathBuf>>,
}

struct Served {
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:<port>/<nonce>`.
    base_url: String,
    /// Also put into each served file name: a target downloads URLs into its store and
    /// keeps some (e.g. after a 409), so names must not repeat across runs.
    nonce: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Delivery {
    pub async fn start(mode: &DeliveryMode) -> anyhow::Result<Self> {
        let served = match mode {
            DeliveryMode::ModelStore(dir) => {
                if !dir.is_dir() {
                    bail!("model store {} is not a folder", dir.display());
                }
                None
            }
            DeliveryMode::Serve => Some(serve().await?),
        };
        Ok(Self {
            mode: mode.clone(),
            served,
            published: Mutex::new(Vec::new()),
        })
    }

    pub fn is_model_store(&self) -> bool {
        matches!(self.mode, DeliveryMode::ModelStore(_))
    }

    /// Makes `built` (a file, or a folder for no-archive) reachable as `file_name` and returns
    /// the `url` parameter that registers it.
    pub fn publish(&self, built: &Path, file_name: &str) -> anyhow::Result<String> {
        match (&self.mode, &self.served) {
            (DeliveryMode::ModelStore(store), _) => {
                let dest = store.join(file_name);
                copy_replacing(built, &dest)?;
                self.published.lock().expect("not poisoned").push(dest);
                Ok(file_name.to_owned())
            }
            (DeliveryMode::Serve, Some(served)) => {
                if built.is_dir() {
                    bail!(
                        "a folder cannot be served by URL; run with --model-store to deliver {file_name}"
                    );
                }
                let served_name = with_nonce(file_name, &served.nonce);
                copy_replacing(built, &served.dir.path().join(&served_name))?;
                Ok(format!("{}/{served_name}", served.base_url))
            }
            (DeliveryMode::Serve, None) => bail!("the fixture server is not running"),
        }
    }

    /// The URL as a snapshot shows it: the file name alone, whatever the delivery.
    pub fn normalize_url(&self, url: &str) -> String {
        match &self.served {
            Some(s) => url
                .strip_prefix(&format!("{}/", s.base_url))
                .unwrap_or(url)
                .replace(&format!("_{}", s.nonce), ""),
            None => url.to_owned(),
        }
    }

    /// Removes what was copied into the model store.
    pub fn cleanup(&self) {
        for path in self.published.lock().expect("not poisoned").drain(..) {
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// `echo.mar` → `echo_<nonce>.mar`, `m.tar.gz` → `m_<nonce>.tar.gz`.
fn with_nonce(file_name: &str, nonce: &str) -> String {
    let split = file_name.find('.').unwrap_or(file_name.len());
    format!("{}_{nonce}{}", &file_name[..split], &file_name[split..])
}

fn copy_replacing(from: &Path, to: &Path) -> anyhow::Result<()> {
    if to.is_dir() {
        std::fs::remove_dir_all(to).with_context(|| format!("removing {}", to.display()))?;
    }
    if from.is_dir() {
        std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_replacing(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(from, to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

async fn serve() -> anyhow::Result<Served> {
    let dir = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let nonce = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let root: Arc<PathBuf> = Arc::new(dir.path().to_owned());
    let app = axum::Router::new()
        .route(&format!("/{nonce}/{{file}}"), get(file))
        .with_state(root);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Served {
        dir,
        base_url: format!("http://127.0.0.1:{port}/{nonce}"),
        nonce,
        task,
    })
}

async fn file(
    State(root): State<Arc<PathBuf>>,
    UrlPath(name): UrlPath<String>,
) -> impl IntoResponse {
    if name.contains('/') || name.contains("..") {
        return (StatusCode::NOT_FOUND, Vec::new());
    }
    match tokio::fs::read(root.join(&name)).await {
        Ok(bytes) => (StatusCode::OK, bytes),
        Err(_) => (StatusCode::NOT_FOUND, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::with_nonce;

    #[test]
    fn nonce_goes_before_the_extension() {
        assert_eq!(with_nonce("echo.mar", "ab12"), "echo_ab12.mar");
        assert_eq!(with_nonce("m.tar.gz", "ab12"), "m_ab12.tar.gz");
        assert_eq!(with_nonce("dir", "ab12"), "dir_ab12");
    }
}
