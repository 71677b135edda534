//! Processes as `/proc` shows them: command lines, liveness, signals.

use std::fs;

/// The command line of `pid`, arguments joined with spaces (None when it is gone).
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The state letter of `/proc/<pid>/stat` (R, S, Z...).
fn state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the state follows the last ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
}

/// Running (a zombie counts as gone: it has exited and only waits to be reaped).
pub fn alive(pid: u32) -> bool {
    state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

/// Live processes whose command line contains `needle`.
pub fn live_matching(needle: &str) -> Vec<u32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = rd
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|&pid| alive(pid) && cmdline(pid).is_some_and(|c| c.contains(needle)))
        .collect();
    pids.sort_unstable();
    pids
}

/// Whether `pid` is a live `ts-worker` started for the server in `dir`.
pub fn is_worker_of(pid: u32, dir: &str) -> bool {
    alive(pid) && cmdline(pid).is_some_and(|c| c.contains("ts-worker") && c.contains(dir))
}

#[allow(unsafe_code)]
pub fn signal(pid: u32, sig: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) with a plain pid and signal number touches no memory of ours.
    unsafe { libc::kill(pid, sig) == 0 }
}
