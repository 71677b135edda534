//! GPU discovery and round-robin assignment (contract §7).
//!
//! Differences from TorchServe, on purpose:
//! - Only GPUs that `CUDA_VISIBLE_DEVICES` exposes are counted, and ids are the ones CUDA uses
//!   inside the process (0..k), so `cuda:<gpu_id>` always names a device the handler can open.
//!   TorchServe counts every GPU nvidia-smi lists and hands out ids that fail.
//! - The server-wide counter hands out 0 first (then 1, 2, ...). TorchServe pre-increments, so its
//!   very first worker gets GPU 1 when there are several.
//! - `simulated_gpus=N` declares N GPUs without devices, so the rules can run on CPU-only hosts;
//!   handlers then see those ids.

use mar::model_config::DeviceType;
use std::process::Command;
use std::sync::Mutex;

#[derive(Debug)]
pub struct Gpus {
    /// logical id → physical nvidia-smi index (empty for simulated GPUs)
    physical: Vec<u32>,
    count: u32,
    simulated: bool,
    next: Mutex<u32>,
}

impl Gpus {
    /// Finds the GPUs: simulated ones when declared, else nvidia-smi's list filtered by
    /// `CUDA_VISIBLE_DEVICES`; then capped by `number_of_gpu`.
    pub fn detect(simulated: Option<u32>, number_of_gpu: Option<u32>) -> Gpus {
        let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
        let (physical, simulated_flag) = match simulated {
            Some(n) => {
                let all: Vec<(u32, String)> = (0..n).map(|i| (i, format!("SIM-{i}"))).collect();
                (filter_visible(&all, visible.as_deref()), true)
            }
            None => (
                filter_visible(&nvidia_smi_list(), visible.as_deref()),
                false,
            ),
        };
        let count =
            number_of_gpu.map_or(physical.len() as u32, |cap| cap.min(physical.len() as u32));
        Gpus {
            physical,
            count,
            simulated: simulated_flag,
            next: Mutex::new(0),
        }
    }

    /// No GPUs (tests).
    pub fn none() -> Gpus {
        Gpus {
            physical: Vec::new(),
            count: 0,
            simulated: false,
            next: Mutex::new(0),
        }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn is_simulated(&self) -> bool {
        self.simulated
    }

    /// Whether a model with this yaml deviceType runs on GPUs here.
    pub fn model_uses_gpu(&self, device_type: Option<DeviceType>) -> bool {
        self.count > 0 && device_type != Some(DeviceType::Cpu)
    }

    /// deviceIds are used only when every id names a GPU here (TorchServe drops the whole list).
    pub fn valid_device_ids(&self, ids: Option<&[i64]>) -> Option<Vec<u32>> {
        let ids = ids?;
        if ids.is_empty() || ids.iter().any(|&i| i < 0 || i >= i64::from(self.count)) {
            return None;
        }
        Some(ids.iter().map(|&i| i as u32).collect())
    }

    /// The next id of the server-wide round robin.
    pub fn next_global(&self) -> Option<u32> {
        if self.count == 0 {
            return None;
        }
        let mut n = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let id = *n % self.count;
        *n = (id + 1) % self.count;
        Some(id)
    }

    /// TorchServe's gpuUsage text for a worker's GPU.
    pub fn usage(&self, gpu_id: Option<u32>) -> String {
        let Some(id) = gpu_id else {
            return "N/A".into();
        };
        if self.simulated {
            return format!("gpuId::{id} simulated");
        }
        let Some(phys) = self.physical.get(id as usize) else {
            return "N/A".into();
        };
        let out = Command::new("nvidia-smi")
            .args(["-i", &phys.to_string()])
            .args([
                "--query-gpu=utilization.gpu,utilization.memory,memory.used",
                "--format=csv,noheader,nounits",
            ])
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                let v: Vec<&str> = text.trim().split(',').map(str::trim).collect();
                if v.len() == 3 {
                    format!(
                        "gpuId::{id} utilization.gpu [%]::{} % utilization.memory [%]::{} % memory.used [MiB]::{} MiB",
                        v[0], v[1], v[2]
                    )
                } else {
                    "N/A".into()
                }
            }
            _ => "N/A".into(),
        }
    }
}

/// `(index, uuid)` of every GPU nvidia-smi reports; empty when it is absent or fails.
fn nvidia_smi_list() -> Vec<(u32, String)> {
    let Ok(out) = Command::new("nvidia-smi")
        .args(["--query-gpu=index,uuid", "--format=csv,noheader"])
        .output()
    else {
        return Vec::new();
    };
    if !out.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (idx, uuid) = l.split_once(',')?;
            Some((idx.trim().parse().ok()?, uuid.trim().to_string()))
        })
        .collect()
}

/// Applies CUDA_VISIBLE_DEVICES (indices or UUID prefixes, in the order given; CUDA stops at the
/// first entry it cannot resolve). Returns the physical indices, in logical order.
fn filter_visible(all: &[(u32, String)], visible: Option<&str>) -> Vec<u32> {
    let Some(visible) = visible else {
        return all.iter().map(|(i, _)| *i).collect();
    };
    let mut out = Vec::new();
    for entry in visible.split(',').map(str::trim) {
        let found = if let Ok(idx) = entry.parse::<i64>() {
            all.iter().find(|(i, _)| i64::from(*i) == idx)
        } else if entry.is_empty() {
            None
        } else {
            all.iter().find(|(_, uuid)| uuid.starts_with(entry))
        };
        match found {
            Some((i, _)) if !out.contains(i) => out.push(*i),
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpus(n: u32) -> Vec<(u32, String)> {
        (0..n).map(|i| (i, format!("GPU-{i}aaaa"))).collect()
    }

    #[test]
    fn visible_devices_filter() {
        assert_eq!(filter_visible(&gpus(4), None), vec![0, 1, 2, 3]);
        assert_eq!(filter_visible(&gpus(4), Some("1,3")), vec![1, 3]);
        assert_eq!(filter_visible(&gpus(4), Some("")), Vec::<u32>::new());
        assert_eq!(filter_visible(&gpus(4), Some("-1")), Vec::<u32>::new());
        assert_eq!(
            filter_visible(&gpus(4), Some("2,9,1")),
            vec![2],
            "CUDA stops at an invalid id"
        );
        assert_eq!(filter_visible(&gpus(4), Some("GPU-3")), vec![3]);
    }

    #[test]
    fn round_robin_starts_at_zero_and_wraps() {
        let g = Gpus {
            physical: vec![0, 1, 2],
            count: 3,
            simulated: true,
            next: Mutex::new(0),
        };
        let ids: Vec<_> = (0..5).map(|_| g.next_global().unwrap()).collect();
        assert_eq!(ids, [0, 1, 2, 0, 1]);
        assert_eq!(Gpus::none().next_global(), None);
    }

    #[test]
    fn device_ids_rules() {
        let g = Gpus {
            physical: vec![0, 1, 2, 3],
            count: 4,
            simulated: true,
            next: Mutex::new(0),
        };
        assert_eq!(g.valid_device_ids(Some(&[2, 3])), Some(vec![2, 3]));
        assert_eq!(g.valid_device_ids(Some(&[2, 4])), None);
        assert_eq!(g.valid_device_ids(Some(&[-1])), None);
        assert!(!g.model_uses_gpu(Some(DeviceType::Cpu)));
        assert!(g.model_uses_gpu(None));
        assert!(!Gpus::none().model_uses_gpu(Some(DeviceType::Gpu)));
    }
}
