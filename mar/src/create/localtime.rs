//! Local wall-clock time, which the archiver uses for `createdOn` and zip timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalTime {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl LocalTime {
    pub(crate) fn now() -> LocalTime {
        Self::at(SystemTime::now())
    }

    pub(crate) fn at(t: SystemTime) -> LocalTime {
        let secs = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        broken_down(secs)
    }

    /// Python's `strftime("%d/%m/%Y %H:%M:%S")`, the manifest's `createdOn`.
    pub(crate) fn created_on(&self) -> String {
        format!(
            "{:02}/{:02}/{:04} {:02}:{:02}:{:02}",
            self.day, self.month, self.year, self.hour, self.minute, self.second
        )
    }

    /// The zip (MS-DOS) timestamp; times before 1980 become 1980-01-01.
    pub(crate) fn zip_time(&self) -> zip::DateTime {
        u16::try_from(self.year)
            .ok()
            .and_then(|y| {
                zip::DateTime::from_date_and_time(
                    y,
                    self.month,
                    self.day,
                    self.hour,
                    self.minute,
                    self.second,
                )
                .ok()
            })
            .unwrap_or_default()
    }
}

/// `localtime_r`, so the time zone rules (TZ, /etc/localtime) are the C library's, as in Python.
#[allow(unsafe_code)]
fn broken_down(secs: i64) -> LocalTime {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: `tm` is plain old data, zero is a valid bit pattern for it; localtime_r only writes
    // into the struct we pass and reads `t`, both valid for the duration of the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return LocalTime {
            year: 1980,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
        };
    }
    LocalTime {
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u8,
        day: tm.tm_mday as u8,
        hour: tm.tm_hour as u8,
        minute: tm.tm_min as u8,
        second: tm.tm_sec.min(59) as u8,
    }
}
