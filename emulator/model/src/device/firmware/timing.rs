//! How fast each firmware generation answers and how many connections it
//! takes at once: the figures `--timing firmware` serves with. The server's
//! HTTP layer and accept loop read these rows and nothing else; with the
//! default `--timing fast` nobody reads them.
//!
//! Every figure here, its source and what is inference is listed in
//! `docs/TIMING.md`. In short: no source measures a single request's
//! service time on a named generation. The rows are fitted to what the
//! sources do give (a whole MeshCommander state save on 11.8, a threaded
//! power-state sweep on AMT 6-era hardware, a local deactivation on a
//! current CSME) and to the ceilings clients put on themselves after they
//! met the firmware's (MPS: three requests in flight per device after
//! `OPEN_RESOURCE_SHORTAGE` refusals; the DMT library: six channels).

use std::time::Duration;

/// Whether devices answer at the pace of their firmware or as fast as the
/// emulator can.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimingMode {
    /// As fast as the emulator can; no connection ceiling beyond the
    /// fleet's.
    #[default]
    Fast,
    /// Each answer waits a service time drawn from the firmware row's
    /// distribution, and connections beyond the row's ceilings are refused.
    Firmware,
}

/// A bounded service time in milliseconds: a triangular distribution from
/// `min` to `max`, most likely at `mode`. Bounded on both sides, so a test
/// can rely on the floor and a client never waits past the ceiling; skewed
/// to the right, as service times are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceTime {
    pub min_ms: u32,
    pub mode_ms: u32,
    pub max_ms: u32,
}

impl ServiceTime {
    const fn ms(min_ms: u32, mode_ms: u32, max_ms: u32) -> ServiceTime {
        ServiceTime {
            min_ms,
            mode_ms,
            max_ms,
        }
    }

    /// The floor: no answer of this kind comes sooner.
    pub fn min(&self) -> Duration {
        Duration::from_millis(self.min_ms.into())
    }

    /// The ceiling.
    pub fn max(&self) -> Duration {
        Duration::from_millis(self.max_ms.into())
    }

    /// The service time at quantile `u` (0 ≤ u ≤ 1; outside is clamped):
    /// the inverse of the distribution function, so a uniform `u` gives a
    /// draw from the distribution and the same `u` always gives the same
    /// time (tests and seeded runs are repeatable).
    pub fn at(&self, u: f64) -> Duration {
        let u = if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) };
        let (a, b) = (f64::from(self.min_ms), f64::from(self.max_ms));
        let c = f64::from(self.mode_ms).clamp(a, b);
        let width = b - a;
        let ms = if width <= 0.0 {
            a
        } else {
            let peak = (c - a) / width;
            if u <= peak {
                a + (u * width * (c - a)).sqrt()
            } else {
                b - ((1.0 - u) * width * (b - c)).sqrt()
            }
        };
        // Rounding cannot leave the bounds: both ends are whole.
        Duration::from_secs_f64(ms.clamp(a, b) / 1000.0)
    }
}

/// What a firmware does with a connection beyond its ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beyond {
    /// Refused at once with a TCP reset: no socket, no queue.
    Reset,
}

/// What kind of answer a request gets, for its service time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answering {
    /// The 401 digest challenge (no credentials, or stale ones).
    Challenge,
    /// An authenticated Get, Enumerate, Pull, Release or Identify, and the
    /// web UI's pages.
    Read,
    /// An authenticated Put, Create, Delete or method call.
    Write,
}

/// One generation's pace: a service time per kind of answer and its
/// connection ceilings.
#[derive(Debug, PartialEq, Eq)]
pub struct TimingProfile {
    /// Which generations share the row, for `amtemu firmware list` and docs.
    pub generation: &'static str,
    /// From accepting a plain connection until the firmware reads it.
    pub accept: ServiceTime,
    /// From accepting a TLS connection until the firmware's first
    /// handshake bytes (the handshake's own work: RSA on the ME).
    pub tls_accept: ServiceTime,
    pub challenge: ServiceTime,
    pub read: ServiceTime,
    pub write: ServiceTime,
    /// WS-Man connections (16992 and 16993 together) a device serves at
    /// once.
    pub http_connections: usize,
    /// Of those, TLS sessions (16993).
    pub tls_sessions: usize,
    /// What happens to one more.
    pub beyond: Beyond,
}

impl TimingProfile {
    /// The service time of an answer of this kind.
    pub fn service(&self, answering: Answering) -> &ServiceTime {
        match answering {
            Answering::Challenge => &self.challenge,
            Answering::Read => &self.read,
            Answering::Write => &self.write,
        }
    }
}

/// AMT 2.x to 5.x: the ME on its first, slowest core. Nothing measured;
/// slower than the 6-10 row by inference (docs/TIMING.md).
pub static ME_LEGACY: TimingProfile = TimingProfile {
    generation: "AMT 3-5",
    accept: ServiceTime::ms(1, 3, 15),
    tls_accept: ServiceTime::ms(400, 800, 2000),
    challenge: ServiceTime::ms(10, 25, 80),
    read: ServiceTime::ms(60, 250, 900),
    write: ServiceTime::ms(150, 500, 2000),
    http_connections: 3,
    tls_sessions: 2,
    beyond: Beyond::Reset,
};

