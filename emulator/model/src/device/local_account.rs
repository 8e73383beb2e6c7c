//! The firmware's local system account, which software on the host logs in
//! with through the local interface: what LMS gives software on the host. Real firmware
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
//! The port itself is `Port::Local` in the fleet's address map; plain HTTP
//! only: LMS's TLS port and the MEI/APF framing are not modelled.

use super::{Device, Identity};

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
    super::users::ha1(
        LOCAL_ACCOUNT,
        &device.identity.digest_realm,
        &local_account_password(&device.identity),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::device;

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
}
