//! `amtemu-load`: drives amtemu (and, in the same run, bare baseline
//! servers) with WS-Man load and prints throughput, latency percentiles and
//! ratios. See bench/README.md for the commands behind the published
//! figures.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use amtemu_load::baseline::{self, Kind};
use amtemu_load::client::Operation;
use amtemu_load::report::{self, Stats};
use amtemu_load::scheduler::Load;
use amtemu_load::{Devices, GetRun};

#[derive(Parser)]
#[command(
    name = "amtemu-load",
    about = "Load generator and baselines for amtemu"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Authenticated WS-Man Gets over keep-alive connections (HTTP, or TLS
    /// with --tls); with --baseline, the same against a bare hyper server.
    Get(GetArgs),
    /// Authenticated WS-Man Puts of AMT_GeneralSettings.HostName over
    /// keep-alive connections, each answered once the change is durable.
    Put(GetArgs),
    /// A new TLS connection (full handshake, no resumption) per Get; with
    /// --baseline, the same against a bare rustls server with an RSA 2048 key.
    Handshakes(GetArgs),
    /// The first TLS handshake to each of many untouched devices.
    FirstTls {
        #[command(flatten)]
        devices: DeviceArgs,
        #[arg(long, default_value_t = 16993)]
        port: u16,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long)]
        json: bool,
    },
    /// Hold one Serial-over-LAN session per device and time keystroke
    /// echoes, at --rate keystrokes a second over all sessions (open loop).
    Sol {
        #[command(flatten)]
        devices: DeviceArgs,
        #[arg(long, default_value_t = 16994)]
        port: u16,
        /// Keystrokes a second over all sessions (default: one a second
        /// per session).
        #[arg(long)]
        rate: Option<f64>,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[arg(long, default_value = "admin")]
        user: String,
        #[arg(long, default_value = "P@ssw0rd", env = "AMTEMU_PASSWORD")]
        password: String,
        #[arg(long)]
        json: bool,
    },
    /// Collect setup-mode hellos on a loopback provisioning port until
    /// --expect devices have said hello (start the fleet after this says
    /// it is listening, with --provisioning pre --provisioning-server).
    Hellos {
        #[arg(long, default_value = "127.0.0.1:9971")]
        listen: SocketAddr,
        #[arg(long)]
        expect: usize,
        #[arg(long, default_value_t = 60.0)]
        timeout_seconds: f64,
        #[arg(long)]
        json: bool,
        /// The fleet to launch once listening (after `--`), so the time from
        /// its launch to the last hello is measured; it is stopped at the end.
        #[arg(last = true)]
        fleet: Vec<String>,
    },
    /// Be a CIRA MPS for a running fleet: configure each device over
    /// WS-Man (MPS root, server, periodic policy, environment detection),
    /// accept its tunnel, then time WS-Man Gets through the tunnels and
    /// directly. With --pid, the fleet's RSS before and after.
    Cira {
        #[command(flatten)]
        devices: DeviceArgs,
        #[arg(long, default_value = "127.0.0.1:4433")]
        listen: SocketAddr,
        /// The devices' WS-Man port on the LAN (inside the tunnel it is
        /// always 16992).
        #[arg(long, default_value_t = 16992)]
        port: u16,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Timed Gets per tunnel (and directly per device).
        #[arg(long, default_value_t = 10)]
        gets: usize,
        #[arg(long, default_value_t = 120.0)]
        timeout_seconds: f64,
        /// The fleet's process, to read its resident memory from /proc.
        #[arg(long)]
        pid: Option<u32>,
        #[arg(long, default_value = "admin")]
        user: String,
        #[arg(long, default_value = "P@ssw0rd", env = "AMTEMU_PASSWORD")]
        password: String,
        #[arg(long)]
        json: bool,
    },
    /// Serve a baseline (used by --baseline, which starts it as a child
    /// process so it has a process of its own like amtemu).
    Baseline {
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long)]
        bind: SocketAddr,
        #[arg(long)]
        body_bytes: usize,
        /// The firmware row the OpenSSL baseline serves.
        #[arg(long, default_value = amtemu_model::device::firmware::DEFAULT_FIRMWARE)]
        firmware: String,
    },
}

