//! The local interface: what LMS gives software on the host. Real firmware
//! is reached locally through the MEI driver, with LMS forwarding
//! localhost:16992 to it; amtemu has no host, so each device whose firmware
//! has host-based setup also listens on a *local port* of its own address
//! (the HTTP port + an offset: 26992 beside 16992 by default). Requests
//! there count as local:
//!
//! - they are served in every provisioning state, Pre-provisioning
//!   included, which is how host-based setup reaches an unconfigured device;
//! - the firmware's local system account ([`LOCAL_ACCOUNT`]) logs in there,
//!   with the password PTHI GET_LOCAL_SYSTEM_ACCOUNT would hand a local
//!   agent ([`local_account_password`]; `amtemu ctl` and the control API
//!   show it). It has the administrator's rights, locally only.
//!
//! Plain HTTP only: LMS's TLS port and the MEI/APF framing are not modelled.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::fleet::{Fleet, FleetError};
use amtemu_model::device::{Device, Feature, Identity, Port};

/// What the local port is, by default, above the device's HTTP port.
pub const DEFAULT_OFFSET: u16 = 10000;

/// The digest user name of the firmware's local system account.
pub const LOCAL_ACCOUNT: &str = "$$OsAdmin";

/// The local system account's password. Firmware makes one up; amtemu
/// derives it from the device's identity so it is stable across restarts
/// and readable by tests and tools without a host to ask.
pub fn local_account_password(identity: &Identity) -> String {
    use aws_lc_rs::digest::{SHA256, digest};
    let seed = [b"amtemu local system account".as_slice(), &identity.uuid].concat();
    let hash = digest(&SHA256, &seed);
    // 16 characters from a URL-safe alphabet, with the classes AMT's
    // password rules ask for.
    let body: String = hash.as_ref()[..12]
        .iter()
        .map(|b| {
            const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
            ALPHABET[*b as usize % ALPHABET.len()] as char
        })
        .collect();
    format!("{body}Aa1!")
}

/// MD5(user:realm:password) of the local system account.
pub fn local_account_ha1(device: &Device) -> [u8; 16] {
    amtemu_model::device::users::ha1(
        LOCAL_ACCOUNT,
        &device.identity.digest_realm,
        &local_account_password(&device.identity),
    )
}

/// The local address of a device reached on `http` (its HTTP address).
fn local_address(http: SocketAddr, offset: u16) -> Option<SocketAddr> {
    Some(SocketAddr::new(http.ip(), http.port().checked_add(offset)?))
}

/// Binds the local port of every device whose firmware has host-based
/// setup.
pub async fn bind(fleet: &Fleet, offset: u16) -> Result<Vec<TcpListener>, FleetError> {
    let mut listeners = Vec::new();
    for (http, endpoint) in fleet.http_addresses() {
        if !endpoint.device.firmware.has(Feature::HostBasedSetup) {
            continue;
        }
        let Some(addr) = local_address(http, offset) else {
            continue;
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| FleetError::Bind { addr, source })?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// One listener on the local port for every device (with
/// `--shared-listener`): a wildcard socket bound to the loopback interface,
/// as `Fleet::bind_shared` does for the network ports.
#[cfg(target_os = "linux")]
pub fn bind_shared(port: u16) -> Result<Vec<TcpListener>, FleetError> {
    Ok(vec![crate::fleet::bind_shared_port(port)?])
}

/// Accepts on the local listeners until the task is dropped.
pub async fn serve(fleet: Arc<Fleet>, listeners: Vec<TcpListener>, offset: u16) {
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        tasks.spawn(accept_loop(fleet.clone(), listener, offset));
    }
    while tasks.join_next().await.is_some() {}
}

async fn accept_loop(fleet: Arc<Fleet>, listener: TcpListener, offset: u16) {
    loop {
        let (stream, peer, local) = crate::fleet::accept(&listener, "local accept").await;
        let Some(http) = local
            .port()
            .checked_sub(offset)
            .map(|port| SocketAddr::new(local.ip(), port))
        else {
            continue;
        };
        let Some((endpoint, Port::Http)) = fleet.lookup(http) else {
            tracing::debug!(%local, "local connection for no device");
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(crate::http::serve_local_connection(
            stream,
            endpoint.clone(),
            peer,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    #[test]
    fn the_local_password_is_stable_per_device_and_meets_the_rules() {
        let a = device("11.8");
        let password = local_account_password(&a.identity);
        assert_eq!(password, local_account_password(&a.identity));
        let other = Identity::from_seed("another device");
        assert_ne!(password, local_account_password(&other));
        assert_eq!(password.len(), 16);
        assert!(password.chars().any(|c| c.is_ascii_uppercase()));
        assert!(password.chars().any(|c| c.is_ascii_lowercase()));
        assert!(password.chars().any(|c| c.is_ascii_digit()));
        assert!(password.chars().any(|c| !c.is_ascii_alphanumeric()));
    }

    #[test]
    fn local_addresses_sit_above_the_http_port() {
        let http: SocketAddr = "127.3.4.5:16992".parse().unwrap();
        assert_eq!(
            local_address(http, DEFAULT_OFFSET),
            Some("127.3.4.5:26992".parse().unwrap())
        );
        assert_eq!(
            local_address("127.0.0.1:60000".parse().unwrap(), 10000),
            None
        );
    }
}
