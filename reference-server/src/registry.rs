//! Registered models: name → versions, and which version is the default (contract §4).
//! The first registered version becomes the default.

use crate::model::ModelVersion;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum RegistryError {
    #[error("Model not found: {0}")]
    ModelNotFound(String),
    #[error("Model version: {version} does not exist for model: {name}")]
    VersionNotFound { name: String, version: String },
    /// set-default's own wording (no colons), FE/wlm/ModelVersionedRefs.java
    #[error("Model version {version} does not exist for model {name}")]
    DefaultVersionNotFound { name: String, version: String },
    #[error("Model version {version} is already registered for model {name}")]
    AlreadyRegistered { name: String, version: String },
    #[error("Cannot remove default version for model {0}")]
    CannotRemoveDefault(String),
}

struct Entry {
    default: String,
    /// in registration order
    versions: Vec<Arc<ModelVersion>>,
}

#[derive(Default)]
pub struct Registry {
    models: RwLock<BTreeMap<String, Entry>>,
}

impl Registry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.models.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.models.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The named version, or the default one.
    pub fn get(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<ModelVersion>, RegistryError> {
        let models = self.read();
        let entry = models
            .get(name)
            .ok_or_else(|| RegistryError::ModelNotFound(name.to_string()))?;
        let want = version.unwrap_or(&entry.default);
        entry
            .versions
            .iter()
            .find(|v| v.version() == want)
            .cloned()
            .ok_or_else(|| RegistryError::VersionNotFound {
                name: name.to_string(),
                version: want.to_string(),
            })
    }

    pub fn contains(&self, name: &str, version: &str) -> bool {
        self.read()
            .get(name)
            .is_some_and(|e| e.versions.iter().any(|v| v.version() == version))
    }

    /// Every version of a model, in registration order.
    pub fn versions(&self, name: &str) -> Result<Vec<Arc<ModelVersion>>, RegistryError> {
        self.read()
            .get(name)
            .map(|e| e.versions.clone())
            .ok_or_else(|| RegistryError::ModelNotFound(name.to_string()))
    }

    /// Adds a version; the first version of a model becomes its default.
    pub fn insert(&self, mv: Arc<ModelVersion>) -> Result<(), RegistryError> {
        let mut models = self.write();
        let name = mv.name().to_string();
        match models.get_mut(&name) {
            Some(entry) => {
                if entry.versions.iter().any(|v| v.version() == mv.version()) {
                    return Err(RegistryError::AlreadyRegistered {
                        name,
                        version: mv.version().to_string(),
                    });
                }
                entry.versions.push(mv);
            }
            None => {
                models.insert(
                    name,
                    Entry {
                        default: mv.version().to_string(),
                        versions: vec![mv],
                    },
                );
            }
        }
        Ok(())
    }

    /// Removes a version (the default one when `version` is None). The default version cannot
    /// be removed while others exist.
    pub fn remove(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<ModelVersion>, RegistryError> {
        let mut models = self.write();
        let entry = models
            .get_mut(name)
            .ok_or_else(|| RegistryError::ModelNotFound(name.to_string()))?;
        let want = version.unwrap_or(&entry.default).to_string();
        let idx = entry
            .versions
            .iter()
            .position(|v| v.version() == want)
            .ok_or_else(|| RegistryError::VersionNotFound {
                name: name.to_string(),
                version: want.clone(),
            })?;
        if want == entry.default && entry.versions.len() > 1 {
            return Err(RegistryError::CannotRemoveDefault(name.to_string()));
        }
        let mv = entry.versions.remove(idx);
        if entry.versions.is_empty() {
            models.remove(name);
        }
        Ok(mv)
    }

    /// Removes exactly this version object, if it is still registered (rollback of a failed
    /// synchronous register; never refused by the default-version rule).
    pub fn remove_exact(&self, mv: &Arc<ModelVersion>) {
        let mut models = self.write();
        let Some(entry) = models.get_mut(mv.name()) else {
            return;
        };
        entry.versions.retain(|v| !Arc::ptr_eq(v, mv));
        if entry.versions.is_empty() {
            models.remove(mv.name());
        } else if entry.default == mv.version() {
            entry.default = entry.versions[0].version().to_string();
        }
    }

    pub fn set_default(&self, name: &str, version: &str) -> Result<(), RegistryError> {
        let mut models = self.write();
        let entry = models
            .get_mut(name)
            .ok_or_else(|| RegistryError::ModelNotFound(name.to_string()))?;
        if !entry.versions.iter().any(|v| v.version() == version) {
            return Err(RegistryError::DefaultVersionNotFound {
                name: name.to_string(),
                version: version.to_string(),
            });
        }
        entry.default = version.to_string();
        Ok(())
    }

    /// Default versions of every model, sorted by name.
    pub fn defaults(&self) -> Vec<Arc<ModelVersion>> {
        self.read()
            .values()
            .filter_map(|e| {
                e.versions
                    .iter()
                    .find(|v| v.version() == e.default)
                    .cloned()
            })
            .collect()
    }

    /// Every version of every model.
    pub fn all(&self) -> Vec<Arc<ModelVersion>> {
        self.read()
            .values()
            .flat_map(|e| e.versions.iter().cloned())
            .collect()
    }

    /// Start-up models with exactly one registered (SageMaker routes without a model name).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
