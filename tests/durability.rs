//! A reply that acknowledges a change goes out only after the change is
//! durable: 1,000 host-name changes across a 50-device fleet, the emulator
//! killed with SIGKILL at a seeded point while changes are in flight, and
//! after a restart every acknowledged change is there (a change whose
//! reply the kill cut off may or may not be).

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::*;

const DEVICES: u8 = 50;
const CHANGES_PER_DEVICE: u32 = 20;
const WORKERS: u8 = 10;

/// What one device was told: the last change acknowledged, and the one
/// sent after it (in flight when the process died, maybe applied).
#[derive(Clone, Copy, Debug, Default)]
struct Told {
    acked: Option<u32>,
    sent: Option<u32>,
}

fn host(n: u8, k: u32) -> String {
    format!("d{n}-k{k}")
}

/// A small deterministic generator, so a failing seed can be rerun.
fn kill_point(seed: u64) -> usize {
    let x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let total = usize::from(DEVICES) * CHANGES_PER_DEVICE as usize;
    total / 10 + (x >> 33) as usize % (total * 8 / 10)
}

fn run(seed: u64, third_octet: u8) {
    let ip = unique_address();
    let first = Ipv4Addr::new(127, ip.octets()[1], third_octet, 1);
    let device = move |n: u8| {
        SocketAddr::from((
            Ipv4Addr::new(127, ip.octets()[1], third_octet, n + 1),
            16992,
        ))
    };
    let dir = std::env::temp_dir().join(format!("amtemu-durable-{seed}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let args: Vec<String> = vec![
        "fleet".into(),
        "--count".into(),
        DEVICES.to_string(),
        "--state-dir".into(),
        dir.to_string_lossy().into_owned(),
        "--first-address".into(),
        first.to_string(),
    ];
    let emu = Emulator::launch(args.clone(), device(0));
    let told = Arc::new(Mutex::new(vec![Told::default(); usize::from(DEVICES)]));
    let acks = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let kill_at = kill_point(seed);

    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (told, acks, killed) = (told.clone(), acks.clone(), killed.clone());
            std::thread::spawn(move || {
                let mine: Vec<u8> = (0..DEVICES).filter(|n| n % WORKERS == w).collect();
                for k in 0..CHANGES_PER_DEVICE {
                    for &n in &mine {
                        let was = told.lock().unwrap()[usize::from(n)]
                            .acked
                            .map_or_else(|| format!("amt-{:05}", n + 1), |a| host(n, a));
                        told.lock().unwrap()[usize::from(n)].sent = Some(k);
                        let attempt = std::panic::catch_unwind(|| {
                            Client::new(device(n), USER, PASSWORD).put_edited(
                                "AMT_GeneralSettings",
                                &format!("<r:HostName>{was}</r:HostName>"),
                                &format!("<r:HostName>{}</r:HostName>", host(n, k)),
                            )
                        });
                        match attempt {
                            Ok(r) if r.status == 200 => {
                                told.lock().unwrap()[usize::from(n)].acked = Some(k);
                                acks.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(r) => panic!("device {n} change {k} refused: {}", r.text()),
                            Err(_) if killed.load(Ordering::SeqCst) => return,
                            Err(e) => std::panic::resume_unwind(e),
                        }
                    }
                }
            })
        })
        .collect();

    while acks.load(Ordering::SeqCst) < kill_at {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    killed.store(true, Ordering::SeqCst);
    emu.kill_hard();
    for worker in workers {
        worker.join().expect("a worker failed before the kill");
    }

    let emu = Emulator::launch(args, device(0));
    let told = told.lock().unwrap().clone();
    let acked: usize = told
        .iter()
        .filter_map(|t| t.acked.map(|k| k as usize + 1))
        .sum();
    assert!(acked >= kill_at, "{acked} acknowledged, kill at {kill_at}");
    for (n, t) in told.iter().enumerate() {
        let n = n as u8;
        let now = element_text(
            &Client::new(device(n), USER, PASSWORD)
                .get("AMT_GeneralSettings")
                .text(),
            "HostName",
        )
        .unwrap_or_default();
        let acked = t
            .acked
            .map_or_else(|| format!("amt-{:05}", n + 1), |k| host(n, k));
        let in_flight = t.sent.filter(|k| Some(*k) != t.acked).map(|k| host(n, k));
        assert!(
            now == acked || Some(&now) == in_flight.as_ref(),
            "seed {seed}: device {n} came back as {now:?}; acknowledged {acked:?}, in flight {in_flight:?}"
        );
    }
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn acknowledged_changes_survive_sigkill_seed_1() {
    run(1, 191);
}

#[test]
fn acknowledged_changes_survive_sigkill_seed_2() {
    run(2, 192);
}

#[test]
fn acknowledged_changes_survive_sigkill_seed_3() {
    run(3, 193);
}
