//! The setup-mode hello a device sends to its provisioning server on 9971:
//! byte layouts (PSK version 2, PKI version 3) and a parser for collectors
//! and tests. All integers little-endian.

use serde::{Deserialize, Serialize};

/// Hash algorithms of the root hash table, with their hello codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    Sha1,
    Sha256,
    Sha384,
}

impl HashAlgorithm {
    pub fn code(self) -> u8 {
        match self {
            HashAlgorithm::Sha1 => 1,
            HashAlgorithm::Sha256 => 2,
            HashAlgorithm::Sha384 => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<HashAlgorithm> {
        match code {
            1 => Some(HashAlgorithm::Sha1),
            2 => Some(HashAlgorithm::Sha256),
            3 => Some(HashAlgorithm::Sha384),
            _ => None,
        }
    }

    pub fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
        }
    }
}

/// The PSK hello is always this long.
pub const PSK_HELLO_LEN: usize = 32;
/// The PKI hello's fixed part, before the hash entries.
pub const PKI_HEADER_LEN: usize = 25;
/// The retry counter never goes above this (Intel's packet format).
pub const MAX_RETRY_COUNT: u32 = 14;

/// What a hello says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub admin_credentials_set: bool,
    pub retry_count: u32,
    /// SMBIOS byte order (first three GUID fields little-endian).
    pub uuid: [u8; 16],
    pub body: HelloBody,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelloBody {
    /// Interface version 2: the provisioning ID.
    Psk { pid: [u8; 8] },
    /// Interface version 3: the active trusted root hashes.
    Pki {
        hashes: Vec<(HashAlgorithm, Vec<u8>)>,
    },
}

impl HelloBody {
    pub fn version(&self) -> u16 {
        match self {
            HelloBody::Psk { .. } => 2,
            HelloBody::Pki { .. } => 3,
        }
    }
}

