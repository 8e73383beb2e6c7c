//! The ME clock (AMT_TimeSynchronizationService): kept as an offset from
//! the emulator's own clock.

use crate::device::audit::AuditEvent;
use crate::device::{Device, unix_now};

impl Device {
    /// Sets the ME clock to `now` (seconds since 1970), as a console's
    /// SetHighAccuracyTimeSynch does; audited.
    pub fn set_clock(&self, now: u32) {
        self.with_state(|s| {
            let me_now = i64::from(unix_now(s.nvram.clock_offset));
            s.nvram.clock_offset += i64::from(now) - me_now;
        });
        self.changed("AMT_TimeSynchronizationService");
        self.audit(AuditEvent::time_set(now));
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::device;

    #[test]
    fn the_clock_is_set_where_asked() {
        let d = device("11.8");
        d.set_clock(2_000_000_000);
        assert!(d.clock().abs_diff(2_000_000_000) <= 2);
        d.set_clock(1_000);
        assert!(d.clock().abs_diff(1_000) <= 2);
    }
}
