//! Checking a Digest Authorization header: parsing it, the three MD5s and
//! the nonce-count window, as every authenticated request pays.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tokio::time::Instant;

use amtemu_load::digest::DigestSession;
use amtemu_model::device::identity::hex_lower;
use amtemu_model::device::users::ha1;
use amtemu_server::endpoint::nonces::{Nonces, Verdict};
use amtemu_wire::digest;

const REALM: &str = "Digest:A4070000000000000000000000000000";

fn digest_check(c: &mut Criterion) {
    let now = Instant::now();
    let mut nonces = Nonces::default();
    let nonce = nonces.issue(now);
    let mut session = DigestSession::new("admin", "P@ssw0rd");
    assert!(session.challenged(&digest::challenge(REALM, &nonce, false)));
    let server_ha1 = hex_lower(&ha1("admin", REALM, "P@ssw0rd"));
    c.bench_function("digest/parse and verify", |b| {
        b.iter_batched(
            // Each header carries the next nonce count, so none is a replay.
            || session.authorization("POST", "/wsman").expect("challenged"),
            |header| {
                let creds = digest::parse_authorization(black_box(&header)).expect("well formed");
                let verdict = nonces.verify(&creds, REALM, Some(&server_ha1), "POST", b"", now);
                assert_eq!(verdict, Verdict::Accepted);
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, digest_check);
criterion_main!(benches);
