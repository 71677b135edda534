//! A run in progress: the target's clients, the fixtures published so far, the results.
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use handlers_fixtures::BuildOptions;

use super::outcome::{CheckResult, Failure, Outcome};
use super::progress::Progress;
use super::report::CheckRecord;
use super::selection::Selection;
use super::spec::{CheckSpec, Group, Need};
use crate::client::Api;
use crate::delivery::Delivery;
use crate::target::Target;

/// What the caller chooses about a run besides the target.
#[derive(Clone)]
pub struct RunOptions {
    pub selection: Selection,
    /// Cases per property test (proptest); small by default to keep the run short.
    pub proptest_cases: u32,
    pub progress: Arc<dyn Progress>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            selection: Selection::default(),
            proptest_cases: 4,
            progress: Arc::new(super::progress::Quiet),
        }
    }
}

/// Whether a check runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Run,
    Skip(String),
    Disabled,
}

pub struct Session {
    pub target: Target,
    pub inference: Api,
    pub management: Api,
    pub metrics: Api,
    pub delivery: Delivery,
    pub proptest_cases: u32,
    selection: Selection,
    progress: Arc<dyn Progress>,
    catalogue: HashMap<&'static str, CheckSpec>,
    workdir: tempfile::TempDir,
    state: Mutex<State>,
    /// Set while a group that runs nothing is recorded, so progress stays quiet.
    pub(crate) quiet_group: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct State {
    records: HashMap<&'static str, CheckRecord>,
    /// Models registered by the current group, unregistered when it ends.
    models: Vec<String>,
    /// file name → register `url`, so each archive is built and published once.
    published: HashMap<String, String>,
    /// Named texts a group produced (e.g. the lifecycle transcript), kept in the report.
    artifacts: std::collections::BTreeMap<String, String>,
}

impl Session {
    pub async fn new(
        target: Target,
        opts: RunOptions,
        catalogue: &[CheckSpec],
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(32)
            .build()?;
        let keys = target.keys.clone();
        let inference = Api::new(
            client.clone(),
            &target.inference_url,
            keys.as_ref().map(|k| k.inference.clone()),
        );
        let management = Api::new(
            client.clone(),
            &target.management_url,
            keys.as_ref().map(|k| k.management.clone()),
        );
        let metrics = Api::new(client, &target.metrics_url, None);
        let delivery = Delivery::start(&target.delivery).await?;
        Ok(Self {
            inference,
            management,
            metrics,
            delivery,
            target,
            proptest_cases: opts.proptest_cases,
            selection: opts.selection,
            progress: opts.progress,
            catalogue: catalogue.iter().map(|c| (c.id, *c)).collect(),
            workdir: tempfile::tempdir()?,
            state: Mutex::new(State::default()),
            quiet_group: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("no check panics while holding the lock")
    }

    pub fn gate(&self, spec: &CheckSpec) -> Gate {
        if self.selection.disabled(spec) {
            return Gate::Disabled;
        }
        let caps = &self.target.caps;
        for need in spec.needs {
            let met = match *need {
                Need::ModelApi => caps.model_api,
                Need::ModelApiOff => !caps.model_api,
                Need::TokenAuth => caps.token_auth,
                Need::Gpus(n) => caps.gpus >= n,
                Need::NoGpus => caps.gpus == 0,
                Need::ModelStore => self.delivery.is_model_store(),
            };
            if !met {
                return Gate::Skip(format!("the target lacks {}", need.describe()));
            }
        }
        Gate::Run
    }

    /// Whether the check `id` will run (so a group can avoid expensive setup nobody needs).
    pub fn wants(&self, id: &str) -> bool {
        self.catalogue
            .get(id)
            .is_some_and(|spec| self.gate(spec) == Gate::Run)
    }

    /// Runs one check (unless disabled or skipped) and records its outcome. The body is a
    /// future that is dropped unpolled when the check does not run, so actions the later
    /// checks depend on belong outside check bodies.
    pub async fn check(&self, id: &'static str, body: impl Future<Output = CheckResult>) {
        let Some(spec) = self.catalogue.get(id).copied() else {
            // A typo in a case file; the catalogue test catches it, this keeps the run going.
            let spec = CheckSpec {
                id,
                level: super::spec::Level::Must,
                group: Group::Inference,
                title: "unknown check id",
                note: "",
                needs: &[],
            };
            self.record(CheckRecord {
                spec,
                outcome: Outcome::Fail {
                    failure: Failure::new(format!("{id} is not in the catalogue")),
                },
                duration: Duration::ZERO,
            });
            return;
        };
        let started = Instant::now();
        let outcome = match self.gate(&spec) {
            Gate::Disabled => Outcome::Disabled,
            Gate::Skip(reason) => Outcome::Skipped { reason },
            Gate::Run => match body.await {
                Ok(()) => Outcome::Pass,
                Err(f) if f.skip => Outcome::Skipped { reason: f.message },
                Err(failure) => Outcome::Fail { failure },
            },
        };
        self.record(CheckRecord {
            spec,
            outcome,
            duration: started.elapsed(),
        });
    }

    /// A check reported twice (e.g. in a loop) keeps its first failure.
    fn record(&self, record: CheckRecord) {
        if !self.quiet_group.load(std::sync::atomic::Ordering::Relaxed) {
            self.progress.check_finished(&record);
        }
        let mut state = self.state();
        match state.records.get(record.spec.id) {
            Some(old) if old.outcome.is_fail() => {}
            _ => {
                state.records.insert(record.spec.id, record);
            }
        }
    }

    pub(crate) fn reported(&self, id: &str) -> bool {
        self.state().records.contains_key(id)
    }

    /// Records every check of `specs` nothing reported: skipped or disabled by its gate,
    /// else failed with `why`.
    pub(crate) fn finish_unreported(&self, specs: &[CheckSpec], why: &str) {
        for spec in specs {
            if self.reported(spec.id) {
                continue;
            }
            let outcome = match self.gate(spec) {
                Gate::Disabled => Outcome::Disabled,
                Gate::Skip(reason) => Outcome::Skipped { reason },
                Gate::Run => Outcome::Fail {
                    failure: Failure::new(format!("not reached: {why}")),
                },
            };
            self.record(CheckRecord {
                spec: *spec,
                outcome,
                duration: Duration::ZERO,
            });
        }
    }

    pub(crate) fn records_in(&self, order: &[CheckSpec]) -> Vec<CheckRecord> {
        let state = self.state();
        order
            .iter()
            .filter_map(|s| state.records.get(s.id).cloned())
            .collect()
    }

    pub(crate) fn progress(&self) -> &dyn Progress {
        self.progress.as_ref()
    }

    /// Remembers a model so the group's teardown unregisters it.
    pub fn track_model(&self, name: &str) {
        let mut state = self.state();
        if !state.models.iter().any(|m| m == name) {
            state.models.push(name.to_owned());
        }
    }

    pub(crate) fn take_models(&self) -> Vec<String> {
        std::mem::take(&mut self.state().models)
    }

    /// Builds `fixture` with `opts` and publishes it as `file_name` (once per file name per
    /// run); returns the `url` register parameter.
    pub fn fixture_url(
        &self,
        fixture: &str,
        opts: &BuildOptions,
        file_name: &str,
    ) -> anyhow::Result<String> {
        if let Some(url) = self.state().published.get(file_name) {
            return Ok(url.clone());
        }
        let built = self.build(fixture, opts)?;
        let url = self.delivery.publish(&built, file_name)?;
        self.state()
            .published
            .insert(file_name.to_owned(), url.clone());
        Ok(url)
    }

    /// Builds `fixture` into a fresh folder of the run's work dir and returns the path.
    pub fn build(&self, fixture: &str, opts: &BuildOptions) -> anyhow::Result<PathBuf> {
        let out = self.scratch_dir()?;
        Ok(handlers_fixtures::get(fixture)?.build(&out, opts)?)
    }

    /// A new empty folder inside the run's work dir.
    pub fn scratch_dir(&self) -> anyhow::Result<PathBuf> {
        let dir = self
            .workdir
            .path()
            .join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Keeps a named text in the report (overwrites an earlier one of that name).
    pub fn set_artifact(&self, name: &str, text: String) {
        self.state().artifacts.insert(name.to_owned(), text);
    }

    pub(crate) fn artifacts(&self) -> std::collections::BTreeMap<String, String> {
        self.state().artifacts.clone()
    }

    /// Publishes an archive the check built itself (e.g. a broken one), once per file name.
    pub fn publish(&self, built: &std::path::Path, file_name: &str) -> anyhow::Result<String> {
        let url = self.delivery.publish(built, file_name)?;
        self.state()
            .published
            .insert(file_name.to_owned(), url.clone());
        Ok(url)
    }
}
