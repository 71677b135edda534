//! Per-model-version settings with TorchServe's precedence rules (contract §1.5):
//! register parameters, model-config.yaml, the `models` JSON of config.properties, and the
//! server defaults.

use crate::config::{Config, ModelsJsonEntry};
use mar::model_config::{DeviceType, ModelConfig};

/// Register parameters as given by the client (`None` = not given).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requested {
    pub batch_size: Option<i64>,
    pub max_batch_delay: Option<i64>,
    pub response_timeout: Option<i64>,
    pub startup_timeout: Option<i64>,
    pub initial_workers: Option<i64>,
}

/// The resolved settings of one model version (what describe shows, apart from workers).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub batch_size: u32,
    /// ms
    pub max_batch_delay: u64,
    /// s
    pub response_timeout: u64,
    /// s
    pub startup_timeout: u64,
    pub max_retry_timeout: u64,
    /// ms, 0 = none
    pub client_timeout: u64,
    pub job_queue_size: usize,
    pub device_type: Option<DeviceType>,
    pub device_ids: Option<Vec<i64>>,
    pub parallel_type: String,
    pub parallel_level: i64,
    pub continuous_batching: bool,
    pub use_job_ticket: bool,
    pub use_venv: bool,
    pub stateful: bool,
    pub sequence_max_idle_msec: u64,
    pub sequence_timeout_msec: u64,
    pub max_num_sequence: u64,
    pub max_sequence_job_queue_size: u64,
    pub min_workers: u32,
    pub max_workers: u32,
}

fn positive(v: Option<i64>) -> Option<i64> {
    v.filter(|&x| x > 0)
}