/// AMT 6 to 10. The floor follows amtc's sweep (a connection, a challenge
/// and a request in about 55 ms); the spread follows the 11.8 row.
pub static ME_6_TO_10: TimingProfile = TimingProfile {
    generation: "AMT 6-10",
    accept: ServiceTime::ms(1, 2, 10),
    tls_accept: ServiceTime::ms(200, 400, 1200),
    challenge: ServiceTime::ms(5, 12, 40),
    read: ServiceTime::ms(20, 120, 600),
    write: ServiceTime::ms(60, 250, 1200),
    http_connections: 4,
    tls_sessions: 3,
    beyond: Beyond::Reset,
};

/// AMT 11: a mean read near 250 ms, from MeshCommander's state save on
/// 11.8.50 (about three minutes for a few hundred round trips).
pub static ME_11: TimingProfile = TimingProfile {
    generation: "AMT 11",
    accept: ServiceTime::ms(1, 2, 10),
    tls_accept: ServiceTime::ms(150, 300, 900),
    challenge: ServiceTime::ms(5, 12, 40),
    read: ServiceTime::ms(40, 150, 560),
    write: ServiceTime::ms(80, 300, 1200),
    http_connections: 4,
    tls_sessions: 3,
    beyond: Beyond::Reset,
};

/// CSME 12 and later: a local deactivation over LMS in 126 ms (rpc-go)
/// bounds a round trip near 40-60 ms; the DMT library's six channels per
/// device stand for the ceiling.
pub static CSME_12_PLUS: TimingProfile = TimingProfile {
    generation: "CSME 12+",
    accept: ServiceTime::ms(1, 2, 8),
    tls_accept: ServiceTime::ms(60, 150, 500),
    challenge: ServiceTime::ms(3, 8, 30),
    read: ServiceTime::ms(10, 35, 150),
    write: ServiceTime::ms(30, 70, 300),
    http_connections: 6,
    tls_sessions: 4,
    beyond: Beyond::Reset,
};

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS: [&TimingProfile; 4] = [&ME_LEGACY, &ME_6_TO_10, &ME_11, &CSME_12_PLUS];

    fn kinds(row: &TimingProfile) -> [&ServiceTime; 5] {
        [
            &row.accept,
            &row.tls_accept,
            &row.challenge,
            &row.read,
            &row.write,
        ]
    }

    #[test]
    fn draws_stay_within_bounds_and_are_repeatable() {
        for row in ROWS {
            for t in kinds(row) {
                assert!(t.min_ms <= t.mode_ms && t.mode_ms <= t.max_ms, "{t:?}");
                assert_eq!(t.at(0.0), t.min());
                assert_eq!(t.at(1.0), t.max());
                let mut last = Duration::ZERO;
                for i in 0..=1000 {
                    let u = f64::from(i) / 1000.0;
                    let d = t.at(u);
                    assert!(t.min() <= d && d <= t.max(), "{t:?} at {u}: {d:?}");
                    assert!(d >= last, "the quantile function is monotone");
                    assert_eq!(d, t.at(u), "same quantile, same time");
                    last = d;
                }
            }
        }
    }

    #[test]
    fn the_mode_sits_at_its_quantile_and_odd_inputs_are_clamped() {
        let t = ServiceTime::ms(10, 30, 110);
        // The mode's quantile is (mode - min) / (max - min) = 0.2.
        assert_eq!(t.at(0.2).as_millis(), 30);
        assert_eq!(t.at(-3.0), t.min());
        assert_eq!(t.at(7.0), t.max());
        assert_eq!(t.at(f64::NAN), t.min());
        let point = ServiceTime::ms(5, 5, 5);
        assert_eq!(point.at(0.7), Duration::from_millis(5));
        // A mode outside the bounds is treated as the nearest bound.
        let skewed = ServiceTime::ms(10, 0, 20);
        assert!(skewed.at(0.5) >= skewed.min() && skewed.at(0.5) <= skewed.max());
    }

    #[test]
    fn the_mean_of_many_draws_is_the_distributions() {
        // The triangular mean is (min + mode + max) / 3: 11.8's reads
        // average near the 250 ms the MeshCommander state save implies.
        let t = ME_11.read;
        let n = 10_000;
        let sum: f64 = (0..n)
            .map(|i| t.at((f64::from(i) + 0.5) / f64::from(n)).as_secs_f64() * 1000.0)
            .sum();
        let mean = sum / f64::from(n);
        let expected = f64::from(t.min_ms + t.mode_ms + t.max_ms) / 3.0;
        assert!((mean - expected).abs() < 1.0, "{mean} vs {expected}");
        assert!((230.0..=270.0).contains(&mean), "{mean}");
    }

    #[test]
    fn ceilings_admit_a_console_and_tls_is_the_tighter() {
        for row in ROWS {
            assert!(
                row.http_connections >= 2,
                "MeshCommander keeps two in flight"
            );
            assert!(row.tls_sessions >= 1 && row.tls_sessions <= row.http_connections);
            assert_eq!(row.service(Answering::Read), &row.read);
            assert_eq!(row.service(Answering::Write), &row.write);
            assert_eq!(row.service(Answering::Challenge), &row.challenge);
        }
    }
}