#[derive(Args, Clone)]
struct DeviceArgs {
    /// The first device's address (as given to `amtemu fleet`).
    #[arg(long, default_value = "127.1.0.1")]
    first: Ipv4Addr,
    /// How many devices to spread the load over.
    #[arg(long, default_value_t = 1)]
    devices: usize,
}

#[derive(Args, Clone)]
struct GetArgs {
    #[command(flatten)]
    devices: DeviceArgs,
    /// The devices' port (default 16992, or 16993 with TLS).
    #[arg(long)]
    port: Option<u16>,
    /// Speak TLS (always so for `handshakes`).
    #[arg(long)]
    tls: bool,
    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Instead: start this many requests a second (open loop) over
    /// --concurrency connections.
    #[arg(long)]
    rate: Option<f64>,
    /// How long each run lasts.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    #[arg(long, default_value = "admin")]
    user: String,
    #[arg(long, default_value = "P@ssw0rd", env = "AMTEMU_PASSWORD")]
    password: String,
    /// Also drive a bare baseline server and print the ratio.
    #[arg(long)]
    baseline: bool,
    /// Where the baseline listens.
    #[arg(long, default_value_t = amtemu_load::default_baseline_addr())]
    baseline_addr: SocketAddr,
    /// Alternate amtemu and baseline runs this many times.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// With TLS: the baseline is a bare OpenSSL server serving this
    /// firmware row (amtemu's backend for it) instead of bare rustls.
    #[arg(long)]
    baseline_firmware: Option<String>,
    /// Drive the server at --first/--port as --baseline drives its
    /// baseline (credentials computed and sent, no challenge expected), for
    /// a baseline started on its own (`bench/callgrind-get.sh`).
    #[arg(long, conflicts_with = "baseline")]
    as_baseline: bool,
    /// End with one line of JSON with every figure.
    #[arg(long)]
    json: bool,
}

