//! What a check is, before it runs: id, level, group, title and what it needs.
use serde::Serialize;

/// RFC 2119 level: only MUST failures make the run fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Must,
    Should,
    May,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

/// The groups of the suite, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    Inference,
    Lifecycle,
    Decoding,
    Context,
    Outputs,
    EntryPoints,
    Archives,
    Batching,
    Scaling,
    Timeouts,
    Gpu,
    Security,
}

impl Group {
    pub const ALL: [Group; 12] = [
        Group::Inference,
        Group::Lifecycle,
        Group::Decoding,
        Group::Context,
        Group::Outputs,
        Group::EntryPoints,
        Group::Archives,
        Group::Batching,
        Group::Scaling,
        Group::Timeouts,
        Group::Gpu,
        Group::Security,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Inference => "inference",
            Group::Lifecycle => "lifecycle",
            Group::Decoding => "decoding",
            Group::Context => "context",
            Group::Outputs => "outputs",
            Group::EntryPoints => "entry-points",
            Group::Archives => "archives",
            Group::Batching => "batching",
            Group::Scaling => "scaling",
            Group::Timeouts => "timeouts",
            Group::Gpu => "gpu",
            Group::Security => "security",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Group::Inference => "Inference API, ping, metrics and common response conventions",
            Group::Lifecycle => "Register, list, describe, versions, set-default, unregister",
            Group::Decoding => "How request bodies reach the handler",
            Group::Context => "The Context object",
            Group::Outputs => "Return values, response metadata and handler errors",
            Group::EntryPoints => "Handler resolution, initialisation and load failures",
            Group::Archives => "What the server loads and refuses",
            Group::Batching => "Batch aggregation",
            Group::Scaling => "Worker scaling",
            Group::Timeouts => "Timeouts, crashes and recovery",
            Group::Gpu => "GPU assignment",
            Group::Security => "Default-on security gates (token auth, model API)",
        }
    }
}

/// A capability of the target a check depends on; without it the check is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Need {
    /// Register and unregister are enabled (`--enable-model-api`).
    ModelApi,
    /// The model API is left disabled (TorchServe's default).
    ModelApiOff,
    /// Token authorisation is on.
    TokenAuth,
    /// At least this many GPUs.
    Gpus(u32),
    /// A CPU-only target.
    NoGpus,
    /// Fixtures reach the target through a shared model store folder.
    ModelStore,
}

impl Need {
    pub fn describe(self) -> String {
        match self {
            Need::ModelApi => "the model API enabled".into(),
            Need::ModelApiOff => "the model API disabled".into(),
            Need::TokenAuth => "token authorisation on".into(),
            Need::Gpus(n) => format!("at least {n} GPU(s)"),
            Need::NoGpus => "no GPUs".into(),
            Need::ModelStore => "fixtures delivered through --model-store".into(),
        }
    }
}

/// The static description of one check (the catalogue entry).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckSpec {
    /// `<AREA>-<contract section>-<nn>`, e.g. `MGMT-4.3-02`.
    pub id: &'static str,
    pub level: Level,
    pub group: Group,
    pub title: &'static str,
    /// Why, or what TorchServe quirk the check tolerates; empty when the title says it all.
    pub note: &'static str,
    pub needs: &'static [Need],
}

impl CheckSpec {
    /// `MGMT-4.3-02 MUST`.
    pub fn label(&self) -> String {
        format!("{} {}", self.id, self.level.as_str())
    }

    /// The contract section named in the id (`4.3` in `MGMT-4.3-02`).
    pub fn section(&self) -> &'static str {
        self.id.split('-').nth(1).unwrap_or_default()
    }
}

/// Shorthands for the catalogue tables in `cases/*.rs`.
pub const fn must(id: &'static str, group: Group, title: &'static str) -> CheckSpec {
    CheckSpec {
        id,
        level: Level::Must,
        group,
        title,
        note: "",
        needs: &[Need::ModelApi],
    }
}

pub const fn should(id: &'static str, group: Group, title: &'static str) -> CheckSpec {
    CheckSpec {
        id,
        level: Level::Should,
        group,
        title,
        note: "",
        needs: &[Need::ModelApi],
    }
}

pub const fn may(id: &'static str, group: Group, title: &'static str) -> CheckSpec {
    CheckSpec {
        id,
        level: Level::May,
        group,
        title,
        note: "",
        needs: &[Need::ModelApi],
    }
}

impl CheckSpec {
    pub const fn note(mut self, note: &'static str) -> Self {
        self.note = note;
        self
    }

    pub const fn needs(mut self, needs: &'static [Need]) -> Self {
        self.needs = needs;
        self
    }
}
