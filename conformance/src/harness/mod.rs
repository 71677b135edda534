//! The generic harness: checks, outcomes, sessions, the runner and reports. It knows
//! nothing about TorchServe; the checks themselves live in `crate::cases`.
mod outcome;
mod progress;
pub mod property;
mod report;
mod runner;
mod selection;
mod session;
mod spec;

pub use outcome::{CheckResult, Exchange, Failure, Outcome};
pub use progress::{Console, Progress, Quiet};
pub use report::{CheckRecord, Counts, Report};
pub use runner::{GroupDef, GroupRun, run_groups};
pub use selection::Selection;
pub use session::{Gate, RunOptions, Session};
pub use spec::{CheckSpec, Group, Level, Need, may, must, should};
