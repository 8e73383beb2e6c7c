//! The Kerberos acceptor on what arrives in `Authorization: Negotiate` and
//! in redirection authentication type 2: the GSS/SPNEGO framing, the
//! AP-REQ, and (behind a selector byte, since a mutated ticket rarely still
//! decrypts) the PAC and its NDR logon info directly. Seeds are tokens the
//! acceptor's unit tests build as an AD KDC does, for the RC4 master key
//! below.
#![no_main]

use std::sync::LazyLock;

use amtemu_model::device::users::KerberosSettings;
use amtemu_server::kerberos::{DeviceState, Key, accept, keys, pac};
use libfuzzer_sys::fuzz_target;

/// The seeds' time (the unit tests' clock).
const NOW: u64 = 1_800_000_000;

/// A device whose RC4 key is the NT hash of the unit tests' passphrase.
/// No passphrase, so AES tickets are refused before any key derivation
/// (PBKDF2 would slow every input that claims AES to a crawl).
static SETTINGS: LazyLock<KerberosSettings> = LazyLock::new(|| KerberosSettings {
    realm_name: "VPRO.TEST".parse().expect("a valid realm"),
    master_key: Some(keys::nt_hash("Svc-Passw0rd!").to_vec()),
    maximum_clock_tolerance: 5,
    enabled: true,
    ..KerberosSettings::default()
});

static KEY: LazyLock<Key> =
    LazyLock::new(|| Key::device(&SETTINGS, keys::RC4_HMAC).expect("an RC4 key"));

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        // A fresh replay cache each time, so a seed that decrypts reaches
        // the PAC on every run rather than being refused as a replay.
        0 => {
            let _ = accept(&SETTINGS, rest, NOW, &DeviceState::default());
        }
        1 => {
            let _ = pac::verified_sids(rest, &KEY);
        }
        _ => {
            let _ = pac::logon_info_sids(rest);
        }
    }
});
