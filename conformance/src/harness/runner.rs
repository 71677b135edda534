//! Runs the groups one after another, each followed by its teardown.
use std::time::Instant;

use futures_util::future::LocalBoxFuture;

use super::report::Report;
use super::session::{Gate, RunOptions, Session};
use super::spec::{CheckSpec, Group};
use crate::target::Target;

/// A group's body: registers what it needs and reports its checks.
pub type GroupRun = for<'a> fn(&'a Session) -> LocalBoxFuture<'a, anyhow::Result<()>>;

/// A group of checks: its catalogue entries and the function that runs them.
#[derive(Clone, Copy)]
pub struct GroupDef {
    pub group: Group,
    pub checks: &'static [CheckSpec],
    pub run: GroupRun,
}

/// Runs `groups` against `target`. Setup failures fail the group's unreached checks;
/// models a group registered are unregistered after it, whatever happened.
pub async fn run_groups(
    target: Target,
    opts: RunOptions,
    groups: &[GroupDef],
) -> anyhow::Result<Report> {
    let catalogue: Vec<CheckSpec> = groups
        .iter()
        .flat_map(|g| g.checks.iter().copied())
        .collect();
    let started = Instant::now();
    let session = Session::new(target, opts, &catalogue).await?;
    for g in groups {
        let runnable = g
            .checks
            .iter()
            .filter(|c| session.gate(c) == Gate::Run)
            .count();
        if runnable == 0 {
            session
                .quiet_group
                .store(true, std::sync::atomic::Ordering::Relaxed);
            session.finish_unreported(g.checks, "nothing to run");
            session
                .quiet_group
                .store(false, std::sync::atomic::Ordering::Relaxed);
            session.progress().group_skipped(g.group, g.checks.len());
            continue;
        }
        let group_started = Instant::now();
        session.progress().group_started(g.group, runnable);
        let result = (g.run)(&session).await;
        teardown(&session).await;
        let why = match &result {
            Ok(()) => "the group ended before this check ran".to_owned(),
            Err(e) => format!("the group stopped early: {e:#}"),
        };
        session.finish_unreported(g.checks, &why);
        session
            .progress()
            .group_finished(g.group, group_started.elapsed());
    }
    session.delivery.cleanup();
    Ok(Report {
        target: session.target.redacted(),
        records: session.records_in(&catalogue),
        artifacts: session.artifacts(),
        elapsed: started.elapsed(),
    })
}

/// Unregisters every model the group registered. TorchServe refuses (403) to remove a
/// default version while others exist: then the other versions go first.
async fn teardown(s: &Session) {
    for name in s.take_models() {
        let Ok(first) = s.management.delete(&format!("/models/{name}")).send().await else {
            continue;
        };
        if first.status != 403 {
            continue;
        }
        if let Ok(resp) = s
            .management
            .get(&format!("/models/{name}/all"))
            .send()
            .await
            && let Ok(serde_json::Value::Array(versions)) = resp.json()
        {
            for v in versions.iter().filter_map(|v| v["modelVersion"].as_str()) {
                let _ = s
                    .management
                    .delete(&format!("/models/{name}/{v}"))
                    .send()
                    .await;
            }
        }
        let _ = s.management.delete(&format!("/models/{name}")).send().await;
    }
}
