//! What `serve` and `fleet` do: turn their flags into device specs and an
//! [`EmulatorBuilder`], start it, say where everything listens, and serve
//! until a signal (or a scenario's verdict).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use amtemu_model::device::Port;
use amtemu_model::device::local_account::LOCAL_ACCOUNT;
use amtemu_server::emulator::{Emulator, EmulatorBuilder};
use amtemu_server::fleet::shard::Shard;
use amtemu_server::fleet::source::{Layout, LayoutArgs};
use amtemu_server::fleet::{DeviceSource, DeviceSpec, FleetError};
use amtemu_server::scenario::Scenario;
use amtemu_server::tls;

use super::args::{DeviceArgs, FleetArgs, ServeArgs};
use super::firmware_named;

pub(super) fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let firmware = firmware_named(&args.firmware)?;
    let d = &args.device;
    let spec = DeviceSpec {
        config: d.config(&args.name, firmware, &args.hostname, args.bind),
        address: args.bind,
        ports: amtemu_server::fleet::Ports {
            local: d.local_port_beside(d.http_port),
            ..d.base_ports()
        },
        tls_identity: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                let read = |p: &PathBuf| {
                    std::fs::read(p).with_context(|| format!("reading {}", p.display()))
                };
                Some(
                    tls::identity_from_pem(&read(cert)?, &read(key)?)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?,
                )
            }
            _ => None,
        },
    };
    let qemu: Vec<_> = args
        .host
        .qemu()
        .map(|config| (args.name.clone(), config))
        .into_iter()
        .collect();
    run_emulator(
        DeviceSource::listed(vec![spec]),
        d,
        false,
        None,
        qemu,
        |emulator| {
            let Some(endpoint) = emulator.fleet().get(0) else {
                return;
            };
            let device = &endpoint.device;
            if emulator.listening().is_empty() {
                println!(
                    "amtemu: firmware {} opens none of the configured ports; nothing to serve",
                    firmware.name
                );
            }
            for (addr, port) in emulator.listening() {
                match port {
                    Port::Redirection | Port::RedirectionTls => println!(
                        "amtemu: device {} redirection (SOL, IDE-R, KVM) on {addr}",
                        device.name
                    ),
                    Port::Local => {}
                    Port::Vnc => println!(
                        "amtemu: device {} KVM as VNC on {addr} (once Is5900PortEnabled is set)",
                        device.name
                    ),
                    Port::Http | Port::Https => println!(
                        "amtemu: AMT {} device {} listening on {}://{addr}/wsman (user {}, realm {})",
                        firmware.name,
                        device.name,
                        if *port == Port::Https {
                            "https"
                        } else {
                            "http"
                        },
                        d.user,
                        device.identity.digest_realm
                    ),
                }
            }
        },
    )
}

