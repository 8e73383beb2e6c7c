//! A device answering at its firmware's pace (`--timing firmware`): the
//! row's connection ceilings, counted per device, and the wait before a
//! new connection is read. Answers' service times are drawn in `http`,
//! where the injected latency waits too. A device at the default pace has
//! no `Pace` at all, so its connections pay one branch.

use std::sync::Arc;
use std::time::Duration;

use amtemu_model::device::Port;
use amtemu_model::device::firmware::TimingProfile;
use amtemu_model::device::firmware::timing::Beyond;

use super::limits::{Gauge, Permit};

/// The ceilings of one device's firmware row, with what is in use.
#[derive(Debug)]
pub struct Pace {
    pub profile: &'static TimingProfile,
    /// WS-Man connections, plain and TLS.
    wsman: Arc<Gauge>,
    /// TLS sessions on the WS-Man port.
    tls: Arc<Gauge>,
}

/// A connection the firmware took: its places, held while it lives, and
/// how long the firmware takes before it reads it.
#[derive(Debug)]
pub struct Admitted {
    _wsman: Permit,
    _tls: Option<Permit>,
    pub first_read_after: Duration,
}

/// A connection over the row's ceiling, and what the firmware does with it.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub Beyond);

impl Pace {
    pub fn new(profile: &'static TimingProfile) -> Pace {
        Pace {
            profile,
            wsman: Arc::default(),
            tls: Arc::default(),
        }
    }

    /// Takes a connection on `port` if the row's ceilings leave room.
    /// Ports other than WS-Man's are not paced (no source gives figures
    /// for redirection): `Ok(None)`.
    pub fn admit(&self, port: Port) -> Result<Option<Admitted>, Refused> {
        let (tls, first_read) = match port {
            Port::Http => (false, &self.profile.accept),
            Port::Https => (true, &self.profile.tls_accept),
            _ => return Ok(None),
        };
        let refused = || Refused(self.profile.beyond);
        let wsman = self
            .wsman
            .try_acquire(self.profile.http_connections)
            .ok_or_else(refused)?;
        let tls = match tls {
            true => Some(
                self.tls
                    .try_acquire(self.profile.tls_sessions)
                    .ok_or_else(refused)?,
            ),
            false => None,
        };
        Ok(Some(Admitted {
            _wsman: wsman,
            _tls: tls,
            first_read_after: first_read.at(rand::random::<f64>()),
        }))
    }

    /// WS-Man connections open now (for tests).
    pub fn open(&self) -> usize {
        self.wsman.open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::device::firmware::timing::ME_11;

    #[test]
    fn ceilings_count_wsman_and_tls_apart_and_free_on_drop() {
        let pace = Pace::new(&ME_11);
        assert!(pace.admit(Port::Redirection).unwrap().is_none());
        let tls: Vec<_> = (0..ME_11.tls_sessions)
            .map(|_| pace.admit(Port::Https).unwrap().unwrap())
            .collect();
        assert_eq!(
            pace.admit(Port::Https).unwrap_err(),
            Refused(Beyond::Reset),
            "one TLS session past the ceiling"
        );
        let plain: Vec<_> = (ME_11.tls_sessions..ME_11.http_connections)
            .map(|_| pace.admit(Port::Http).unwrap().unwrap())
            .collect();
        assert_eq!(pace.open(), ME_11.http_connections);
        assert!(
            pace.admit(Port::Http).is_err(),
            "one connection past the ceiling"
        );
        for a in tls.iter().chain(&plain) {
            assert!(a.first_read_after >= ME_11.accept.min());
        }
        drop(tls);
        drop(plain);
        assert_eq!(pace.open(), 0);
        let again = pace.admit(Port::Https).unwrap().unwrap();
        assert!(again.first_read_after >= ME_11.tls_accept.min());
    }
}
