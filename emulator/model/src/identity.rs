//! A device's fixed identity: what stays the same across restarts and is
//! unique in a fleet (UUID, digest realm, MAC, serial numbers).

use md5::{Digest, Md5};

/// Identity values, all derived from one seed so a fleet is reproducible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The SMBIOS system UUID (16 bytes, in SMBIOS byte order).
    pub uuid: [u8; 16],
    /// `Digest:` and 32 upper-case hex digits; fixed for the device's life.
    pub digest_realm: String,
    /// Wired MAC, lower-case and dash-separated as AMT reports it.
    pub mac: String,
    pub serial_number: String,
}

impl Identity {
    /// Derives an identity from a seed string (e.g. the device's name).
    pub fn from_seed(seed: &str) -> Identity {
        let hash = |tag: &str| -> [u8; 16] {
            let mut h = Md5::new();
            h.update(tag.as_bytes());
            h.update(b"\0");
            h.update(seed.as_bytes());
            h.finalize().into()
        };
        let mut uuid = hash("uuid");
        // Version 4 / RFC 4122 variant bits, as a platform UUID would carry.
        uuid[7] = (uuid[7] & 0x0f) | 0x40;
        uuid[8] = (uuid[8] & 0x3f) | 0x80;
        let realm = hash("realm");
        let mac = hash("mac");
        let serial = hash("serial");
        Identity {
            uuid,
            digest_realm: format!("Digest:{}", hex_upper(&realm)),
            // 02: a locally administered unicast address, so no vendor's
            // block is claimed.
            mac: format!(
                "02-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
                mac[0], mac[1], mac[2], mac[3], mac[4]
            ),
            serial_number: format!("AE{}", &hex_upper(&serial)[..10]),
        }
    }

    /// CIM_ComputerSystemPackage.PlatformGUID: the UUID bytes as 32 hex digits.
    pub fn platform_guid(&self) -> String {
        hex_upper(&self.uuid)
    }

    /// The UUID in its textual form, with the first three groups byte-swapped
    /// as SMBIOS stores them.
    pub fn uuid_string(&self) -> String {
        let u = &self.uuid;
        format!(
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{}",
            u[3],
            u[2],
            u[1],
            u[0],
            u[5],
            u[4],
            u[7],
            u[6],
            u[8],
            u[9],
            hex_lower(&u[10..])
        )
    }
}
pub use amtemu_wire::hex::{hex_lower, hex_upper};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_stable_and_distinct() {
        let a = Identity::from_seed("device-1");
        assert_eq!(a, Identity::from_seed("device-1"));
        let b = Identity::from_seed("device-2");
        assert_ne!(a.uuid, b.uuid);
        assert_ne!(a.digest_realm, b.digest_realm);
        assert_eq!(a.digest_realm.len(), "Digest:".len() + 32);
        assert!(
            a.digest_realm[7..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_eq!(a.platform_guid().len(), 32);
        assert_eq!(a.mac.len(), 17);
    }
}