impl Settings {
    /// `initial_workers` is the worker count to use when the yaml pair rule does not apply:
    /// the register parameter (default `default_workers_per_model`), or the start-up default.
    /// The `models` JSON worker counts apply only to start-up models (`at_startup`).
    pub fn resolve(
        req: &Requested,
        yaml: Option<&ModelConfig>,
        json: Option<&ModelsJsonEntry>,
        config: &Config,
        initial_workers: u32,
        at_startup: bool,
    ) -> Settings {
        let y = |f: fn(&ModelConfig) -> Option<i64>| yaml.and_then(f);
        let j = |f: fn(&ModelsJsonEntry) -> Option<i64>| json.and_then(f);
        // batchSize / maxBatchDelay: register param > yaml > models JSON > defaults 1 / 100 ms.
        let batch_size = req
            .batch_size
            .or_else(|| positive(y(|c| c.batch_size.map(i64::from))))
            .or_else(|| positive(j(|e| e.batch_size)))
            .unwrap_or(1)
            .clamp(1, i64::from(u32::MAX)) as u32;
        let max_batch_delay = req
            .max_batch_delay
            .or_else(|| positive(y(|c| c.max_batch_delay.and_then(|v| i64::try_from(v).ok()))))
            .or_else(|| positive(j(|e| e.max_batch_delay)))
            .unwrap_or(100)
            .max(0) as u64;
        // responseTimeout / startupTimeout: yaml > models JSON > register param > server default.
        let response_timeout = positive(y(|c| {
            c.response_timeout.and_then(|v| i64::try_from(v).ok())
        }))
        .or_else(|| positive(j(|e| e.response_timeout)))
        .or_else(|| positive(req.response_timeout))
        .map_or(config.default_response_timeout, |v| v as u64);
        let startup_timeout =
            positive(y(|c| c.startup_timeout.and_then(|v| i64::try_from(v).ok())))
                .or_else(|| positive(j(|e| e.startup_timeout)))
                .or_else(|| positive(req.startup_timeout))
                .map_or(config.default_startup_timeout, |v| v as u64);

        // Workers: the yaml pair when minWorkers > 0 and maxWorkers >= minWorkers, else the
        // models JSON pair, else min = max = initial workers.
        let yaml_pair = yaml.and_then(|c| match (c.min_workers, c.max_workers) {
            (Some(min), Some(max)) if min > 0 && max >= min => Some((min, max)),
            _ => None,
        });
        let json_pair =
            json.filter(|_| at_startup)
                .and_then(|e| match (e.min_workers, e.max_workers) {
                    (Some(min), max) if min >= 0 => {
                        let max = max.unwrap_or(min).max(min);
                        Some((min as u32, u32::try_from(max).unwrap_or(u32::MAX)))
                    }
                    _ => None,
                });
        let (min_workers, max_workers) = yaml_pair
            .or(json_pair)
            .unwrap_or((initial_workers, initial_workers));

        let c = yaml.cloned().unwrap_or_default();
        Settings {
            batch_size,
            max_batch_delay,
            response_timeout,
            startup_timeout,
            max_retry_timeout: c.max_retry_timeout_in_sec.unwrap_or(300),
            client_timeout: c.client_timeout_in_mills.unwrap_or(0),
            job_queue_size: c
                .job_queue_size
                .map_or(config.job_queue_size, |v| v as usize),
            device_type: c.device_type,
            device_ids: c.device_ids,
            parallel_type: c.parallel_type.unwrap_or_default(),
            parallel_level: c.parallel_level.unwrap_or(0),
            continuous_batching: c.continuous_batching.unwrap_or(false),
            use_job_ticket: c.use_job_ticket.unwrap_or(false),
            use_venv: c.use_venv.unwrap_or(false),
            stateful: c.sequence_batching.unwrap_or(false),
            sequence_max_idle_msec: c.sequence_max_idle_msec.unwrap_or(0),
            sequence_timeout_msec: c.sequence_timeout_msec.unwrap_or(0),
            max_num_sequence: c.max_num_sequence.unwrap_or(0),
            max_sequence_job_queue_size: c.max_sequence_job_queue_size.unwrap_or(0),
            min_workers,
            max_workers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Args;

    fn config() -> Config {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("none.properties");
        std::fs::write(&file, "").unwrap();
        Config::resolve_with(
            &Args {
                ts_config: Some(file),
                ..Args::default()
            },
            &Default::default(),
            dir.path(),
        )
        .unwrap()
    }

    fn yaml(text: &str) -> ModelConfig {
        ModelConfig::parse(text).unwrap().0
    }

    fn check(
        req: Requested,
        yaml_text: Option<&str>,
        json: Option<ModelsJsonEntry>,
        want: (u32, u64, u64, u32, u32),
    ) {
        let y = yaml_text.map(yaml);
        let s = Settings::resolve(&req, y.as_ref(), json.as_ref(), &config(), 3, false);
        assert_eq!(
            (
                s.batch_size,
                s.max_batch_delay,
                s.response_timeout,
                s.min_workers,
                s.max_workers
            ),
            want,
            "req={req:?} yaml={yaml_text:?}"
        );
    }

    #[test]
    fn precedence() {
        check(Requested::default(), None, None, (1, 100, 120, 3, 3));
        check(
            Requested {
                batch_size: Some(4),
                ..Default::default()
            },
            Some("batchSize: 8"),
            None,
            (4, 100, 120, 3, 3),
        );
        check(
            Requested::default(),
            Some("batchSize: 8\nmaxBatchDelay: 5"),
            None,
            (8, 5, 120, 3, 3),
        );
        let json = ModelsJsonEntry {
            batch_size: Some(2),
            max_batch_delay: Some(7),
            ..Default::default()
        };
        check(
            Requested::default(),
            None,
            Some(json.clone()),
            (2, 7, 120, 3, 3),
        );
        check(
            Requested::default(),
            Some("batchSize: 8"),
            Some(json),
            (8, 7, 120, 3, 3),
        );
        // yaml responseTimeout overrides the register parameter
        check(
            Requested {
                response_timeout: Some(5),
                ..Default::default()
            },
            Some("responseTimeout: 9"),
            None,
            (1, 100, 9, 3, 3),
        );
        check(
            Requested {
                response_timeout: Some(5),
                ..Default::default()
            },
            None,
            None,
            (1, 100, 5, 3, 3),
        );
        // the yaml worker pair needs both values
        check(
            Requested::default(),
            Some("minWorkers: 2\nmaxWorkers: 4"),
            None,
            (1, 100, 120, 2, 4),
        );
        check(
            Requested::default(),
            Some("minWorkers: 2"),
            None,
            (1, 100, 120, 3, 3),
        );
        check(
            Requested::default(),
            Some("minWorkers: 2\nmaxWorkers: 1"),
            None,
            (1, 100, 120, 3, 3),
        );
    }
}
