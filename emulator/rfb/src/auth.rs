//! VNC authentication (RFC 6143 §7.2.2), used on port 5900: the server sends
//! a 16-byte challenge, the client answers with it DES-encrypted under the
//! password. VNC's quirk is the key: the first 8 password bytes (zero-padded)
//! with the bits of each byte reversed.

use des::Des;
use des::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};

/// Challenge and response length.
pub const CHALLENGE_LEN: usize = 16;

/// The response a client computes (and the server expects) for `challenge`.
/// Only the first 8 bytes of `password` count, as with AMT's `RFBPassword`.
pub fn vnc_auth_response(password: &[u8], challenge: &[u8; CHALLENGE_LEN]) -> [u8; CHALLENGE_LEN] {
    let mut key = [0u8; 8];
    for (k, p) in key.iter_mut().zip(password) {
        *k = p.reverse_bits();
    }
    let cipher = Des::new(GenericArray::from_slice(&key));
    let mut out = *challenge;
    for half in out.chunks_exact_mut(8) {
        cipher.encrypt_block(GenericArray::from_mut_slice(half));
    }
    out
}

/// Whether `response` answers `challenge` for `password`. Compares without
/// an early exit, so timing tells nothing about how many bytes matched.
pub fn vnc_auth_verify(
    password: &[u8],
    challenge: &[u8; CHALLENGE_LEN],
    response: &[u8; CHALLENGE_LEN],
) -> bool {
    let want = vnc_auth_response(password, challenge);
    want.iter()
        .zip(response)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference computed with OpenSSL (des-ecb, key = bit-reversed "Passw0rd"
    // = 0a86ceceee0c4e26) over the challenge 00 01 .. 0f.
    const WANT: [u8; 16] = [
        0x1b, 0x29, 0x5f, 0x9e, 0x55, 0xe7, 0x8a, 0x9f, 0xda, 0x2b, 0x8b, 0x47, 0xbe, 0xf7, 0x64,
        0xdf,
    ];

    fn challenge() -> [u8; 16] {
        core::array::from_fn(|i| i as u8)
    }

    #[test]
    fn matches_openssl_with_reversed_key() {
        assert_eq!(vnc_auth_response(b"Passw0rd", &challenge()), WANT);
        // Characters past the eighth are ignored, as VNC does.
        assert_eq!(vnc_auth_response(b"Passw0rdXYZ", &challenge()), WANT);
        assert!(vnc_auth_verify(b"Passw0rd", &challenge(), &WANT));
        assert!(!vnc_auth_verify(b"Passw0rD", &challenge(), &WANT));
    }

    #[test]
    fn short_passwords_are_zero_padded() {
        let a = vnc_auth_response(b"ab", &challenge());
        let b = vnc_auth_response(b"ab\0\0\0\0\0\0", &challenge());
        assert_eq!(a, b);
    }
}