impl Hello {
    /// The bytes on the wire. A hash whose length does not match its
    /// algorithm, or more than 255 of them, cannot come from the device
    /// model; such entries are left out rather than sent malformed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PSK_HELLO_LEN);
        out.extend_from_slice(&u16::from(self.admin_credentials_set).to_le_bytes());
        out.extend_from_slice(&self.body.version().to_le_bytes());
        out.extend_from_slice(&self.retry_count.min(MAX_RETRY_COUNT).to_le_bytes());
        out.extend_from_slice(&self.uuid);
        match &self.body {
            HelloBody::Psk { pid } => out.extend_from_slice(pid),
            HelloBody::Pki { hashes } => {
                let valid: Vec<_> = hashes
                    .iter()
                    .filter(|(a, h)| a.digest_len() == h.len())
                    .take(usize::from(u8::MAX))
                    .collect();
                out.push(valid.len() as u8);
                for (algorithm, hash) in valid {
                    out.push(algorithm.code());
                    out.push(hash.len() as u8);
                    out.extend_from_slice(hash);
                }
            }
        }
        out
    }

    /// Reads a hello as a server receives it (the whole buffer up to the
    /// device closing its side). Checks what MeshCentral checks, plus the
    /// exact length: trailing bytes are refused.
    pub fn parse(bytes: &[u8]) -> Result<Hello, HelloError> {
        if bytes.len() < 8 {
            return Err(HelloError::Short);
        }
        let admin = u16::from_le_bytes([bytes[0], bytes[1]]);
        if admin > 1 {
            return Err(HelloError::AdminFlag(admin));
        }
        let version = u16::from_le_bytes([bytes[2], bytes[3]]);
        let retry_count = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let uuid_at = |b: &[u8]| -> Result<[u8; 16], HelloError> {
            b.get(8..24)
                .and_then(|u| u.try_into().ok())
                .ok_or(HelloError::Short)
        };
        let body = match version {
            2 => {
                if bytes.len() != PSK_HELLO_LEN {
                    return Err(HelloError::Length(bytes.len()));
                }
                let pid = bytes[24..32].try_into().map_err(|_| HelloError::Short)?;
                HelloBody::Psk { pid }
            }
            3 => {
                let count = *bytes.get(24).ok_or(HelloError::Short)?;
                let mut at = PKI_HEADER_LEN;
                let mut hashes = Vec::with_capacity(usize::from(count));
                for _ in 0..count {
                    let (&code, &len) = bytes
                        .get(at)
                        .zip(bytes.get(at + 1))
                        .ok_or(HelloError::Short)?;
                    let algorithm =
                        HashAlgorithm::from_code(code).ok_or(HelloError::Algorithm(code))?;
                    if usize::from(len) != algorithm.digest_len() {
                        return Err(HelloError::HashLength { code, len });
                    }
                    let hash = bytes
                        .get(at + 2..at + 2 + usize::from(len))
                        .ok_or(HelloError::Short)?;
                    hashes.push((algorithm, hash.to_vec()));
                    at += 2 + usize::from(len);
                }
                if at != bytes.len() {
                    return Err(HelloError::Length(bytes.len()));
                }
                HelloBody::Pki { hashes }
            }
            other => return Err(HelloError::Version(other)),
        };
        Ok(Hello {
            admin_credentials_set: admin == 1,
            retry_count,
            uuid: uuid_at(bytes)?,
            body,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("hello too short")]
    Short,
    #[error("hello length {0} does not match its contents")]
    Length(usize),
    #[error("admin-credentials flag {0} is not 0 or 1")]
    AdminFlag(u16),
    #[error("unknown hello interface version {0}")]
    Version(u16),
    #[error("unknown hash algorithm {0}")]
    Algorithm(u8),
    #[error("hash algorithm {code} with length {len}")]
    HashLength { code: u8, len: u8 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UUID: [u8; 16] = [
        0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ];

    #[test]
    fn psk_hello_is_32_bytes_laid_out_as_documented() {
        let hello = Hello {
            admin_credentials_set: false,
            retry_count: 3,
            uuid: UUID,
            body: HelloBody::Psk { pid: *b"ABCDEFGH" },
        };
        #[rustfmt::skip]
        let expected: [u8; 32] = [
            0x00, 0x00,             // admin credentials not set
            0x02, 0x00,             // interface version 2
            0x03, 0x00, 0x00, 0x00, // retry count 3
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66,
            0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
            b'A', b'B', b'C', b'D', b'E', b'F', b'G', b'H',
        ];
        assert_eq!(hello.to_bytes(), expected);
        assert_eq!(Hello::parse(&expected).unwrap(), hello);
    }

    #[test]
    fn pki_hello_carries_each_hash_with_its_code_and_length() {
        let sha1 = vec![0xa1; 20];
        let sha256 = vec![0xb2; 32];
        let sha384 = vec![0xc3; 48];
        let hello = Hello {
            admin_credentials_set: true,
            retry_count: 40,
            uuid: UUID,
            body: HelloBody::Pki {
                hashes: vec![
                    (HashAlgorithm::Sha1, sha1.clone()),
                    (HashAlgorithm::Sha256, sha256.clone()),
                    (HashAlgorithm::Sha384, sha384.clone()),
                ],
            },
        };
        let mut expected = vec![0x01, 0x00, 0x03, 0x00, 14, 0, 0, 0];
        expected.extend_from_slice(&UUID);
        expected.push(3);
        expected.extend_from_slice(&[1, 20]);
        expected.extend_from_slice(&sha1);
        expected.extend_from_slice(&[2, 32]);
        expected.extend_from_slice(&sha256);
        expected.extend_from_slice(&[3, 48]);
        expected.extend_from_slice(&sha384);
        let bytes = hello.to_bytes();
        assert_eq!(bytes.len(), 25 + (2 + 20) + (2 + 32) + (2 + 48));
        assert_eq!(bytes, expected, "retry count saturates at 14");
        let back = Hello::parse(&bytes).unwrap();
        assert_eq!(back.retry_count, 14);
        assert_eq!(back.body, hello.body);
    }

    #[test]
    fn what_meshcentral_refuses_is_refused() {
        let mut good = vec![1, 0, 3, 0, 0, 0, 0, 0];
        good.extend_from_slice(&UUID);
        good.extend_from_slice(&[1, 1, 20]);
        good.extend_from_slice(&[9; 20]);
        assert!(Hello::parse(&good).is_ok());
        let mut admin = good.clone();
        admin[0] = 2;
        assert_eq!(Hello::parse(&admin), Err(HelloError::AdminFlag(2)));
        let mut version = good.clone();
        version[2] = 4;
        assert_eq!(Hello::parse(&version), Err(HelloError::Version(4)));
        let mut algorithm = good.clone();
        algorithm[25] = 4;
        assert_eq!(Hello::parse(&algorithm), Err(HelloError::Algorithm(4)));
        let mut length = good.clone();
        length[26] = 32;
        assert!(Hello::parse(&length).is_err());
        let mut missing = good.clone();
        missing[24] = 2;
        assert_eq!(Hello::parse(&missing), Err(HelloError::Short));
        assert_eq!(Hello::parse(&good[..30]), Err(HelloError::Short));
    }

    #[test]
    fn malformed_lengths_get_their_exact_error() {
        let mut sha1 = vec![1, 0, 3, 0, 0, 0, 0, 0];
        sha1.extend_from_slice(&UUID);
        sha1.extend_from_slice(&[1, 1, 32]);
        sha1.extend_from_slice(&[9; 32]);
        assert_eq!(
            Hello::parse(&sha1),
            Err(HelloError::HashLength { code: 1, len: 32 })
        );
        let mut trailing = vec![1, 0, 3, 0, 0, 0, 0, 0];
        trailing.extend_from_slice(&UUID);
        trailing.extend_from_slice(&[0, 0xff]);
        assert_eq!(Hello::parse(&trailing), Err(HelloError::Length(26)));
        let psk = Hello {
            admin_credentials_set: false,
            retry_count: 0,
            uuid: UUID,
            body: HelloBody::Psk { pid: *b"ABCDEFGH" },
        }
        .to_bytes();
        assert_eq!(Hello::parse(&psk[..31]), Err(HelloError::Length(31)));
        let long = [psk.as_slice(), &[0]].concat();
        assert_eq!(Hello::parse(&long), Err(HelloError::Length(33)));
        assert_eq!(Hello::parse(&psk[..7]), Err(HelloError::Short));
        let mut no_count = vec![1, 0, 3, 0, 0, 0, 0, 0];
        no_count.extend_from_slice(&UUID);
        assert_eq!(Hello::parse(&no_count), Err(HelloError::Short));
        assert_eq!(Hello::parse(&no_count[..20]), Err(HelloError::Short));
    }

    fn any_hello() -> impl Strategy<Value = Hello> {
        let algorithm = prop_oneof![
            Just(HashAlgorithm::Sha1),
            Just(HashAlgorithm::Sha256),
            Just(HashAlgorithm::Sha384)
        ];
        let entry = algorithm.prop_flat_map(|a| {
            proptest::collection::vec(any::<u8>(), a.digest_len()).prop_map(move |h| (a, h))
        });
        let body = prop_oneof![
            any::<[u8; 8]>().prop_map(|pid| HelloBody::Psk { pid }),
            proptest::collection::vec(entry, 0..40).prop_map(|hashes| HelloBody::Pki { hashes }),
        ];
        (any::<bool>(), 0..=MAX_RETRY_COUNT, any::<[u8; 16]>(), body).prop_map(
            |(admin_credentials_set, retry_count, uuid, body)| Hello {
                admin_credentials_set,
                retry_count,
                uuid,
                body,
            },
        )
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Hello::parse(&bytes);
        }

        #[test]
        fn what_is_built_parses_back(hello in any_hello()) {
            prop_assert_eq!(Hello::parse(&hello.to_bytes()), Ok(hello));
        }
    }
}
