//! The checks, one file per contract area. Each file has a `CHECKS` catalogue table and a
//! `run` function that reports every id of its table through `Session::check`.
mod archives;
mod batching;
mod common;
mod context;
mod decoding;
mod entry_points;
mod gpu;
mod inference;
pub mod lifecycle;
mod outputs;
mod scaling;
mod security;
mod timeouts;

use crate::harness::{CheckSpec, Group, GroupDef};

/// Every group, in run order.
pub fn groups() -> Vec<GroupDef> {
    vec![
        GroupDef {
            group: Group::Inference,
            checks: inference::CHECKS,
            run: inference::run,
        },
        GroupDef {
            group: Group::Lifecycle,
            checks: lifecycle::CHECKS,
            run: lifecycle::run,
        },
        GroupDef {
            group: Group::Decoding,
            checks: decoding::CHECKS,
            run: decoding::run,
        },
        GroupDef {
            group: Group::Context,
            checks: context::CHECKS,
            run: context::run,
        },
        GroupDef {
            group: Group::Outputs,
            checks: outputs::CHECKS,
            run: outputs::run,
        },
        GroupDef {
            group: Group::EntryPoints,
            checks: entry_points::CHECKS,
            run: entry_points::run,
        },
        GroupDef {
            group: Group::Archives,
            checks: archives::CHECKS,
            run: archives::run,
        },
        GroupDef {
            group: Group::Batching,
            checks: batching::CHECKS,
            run: batching::run,
        },
        GroupDef {
            group: Group::Scaling,
            checks: scaling::CHECKS,
            run: scaling::run,
        },
        GroupDef {
            group: Group::Timeouts,
            checks: timeouts::CHECKS,
            run: timeouts::run,
        },
        GroupDef {
            group: Group::Gpu,
            checks: gpu::CHECKS,
            run: gpu::run,
        },
        GroupDef {
            group: Group::Security,
            checks: security::CHECKS,
            run: security::run,
        },
    ]
}

/// Every check of the suite, in run order.
pub fn catalogue() -> Vec<CheckSpec> {
    groups()
        .iter()
        .flat_map(|g| g.checks.iter().copied())
        .collect()
}
