//! When a device in setup mode sends its hellos.
//!
//! Configuration Manager documents: once a minute for 5 minutes, every
//! 5 minutes for an hour, then hourly to 24 hours. Read as offsets from the
//! moment the window opens: 0-4 min (5 hellos), 5-55 min in 5-minute steps
//! (11), then 1 h to 23 h hourly (23) — 39 hellos in a 24-hour window. A
//! 6-hour PSK window ends after the 5 h hello. The retry counter is the
//! attempt number, saturating at 14 (the packet format's maximum) from the
//! 15th retry on; Intel does not say, and saturating keeps the field
//! truthful ("at least 14 retries") where wrapping would not.

use std::time::Duration;

use amtemu_wire::hello::MAX_RETRY_COUNT;

pub const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// The hello window for PKI remote configuration.
pub const PKI_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The hello window for PID/PPS setup.
pub const PSK_WINDOW: Duration = Duration::from_secs(6 * 3600);

/// How far from the window's opening attempt `n` (0-based) is due, in
/// firmware time.
pub fn offset(n: u32) -> Duration {
    match n {
        0..5 => MINUTE * n,
        5..16 => MINUTE * 5 * (n - 4),
        _ => HOUR * (n - 15),
    }
}

/// The retry counter attempt `n` carries.
pub fn retry_count(n: u32) -> u32 {
    n.min(MAX_RETRY_COUNT)
}

/// A hello schedule with its window, and a time scale so tests and
/// scenarios can run a day of hellos in seconds (0.001 makes a minute
/// 60 ms).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub window: Duration,
    pub scale: f64,
}

impl Schedule {
    pub fn new(window: Duration, scale: f64) -> Schedule {
        Schedule { window, scale }
    }

    /// A firmware duration in this schedule's time.
    pub fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.scale)
    }

    /// When attempt `n` is due after the window opened (scaled), or None
    /// when the window has closed by then.
    pub fn due(&self, n: u32) -> Option<Duration> {
        let at = offset(n);
        (at < self.window).then(|| self.scaled(at))
    }

    /// When the window closes after it opened (scaled).
    pub fn closes(&self) -> Duration {
        self.scaled(self.window)
    }
}

/// Checks a user-given time scale.
pub fn valid_scale(scale: f64) -> Result<f64, String> {
    if scale.is_finite() && scale > 0.0 && scale <= 1000.0 {
        Ok(scale)
    } else {
        Err(format!(
            "hello interval scale {scale} must be a number above 0 (1 = firmware timing)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_has_39_hellos_in_three_phases() {
        let pki = Schedule::new(PKI_WINDOW, 1.0);
        let all: Vec<Duration> = (0..).map_while(|n| pki.due(n)).collect();
        assert_eq!(all.len(), 39);
        let minutes: Vec<u64> = all.iter().map(|d| d.as_secs() / 60).collect();
        assert_eq!(&minutes[..6], &[0, 1, 2, 3, 4, 5]);
        assert_eq!(&minutes[15..17], &[55, 60]);
        assert_eq!(minutes[38], 23 * 60);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_psk_window_ends_after_the_five_hour_hello() {
        let psk = Schedule::new(PSK_WINDOW, 1.0);
        let all: Vec<Duration> = (0..).map_while(|n| psk.due(n)).collect();
        assert_eq!(all.len(), 16 + 5);
        assert_eq!(*all.last().unwrap(), HOUR * 5);
    }

    #[test]
    fn the_counter_saturates_at_14() {
        assert_eq!(retry_count(0), 0);
        assert_eq!(retry_count(14), 14);
        assert_eq!(retry_count(38), 14);
    }

    #[test]
    fn scale_shrinks_every_interval() {
        let fast = Schedule::new(PKI_WINDOW, 0.001);
        assert_eq!(fast.due(1), Some(Duration::from_millis(60)));
        assert_eq!(
            fast.closes(),
            Duration::from_secs(86) + Duration::from_millis(400)
        );
        assert!(valid_scale(0.0).is_err());
        assert!(valid_scale(f64::NAN).is_err());
        assert!(valid_scale(0.5).is_ok());
    }
}