// The same allocator as amtemu, so the baselines differ from it only in
// what they do.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AMTEMU_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match cli.command {
            Cmd::Get(args) => get(args, false, Operation::Get).await,
            Cmd::Put(args) => get(args, false, Operation::PutHostName).await,
            Cmd::Handshakes(args) => get(args, true, Operation::Get).await,
            Cmd::FirstTls {
                devices,
                port,
                concurrency,
                json,
            } => {
                let devices = Devices {
                    first: devices.first,
                    count: devices.devices,
                    port,
                };
                let stats = amtemu_load::first_handshakes(&devices, concurrency)
                    .await
                    .map_err(anyhow::Error::msg)?;
                println!("{stats}");
                if json {
                    print_json(&[stats], &[]);
                }
                Ok(())
            }
            Cmd::Sol {
                devices,
                port,
                rate,
                seconds,
                user,
                password,
                json,
            } => {
                let devices = Devices {
                    first: devices.first,
                    count: devices.devices.max(1),
                    port,
                };
                let sessions = amtemu_load::open_sol_sessions(&devices, &user, &password)
                    .await
                    .map_err(anyhow::Error::msg)?;
                println!("{} SOL sessions open", sessions.len());
                let load = Load::Rate {
                    per_second: rate.unwrap_or(sessions.len() as f64),
                    pool: sessions.len(),
                };
                let label = format!("amtemu sol echo, {} sessions", sessions.len());
                let stats = amtemu_load::scheduler::run(
                    &label,
                    sessions,
                    load,
                    Duration::from_secs_f64(seconds),
                )
                .await;
                println!("{stats}");
                if json {
                    print_json(&[stats], &[]);
                }
                Ok(())
            }
            Cmd::Hellos {
                listen,
                expect,
                timeout_seconds,
                json,
                fleet,
            } => {
                if !listen.ip().is_loopback() {
                    bail!("the collector listens on loopback only");
                }
                // A fleet opens thousands of hello connections at once; a
                // short accept queue would drop SYNs and stretch the run by
                // the clients' retransmission timeouts.
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.set_reuseaddr(true)?;
                socket.bind(listen)?;
                let listener = socket.listen(65535)?;
                println!("collector listening on {listen}");
                let mut launched = None;
                if let Some((program, args)) = fleet.split_first() {
                    let child = Command::new(program)
                        .args(args)
                        .stdout(Stdio::null())
                        .spawn()
                        .with_context(|| format!("starting {program}"))?;
                    launched = Some(ChildProcess(child));
                }
                let started = launched.as_ref().map(|_| std::time::SystemTime::now());
                let stats = amtemu_load::hellos::collect(
                    listener,
                    expect,
                    Duration::from_secs_f64(timeout_seconds),
                    started,
                )
                .await;
                drop(launched);
                println!("{stats}");
                if json {
                    let line =
                        serde_json::json!({"ok": stats.distinct >= expect, "hellos": stats.json()});
                    println!("{line}");
                }
                Ok(())
            }
            Cmd::Cira {
                devices,
                listen,
                port,
                concurrency,
                gets,
                timeout_seconds,
                pid,
                user,
                password,
                json,
            } => {
                let run = amtemu_load::cira::CiraRun {
                    devices: Devices {
                        first: devices.first,
                        count: devices.devices.max(1),
                        port,
                    },
                    listen,
                    user,
                    password,
                    concurrency,
                    gets,
                    timeout: Duration::from_secs_f64(timeout_seconds),
                };
                let rss_before = pid.and_then(rss_kib);
                let report = run.run().await.map_err(anyhow::Error::msg)?;
                let rss_after = pid.and_then(rss_kib);
                println!(
                    "{} tunnels up {:.2} s after the first configuration request",
                    report.tunnels,
                    report.all_connected.as_secs_f64()
                );
                println!("{}", report.connect);
                println!("{}", report.through_tunnel);
                println!("{}", report.direct);
                let per_tunnel = match (rss_before, rss_after) {
                    (Some(b), Some(a)) if report.tunnels > 0 => {
                        let per = (a.saturating_sub(b)) as f64 / report.tunnels as f64;
                        println!("fleet RSS {b} KiB → {a} KiB: {per:.1} KiB per tunnel");
                        Some(per)
                    }
                    _ => None,
                };
                if json {
                    let line = serde_json::json!({
                        "tunnels": report.tunnels,
                        "all_connected_s": report.all_connected.as_secs_f64(),
                        "connect": report.connect.json(),
                        "through_tunnel": report.through_tunnel.json(),
                        "direct": report.direct.json(),
                        "rss_kib_before": rss_before,
                        "rss_kib_after": rss_after,
                        "rss_kib_per_tunnel": per_tunnel,
                    });
                    println!("{line}");
                }
                Ok(())
            }
            Cmd::Baseline {
                kind,
                bind,
                body_bytes,
                firmware,
            } => {
                if !bind.ip().is_loopback() {
                    bail!("baselines listen on loopback only");
                }
                let firmware = amtemu_model::device::firmware::Firmware::by_name(&firmware)
                    .with_context(|| format!("no firmware profile {firmware}"))?;
                let listener = tokio::net::TcpListener::bind(bind).await?;
                println!("baseline listening on {bind}");
                baseline::serve(listener, kind, body_bytes, firmware).await
            }
        }
    })
}

/// A process's resident memory in KiB (Linux /proc).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