pub(super) fn fleet(args: FleetArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.scenario {
        return fleet_from_scenario(&args, path);
    }
    let count = args.count.unwrap_or(0);
    if count == 0 {
        bail!("a fleet needs at least one device");
    }
    if args.port_step.is_none()
        && amtemu_server::fleet::shard::address_block(args.first_address).is_none()
    {
        bail!(
            "fleet addresses must be in one of {}",
            amtemu_server::fleet::shard::address_blocks()
        );
    }
    let firmware: Vec<&'static amtemu_model::device::Firmware> = args
        .firmware
        .iter()
        .map(|f| firmware_named(f.trim()))
        .collect::<anyhow::Result<_>>()?;
    let width = count.to_string().len().max(5);
    let shard = args.shard.unwrap_or_else(Shard::whole);
    let range = shard.range(count as usize);
    if range.is_empty() {
        bail!("shard {shard} of a fleet of {count} has no devices");
    }
    // Device i is laid out as in the whole fleet, whichever shard runs it;
    // its spec is made when it is needed, not kept.
    let base = args.device.base_ports();
    let device = args.device.clone();
    let layout = Layout::new(LayoutArgs {
        range: range.clone(),
        width,
        first: args.first_address,
        port_step: args.port_step,
        base: amtemu_server::fleet::Ports {
            local: args.device.local_port_beside(base.http),
            ..base
        },
        seed: args.seed.clone(),
        prefix: args.prefix.clone(),
        firmware: firmware.clone(),
        make: Arc::new(move |_, name, host, fw, address| device.config(name, fw, host, address)),
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    let source = DeviceSource::Laid(layout);
    if args.hosts_file.is_some() || args.zone_dir.is_some() {
        let specs: Vec<DeviceSpec> = (0..source.len()).filter_map(|i| source.spec(i)).collect();
        write_name_files(&args, &specs)?;
    }
    let address = |i: usize| {
        source
            .spec(i)
            .map(|s| s.address.to_string())
            .unwrap_or_default()
    };
    let (first, last) = (address(0), address(source.len() - 1));
    let of_shard = if shard.count() > 1 {
        format!(
            " (shard {shard}: devices {}..{} of {count})",
            range.start + 1,
            range.end
        )
    } else {
        String::new()
    };
    let count = range.len();
    let started = std::time::Instant::now();
    run_emulator(
        Ok(source),
        &args.device,
        args.shared_listener,
        None,
        Vec::new(),
        move |emulator| {
            let mix: Vec<&str> = firmware.iter().map(|f| f.name).collect();
            println!(
                "amtemu: fleet of {count} devices{of_shard} ({}) on {first}..{last}, {} listeners; ready in {} ms",
                mix.join(", "),
                emulator.listening().len(),
                started.elapsed().as_millis()
            );
        },
    )
}

fn fleet_from_scenario(args: &FleetArgs, path: &Path) -> anyhow::Result<()> {
    let mut scenario = amtemu_server::scenario::load(path)?;
    if let Some(shard) = args.shard {
        scenario = scenario.with_shard(shard);
    }
    let mut specs = scenario.device_specs()?;
    if specs.is_empty() {
        bail!("shard {} of this scenario has no devices", scenario.shard());
    }
    for spec in &mut specs {
        spec.ports.local = args.device.local_port_beside(spec.ports.http);
    }
    write_name_files(args, &specs)?;
    let count = specs.len();
    let started = std::time::Instant::now();
    let reports = Reports {
        json: args.report_json.clone(),
        junit: args.report_junit.clone(),
    };
    println!("amtemu: {}", scenario.describe());
    let qemu = scenario.qemu_hosts();
    run_emulator(
        DeviceSource::listed(specs),
        &args.device,
        args.shared_listener,
        Some((scenario, reports)),
        qemu,
        move |emulator| {
            println!(
                "amtemu: scenario fleet of {count} devices, {} listeners; ready in {} ms",
                emulator.listening().len(),
                started.elapsed().as_millis()
            );
        },
    )
}

/// Starts the emulator, tells the user where it listens, and serves until a
/// signal (or, with a timed scenario, its verdict); saves state on the way
/// out.
fn run_emulator(
    devices: Result<DeviceSource, FleetError>,
    args: &DeviceArgs,
    shared_listener: bool,
    scenario: Option<(Scenario, Reports)>,
    qemu_hosts: Vec<(String, amtemu_server::qemu::QemuConfig)>,
    announce: impl FnOnce(&Emulator),
) -> anyhow::Result<()> {
    let hellos = match &scenario {
        Some((scenario, _)) => scenario.hello_config(args.hello_config()),
        None => args.hello_config(),
    };
    let mut builder = EmulatorBuilder::from_source(devices)
        .ca_dir(args.ca_dir.clone().unwrap_or_else(tls::ca::default_dir))
        .tls_key_pool(args.tls_key_pool)
        .state_dir(args.state_dir.clone())
        .control(args.control)
        .metrics(args.metrics)
        .control_token(args.control_token.clone())
        .hellos(hellos)
        .shared_listener(shared_listener)
        .plain_redirection_auth(!args.no_redirection_plain_auth)
        .max_connections_per_device(args.max_connections_per_device);
    for (device, config) in qemu_hosts {
        builder = builder.qemu_host(&device, config);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let bar = progress_bar(builder.device_count(), "devices built");
        let mut emulator = builder
            .start_with_progress(|n| bar.set_position(n as u64))
            .await?;
        bar.finish_and_clear();
        if let Some(addr) = emulator.control_addr() {
            println!("amtemu: control API on http://{addr}/api/v1/devices, dashboard on http://{addr}/");
        }
        if emulator.fleet().len() == 1
            && let Some((addr, _)) = emulator.listening().iter().find(|(_, p)| *p == Port::Local)
        {
            println!("amtemu: local interface (LMS stand-in) on http://{addr}/wsman (user {LOCAL_ACCOUNT})");
        }
        announce(&emulator);
        let fleet = emulator.fleet().clone();
        let outcome = match scenario {
            // A scenario with a duration ends the run with its verdict;
            // without one the fleet keeps serving after the timeline.
            Some((scenario, reports)) => {
                let timed = scenario.duration().is_some();
                let run = tokio::spawn(async move {
                    let report = scenario.run(fleet).await;
                    reports.write(&report)?;
                    println!("amtemu: {}", report.summary());
                    anyhow::Ok(report.passed)
                });
                tokio::select! {
                    _ = emulator.serve() => Ok(true),
                    verdict = run, if timed => verdict.unwrap_or_else(|e| Err(e.into())),
                    _ = shutdown_signal() => {
                        println!("amtemu: shutting down");
                        Ok(true)
                    }
                }
            }
            None => {
                tokio::select! {
                    _ = emulator.serve() => {}
                    _ = shutdown_signal() => println!("amtemu: shutting down"),
                }
                Ok(true)
            }
        };
        emulator.stop().await?;
        if !outcome? {
            bail!("the scenario's expectations did not hold");
        }
        anyhow::Ok(())
    })
}

/// `amtemu scenario merge`: the shards' JSON reports joined into one.
pub(super) fn merge_reports(
    paths: &[PathBuf],
    json: Option<&Path>,
    junit: Option<&Path>,
) -> anyhow::Result<()> {
    let reports = paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a scenario report", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let merged = amtemu_server::scenario::Report::merge(reports)?;
    match json {
        Some(_) => {}
        None => println!("{}", merged.to_json()),
    }
    Reports {
        json: json.map(Path::to_path_buf),
        junit: junit.map(Path::to_path_buf),
    }
    .write(&merged)?;
    eprintln!("amtemu: {}", merged.summary());
    if !merged.passed {
        bail!("the scenario's expectations did not hold over the whole fleet");
    }
    Ok(())
}

/// Where a scenario's reports go.
struct Reports {
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
}

impl Reports {
    fn write(&self, report: &amtemu_server::scenario::Report) -> anyhow::Result<()> {
        for (path, text) in [
            (&self.json, report.to_json()),
            (&self.junit, report.to_junit()),
        ] {
            if let Some(path) = path {
                amtemu_server::store::write_atomically(path, text.as_bytes(), false)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Ok(())
    }
}

/// A progress bar on stderr for starts large enough to take seconds; hidden
/// when stderr is not a terminal, and for smaller fleets.
fn progress_bar(total: usize, what: &'static str) -> indicatif::ProgressBar {
    const WORTH_A_BAR: usize = 50_000;
    if total < WORTH_A_BAR {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "amtemu: {bar:40} {human_pos}/{human_len} {msg} ({eta})",
    ) {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar
}

/// The hosts file and zone files the user asked for.
fn write_name_files(args: &FleetArgs, specs: &[DeviceSpec]) -> anyhow::Result<()> {
    let write = |path: &std::path::Path, text: &str| {
        amtemu_server::store::write_atomically(path, text.as_bytes(), false)
            .with_context(|| format!("writing {}", path.display()))
    };
    if let Some(path) = &args.hosts_file {
        write(path, &amtemu_server::fleet::names::hosts_file(specs))?;
    }
    if let Some(dir) = &args.zone_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (domain, text) in amtemu_server::fleet::names::zone_files(specs) {
            write(&dir.join(format!("{domain}.zone")), &text)?;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