async fn get(args: GetArgs, handshakes: bool, operation: Operation) -> anyhow::Result<()> {
    let tls = args.tls || handshakes;
    let run = GetRun {
        devices: Devices {
            first: args.devices.first,
            count: args.devices.devices.max(1),
            port: args.port.unwrap_or(if tls { 16993 } else { 16992 }),
        },
        tls,
        fresh_connections: handshakes,
        operation,
        load: match args.rate {
            Some(per_second) => Load::Rate {
                per_second,
                pool: args.concurrency,
            },
            None => Load::Concurrency(args.concurrency),
        },
        duration: Duration::from_secs_f64(args.seconds),
        user: args.user.clone(),
        password: args.password.clone(),
    };
    // The issues' targets: keep-alive Gets at three quarters of a bare
    // hyper server's rate (issue 17), new handshakes at 80% of bare rustls's.
    let target = if handshakes { 0.8 } else { 0.75 };
    let kind = match (tls, &args.baseline_firmware) {
        (false, _) => Kind::Http,
        (true, None) => Kind::Tls,
        (true, Some(_)) => Kind::Openssl,
    };
    let mut baseline = None;
    if args.baseline {
        let body_len = run
            .probe_body_len()
            .await
            .map_err(anyhow::Error::msg)
            .context("probing amtemu")?;
        let firmware = args
            .baseline_firmware
            .as_deref()
            .unwrap_or(amtemu_model::device::firmware::DEFAULT_FIRMWARE);
        baseline = Some(ChildProcess::baseline(
            kind,
            args.baseline_addr,
            body_len,
            firmware,
        )?);
        println!(
            "baseline: {kind:?} server answering {body_len} bytes on {}",
            args.baseline_addr
        );
    }
    let mut runs = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..args.rounds.max(1) {
        let ours = if args.as_baseline {
            let addr = run.devices.addr(0).map_err(anyhow::Error::msg)?;
            run.against_baseline(addr, kind.server()).await
        } else {
            run.against_amtemu().await.map_err(anyhow::Error::msg)?
        };
        println!("{ours}");
        if baseline.is_some() {
            let base = run
                .against_baseline(args.baseline_addr, kind.server())
                .await;
            println!("{base}");
            println!("{}", report::ratio_line(&ours, &base, target));
            ratios.push(report::ratio(&ours, &base));
            runs.push(base);
        }
        runs.push(ours);
    }
    if ratios.len() > 1 {
        // Other load on the machine shifts single rounds; the median of
        // alternating rounds is the figure to quote.
        let mut sorted = ratios.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        println!(
            "median ratio over {} rounds = {median:.2} (target >= {target:.2}: {})",
            sorted.len(),
            if median >= target { "met" } else { "missed" }
        );
    }
    if args.json {
        print_json(&runs, &ratios);
    }
    drop(baseline);
    Ok(())
}

fn print_json(runs: &[Stats], ratios: &[f64]) {
    let ok = runs.iter().all(|r| r.ok > 0);
    let line = serde_json::json!({
        "ok": ok,
        "runs": runs.iter().map(Stats::json).collect::<Vec<_>>(),
        "ratios": ratios,
    });
    println!("{line}");
}

/// A child process (a baseline server, a fleet); killed on drop.
struct ChildProcess(Child);

impl ChildProcess {
    /// Starts a baseline server in a process of its own, as amtemu has.
    fn baseline(
        kind: Kind,
        bind: SocketAddr,
        body_len: usize,
        firmware: &str,
    ) -> anyhow::Result<ChildProcess> {
        use std::io::BufRead;
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                "baseline",
                "--kind",
                match kind {
                    Kind::Http => "http",
                    Kind::Tls => "tls",
                    Kind::Openssl => "openssl",
                },
                "--firmware",
                firmware,
                "--bind",
                &bind.to_string(),
                "--body-bytes",
                &body_len.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().context("baseline stdout")?;
        let mut first = String::new();
        std::io::BufReader::new(stdout).read_line(&mut first)?;
        let process = ChildProcess(child);
        if !first.contains("listening") {
            bail!("the baseline server did not start on {bind}");
        }
        Ok(process)
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
