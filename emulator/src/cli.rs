//! The `amtemu` command line: wiring only, no logic of its own.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use amtemu_model::device::firmware::DEFAULT_FIRMWARE;
use amtemu_model::device::{
    ControlMode, DEFAULT_PASSWORD, DeviceConfig, Firmware, HostPower, PowerTimings,
    ProvisioningState, SetupState,
};
use amtemu_server::fleet::{DeviceSpec, Fleet, Ports};
use amtemu_server::store::Store;
use amtemu_server::tls::{self, TlsContext, ca::Ca};
use amtemu_wsman::classes;

#[derive(Debug, Parser)]
#[command(
    name = "amtemu",
    version,
    about = "An emulator of Intel AMT (vPro) management controllers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one virtual AMT device (by default: AMT 11.8, admin control mode,
    /// host on, user admin / P@ssw0rd, on 127.0.0.1:16992).
    Serve(Box<ServeArgs>),
    /// Run many virtual devices, each on its own loopback address (or its
    /// own ports), with a firmware mix.
    Fleet(Box<FleetArgs>),
    /// Firmware profiles.
    Firmware {
        #[command(subcommand)]
        command: FirmwareCommand,
    },
    /// Talk to a running emulator's control API (see --control).
    Ctl(amtemu_server::control::client::CtlArgs),
    /// Scenario files.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// The emulator's certificate authority, which issues the devices' TLS
    /// certificates.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Check a scenario file without running it.
    Check { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Print the CA certificate (PEM) so clients can trust the devices;
    /// creates the CA if there is none yet.
    Export {
        /// Where the CA is kept (default: $AMTEMU_HOME, else
        /// $XDG_DATA_HOME/amtemu, else ~/.local/share/amtemu).
        #[arg(long)]
        ca_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FirmwareCommand {
    /// List the firmware profiles and what each has.
    List,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PowerArg {
    S0,
    S3,
    S4,
    S5,
    Off,
}

/// The management engine's power policy (see `MePowerPolicy`).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PowerPolicyArg {
    /// The ME is on only while the host runs.
    S0Only,
    /// Also while the host sleeps (S3).
    #[value(name = "s0-s3")]
    S0S3,
    /// In every host state.
    AlwaysOn,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ProvisioningArg {
    Pre,
    In,
    Post,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    /// Admin control mode (Enterprise before AMT 6).
    Acm,
    /// Client control mode (Small Business before AMT 6).
    Ccm,
}

/// How every device starts, for `serve` and `fleet` alike.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// Host power state at start.
    #[arg(long, value_enum, default_value = "s0")]
    pub power: PowerArg,
    /// In which host states the management engine stays reachable; outside
    /// them the device answers on no port.
    #[arg(long, value_enum, default_value = "always-on")]
    pub power_policy: PowerPolicyArg,
    /// Provisioning state.
    #[arg(long, value_enum, default_value = "post")]
    pub provisioning: ProvisioningArg,
    /// Control mode once provisioned.
    #[arg(long, value_enum, default_value = "acm")]
    pub mode: ModeArg,
    /// Digest user name of the administrator account.
    #[arg(long, default_value = "admin")]
    pub user: String,
    /// Its password.
    #[arg(long, default_value = DEFAULT_PASSWORD, env = "AMTEMU_PASSWORD")]
    pub password: String,
    /// A console script (TOML) for the simulated host: what it prints on
    /// the serial console, its login and prompt. Default: the built-in one.
    #[arg(long, value_name = "FILE", value_parser = console_script)]
    pub console: Option<std::sync::Arc<amtemu_model::host::ConsoleScript>>,
    /// The devices' domain (AMT_GeneralSettings.DomainName).
    #[arg(long, default_value = "vpro.test")]
    pub domain: String,
    /// Milliseconds from a power-on request until the host is on (S0).
    #[arg(long, default_value_t = 2000)]
    pub boot_ms: u64,
    /// Milliseconds from a power-off request until the host is off.
    #[arg(long, default_value_t = 1000)]
    pub shutdown_ms: u64,
    /// Milliseconds a reset takes.
    #[arg(long, default_value_t = 2000)]
    pub reset_ms: u64,
    /// Port for WS-Man over HTTP.
    #[arg(long, default_value_t = 16992)]
    pub http_port: u16,
    /// Port for WS-Man over TLS.
    #[arg(long, default_value_t = 16993)]
    pub https_port: u16,
    /// Port for the redirection protocol (SOL, IDE-R) without TLS.
    #[arg(long, default_value_t = 16994)]
    pub redirection_port: u16,
    /// Port for the redirection protocol over TLS.
    #[arg(long, default_value_t = 16995)]
    pub redirection_tls_port: u16,
    /// Stop offering plain user/password redirection authentication
    /// (offered by default because Debian's amtterm 1.4 needs it).
    #[arg(long)]
    pub no_redirection_plain_auth: bool,
    /// Port of the local interface, the stand-in for LMS where host-based
    /// setup and the local system account work (devices with firmware 6.2+;
    /// above --http-port, moved with it by --port-step; 0 turns it off).
    #[arg(long, default_value_t = 26992)]
    pub local_port: u16,
    /// DHCP option 15 domain the device is in (provisioning certificates
    /// must match it unless a PKI DNS suffix is set); empty: a workgroup.
    #[arg(long, default_value = "")]
    pub dhcp_domain: String,
    /// PKI DNS suffix entered in MEBx (TrustedDNSSuffix).
    #[arg(long, default_value = "")]
    pub pki_dns_suffix: String,
    /// A root certificate (PEM or DER) to trust for provisioning, as an
    /// admin adds a hash in MEBx: its SHA-256 becomes an active hash.
    /// Repeatable.
    #[arg(long, value_parser = provisioning_root_hash)]
    pub provisioning_root: Vec<(String, Vec<u8>)>,
    /// Provisioning server address entered in MEBx (IP or IP:PORT): devices
    /// in setup mode send hellos there instead of looking it up.
    #[arg(long, value_parser = server_address)]
    pub provisioning_server: Option<std::net::SocketAddr>,
    /// Port of a provisioning server found by name.
    #[arg(long, default_value_t = amtemu_model::device::provisioning::DEFAULT_HELLO_PORT)]
    pub provisioning_port: u16,
    /// Domain entered in MEBx: hellos go to ProvisionServer.<this> first.
    #[arg(long, default_value = "")]
    pub mebx_domain: String,
    /// PSK provisioning ID (8 characters, dash allowed) for firmware
    /// 2.0-10.x: such devices send PSK (v2) hellos.
    #[arg(long, requires = "pps")]
    pub pid: Option<String>,
    /// PSK pre-shared secret (32 characters) going with --pid.
    #[arg(long, requires = "pid")]
    pub pps: Option<String>,
    /// The only DNS server asked for ProvisionServer.<domain> (IP or
    /// IP:PORT); without it only --provisioning-server works.
    #[arg(long, value_parser = dns_address)]
    pub dns: Option<std::net::SocketAddr>,
    /// Multiplies the hello schedule's intervals (1 = firmware timing;
    /// 0.001 runs a day of hellos in under 90 seconds).
    #[arg(long, default_value_t = 1.0, value_parser = hello_scale)]
    pub hello_interval_scale: f64,
    /// Hello connections open at once, fleet-wide.
    #[arg(long, default_value_t = 256)]
    pub hello_concurrency: usize,
    /// Where the emulator's CA is kept (see `amtemu ca export`).
    #[arg(long)]
    pub ca_dir: Option<PathBuf>,
    /// How many RSA keys the devices' own TLS certificates share (each
    /// device still has its own certificate); 0 gives every device a key
    /// of its own, at about 60 ms per device's first handshake.
    #[arg(long, default_value_t = tls::ca::DEFAULT_KEY_POOL)]
    pub tls_key_pool: usize,
    /// Keep the devices' state (settings, users, certificates, logs) in
    /// this directory across restarts; without it they start fresh.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Serve the control API (devices, power, faults, events, metrics) on
    /// this loopback address, e.g. 127.0.0.1:17000.
    #[arg(long)]
    pub control: Option<std::net::SocketAddr>,
}

impl DeviceArgs {
    fn config(
        &self,
        name: &str,
        firmware: &'static Firmware,
        host_name: &str,
        address: IpAddr,
    ) -> DeviceConfig {
        DeviceConfig {
            name: name.to_string(),
            firmware,
            power: match self.power {
                PowerArg::S0 => HostPower::S0,
                PowerArg::S3 => HostPower::S3,
                PowerArg::S4 => HostPower::S4,
                PowerArg::S5 => HostPower::S5,
                PowerArg::Off => HostPower::Off,
            },
            timings: PowerTimings {
                boot: Duration::from_millis(self.boot_ms),
                shutdown: Duration::from_millis(self.shutdown_ms),
                reset: Duration::from_millis(self.reset_ms),
            },
            setup: SetupState {
                state: match self.provisioning {
                    ProvisioningArg::Pre => ProvisioningState::Pre,
                    ProvisioningArg::In => ProvisioningState::In,
                    ProvisioningArg::Post => ProvisioningState::Post,
                },
                mode: match self.mode {
                    ModeArg::Acm => ControlMode::Admin,
                    ModeArg::Ccm => ControlMode::Client,
                },
            },
            admin_name: self.user.clone(),
            admin_password: self.password.clone(),
            host_name: host_name.to_string(),
            domain_name: self.domain.clone(),
            ip_address: address.to_string(),
            console: self.console.clone(),
            provisioning: self.provisioning_settings(),
            power_policy: match self.power_policy {
                PowerPolicyArg::S0Only => amtemu_model::device::MePowerPolicy::S0Only,
                PowerPolicyArg::S0S3 => amtemu_model::device::MePowerPolicy::S0AndSleep,
                PowerPolicyArg::AlwaysOn => amtemu_model::device::MePowerPolicy::AlwaysOn,
            },
        }
    }

    /// MEBx provisioning settings from the command line.
    fn provisioning_settings(&self) -> amtemu_model::device::ProvisioningSettings {
        let mut settings = amtemu_model::device::ProvisioningSettings {
            dhcp_domain: self.dhcp_domain.clone(),
            pki_dns_suffix: self.pki_dns_suffix.clone(),
            server: self.provisioning_server,
            server_port: self.provisioning_port,
            mebx_domain: self.mebx_domain.clone(),
            pid: self.pid.clone(),
            pps: self.pps.clone(),
            ..amtemu_model::device::ProvisioningSettings::default()
        };
        for (name, hash) in &self.provisioning_root {
            settings.add_trusted_hash(
                name,
                amtemu_model::device::HashAlgorithm::Sha256,
                hash.clone(),
            );
        }
        settings
    }

    /// How the fleet sends hellos.
    fn hello_config(&self) -> amtemu_server::provision::HelloConfig {
        amtemu_server::provision::HelloConfig {
            dns: self.dns,
            scale: self.hello_interval_scale,
            concurrency: self.hello_concurrency,
            ..amtemu_server::provision::HelloConfig::default()
        }
    }

    /// The local interface's offset above the HTTP port, when it is on.
    fn local_offset(&self) -> Option<u16> {
        (self.local_port != 0)
            .then(|| self.local_port.checked_sub(self.http_port))
            .flatten()
            .filter(|offset| *offset != 0)
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address the device answers on (loopback unless you mean otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Firmware profile (see `amtemu firmware list`).
    #[arg(long, default_value = DEFAULT_FIRMWARE)]
    pub firmware: String,
    /// The device's host name (AMT_GeneralSettings.HostName).
    #[arg(long, default_value = "amt-0001")]
    pub hostname: String,
    /// A name that seeds the device's identity (UUID, realm, MAC).
    #[arg(long, default_value = "amtemu-default")]
    pub name: String,
    /// PEM certificate chain the device presents on 16993 instead of one
    /// issued by the emulator's CA (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PKCS#8 PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// How many devices (or use --scenario).
    #[arg(
        long,
        required_unless_present = "scenario",
        conflicts_with = "scenario"
    )]
    pub count: Option<u32>,
    /// Build the fleet from a scenario file (see scenarios/README.md): its
    /// groups, timeline and expectations. The run ends when the scenario's
    /// duration has passed, with exit status 0 when every expectation held.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Write the scenario report as JSON here.
    #[arg(long, requires = "scenario")]
    pub report_json: Option<PathBuf>,
    /// Write the scenario report as JUnit XML here.
    #[arg(long, requires = "scenario")]
    pub report_junit: Option<PathBuf>,
    /// Firmware profiles, dealt out to the devices in turn (e.g.
    /// `3.2.1,4.0,5.2`).
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_FIRMWARE)]
    pub firmware: Vec<String>,
    /// The first device's address; the others follow it in 127.0.0.0/8,
    /// skipping addresses ending in .0 and .255.
    #[arg(long, default_value = "127.1.0.1")]
    pub first_address: std::net::Ipv4Addr,
    /// Put every device on the first address instead, device n on ports
    /// raised by n times this step (for platforms with one loopback address).
    #[arg(long)]
    pub port_step: Option<u16>,
    /// Host names are this prefix and the device's number (amt-00001, …);
    /// the number also seeds each device's identity.
    #[arg(long, default_value = "amt")]
    pub prefix: String,
    /// Seeds the identities, so two fleets with other seeds differ.
    #[arg(long, default_value = "amtemu")]
    pub seed: String,
    /// Write the devices' addresses and names in hosts-file format here.
    #[arg(long)]
    pub hosts_file: Option<PathBuf>,
    /// Write a DNS zone file per domain (`<domain>.zone`, with SOA and NS
    /// records) into this directory, for a DNS server tools can ask.
    #[arg(long)]
    pub zone_dir: Option<PathBuf>,
    /// One listener per port for the whole fleet (a wildcard socket bound
    /// to the loopback interface; Linux, needs CAP_NET_RAW) instead of two
    /// per device: for fleets larger than the file-descriptor limit allows.
    #[arg(long)]
    pub shared_listener: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Firmware {
            command: FirmwareCommand::List,
        } => {
            print!("{}", firmware_table());
            Ok(())
        }
        Command::Serve(args) => serve(*args),
        Command::Fleet(args) => fleet(*args),
        Command::Ctl(args) => amtemu_server::control::client::run(args),
        Command::Scenario {
            command: ScenarioCommand::Check { file },
        } => {
            let scenario = amtemu_server::scenario::load(&file)?;
            scenario.device_specs()?;
            println!("{}", scenario.describe());
            Ok(())
        }
        Command::Ca {
            command: CaCommand::Export { ca_dir },
        } => {
            let dir = ca_dir.unwrap_or_else(tls::ca::default_dir);
            let ca = Ca::load_or_create(&dir)?;
            print!("{}", ca.cert_pem);
            Ok(())
        }
    }
}

fn firmware_table() -> String {
    let mut out = format!(
        "{:<7} {:<16} {:<6} {:<22} {}\n",
        "PROFILE", "VERSION", "CLASSES", "PORTS", "FEATURES"
    );
    for fw in Firmware::all() {
        let class_count = classes::all_names()
            .into_iter()
            .filter(|n| classes::lookup(n, fw).is_some())
            .count();
        let ports: Vec<String> = fw
            .ports
            .iter()
            .map(|p| p.standard_number().to_string())
            .collect();
        let features: Vec<String> = fw.features().map(|f| format!("{f:?}")).collect();
        out.push_str(&format!(
            "{:<7} {:<16} {:<7} {:<22} {}\n",
            fw.name,
            format!("{}.{}", fw.version, fw.build),
            class_count,
            ports.join(","),
            features.join(",")
        ));
    }
    out
}

fn firmware_named(name: &str) -> anyhow::Result<&'static Firmware> {
    Firmware::by_name(name).ok_or_else(|| {
        let known: Vec<&str> = Firmware::all().iter().map(|f| f.name).collect();
        anyhow::anyhow!(
            "unknown firmware {name:?}; known profiles: {}",
            known.join(", ")
        )
    })
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let firmware = firmware_named(&args.firmware)?;
    let d = &args.device;
    let spec = DeviceSpec {
        config: d.config(&args.name, firmware, &args.hostname, args.bind),
        address: args.bind,
        ports: Ports {
            http: d.http_port,
            https: d.https_port,
            redirection: d.redirection_port,
            redirection_tls: d.redirection_tls_port,
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
    run_fleet(vec![spec], d, false, None, |fleet, listeners| {
        let device = &fleet.devices()[0].device;
        if listeners.is_empty() {
            println!(
                "amtemu: firmware {} opens none of the configured ports; nothing to serve",
                firmware.name
            );
        }
        for (listener, port) in listeners {
            if let Ok(addr) = listener.local_addr() {
                if matches!(
                    port,
                    amtemu_model::device::Port::Redirection
                        | amtemu_model::device::Port::RedirectionTls
                ) {
                    println!(
                        "amtemu: device {} redirection (SOL, IDE-R) on {addr}",
                        device.name
                    );
                    continue;
                }
                let scheme = match port {
                    amtemu_model::device::Port::Https => "https",
                    _ => "http",
                };
                println!(
                    "amtemu: AMT {} device {} listening on {scheme}://{addr}/wsman (user {}, realm {})",
                    firmware.name, device.name, d.user, device.identity.digest_realm
                );
            }
        }
    })
}

/// The address and ports of device `index` (0-based) of a fleet.
fn fleet_slot(args: &FleetArgs, index: u32) -> anyhow::Result<(IpAddr, Ports)> {
    let base = Ports {
        http: args.device.http_port,
        https: args.device.https_port,
        redirection: args.device.redirection_port,
        redirection_tls: args.device.redirection_tls_port,
    };
    amtemu_server::fleet::slot(args.first_address, args.port_step, base, index as usize)
        .map_err(|e| anyhow::anyhow!(e))
}

fn fleet(args: FleetArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.scenario {
        return fleet_from_scenario(&args, path);
    }
    let count = args.count.unwrap_or(0);
    if count == 0 {
        bail!("a fleet needs at least one device");
    }
    if args.port_step.is_none() && args.first_address.octets()[0] != 127 {
        bail!("fleet addresses must be in 127.0.0.0/8");
    }
    let firmware: Vec<&'static Firmware> = args
        .firmware
        .iter()
        .map(|f| firmware_named(f.trim()))
        .collect::<anyhow::Result<_>>()?;
    let width = count.to_string().len().max(5);
    let mut specs = Vec::with_capacity(count as usize);
    for i in 0..count {
        let (address, ports) = fleet_slot(&args, i)?;
        let host = format!("{}-{:0width$}", args.prefix, i + 1);
        let fw = firmware[i as usize % firmware.len()];
        let name = format!("{}/{host}", args.seed);
        specs.push(DeviceSpec {
            config: args.device.config(&name, fw, &host, address),
            address,
            ports,
            tls_identity: None,
        });
    }
    write_name_files(&args, &specs)?;
    let (first, last) = (specs[0].address, specs[specs.len() - 1].address);
    let started = std::time::Instant::now();
    let shared = args.shared_listener;
    run_fleet(
        specs,
        &args.device,
        shared,
        None,
        move |fleet, listeners| {
            let mix: Vec<&str> = firmware.iter().map(|f| f.name).collect();
            println!(
                "amtemu: fleet of {count} devices ({}) on {first}..{last}, {} listeners; ready in {} ms",
                mix.join(", "),
                listeners.len(),
                started.elapsed().as_millis()
            );
            let _ = fleet;
        },
    )
}

/// Builds the fleet, binds its listeners, tells the user, and serves until
/// a signal; saves state on the way out.
fn run_fleet(
    specs: Vec<DeviceSpec>,
    args: &DeviceArgs,
    shared_listener: bool,
    scenario: Option<(amtemu_server::scenario::Scenario, Reports)>,
    announce: impl FnOnce(&Fleet, &[(tokio::net::TcpListener, amtemu_model::device::Port)]),
) -> anyhow::Result<()> {
    let ca_dir = args.ca_dir.clone().unwrap_or_else(tls::ca::default_dir);
    let ca = Ca::load_or_create(&ca_dir)
        .with_context(|| format!("the CA in {}", ca_dir.display()))?
        .with_key_pool(args.tls_key_pool);
    let store = args.state_dir.as_deref().map(Store::open).transpose()?;
    if let Some(addr) = args.control
        && !addr.ip().is_loopback()
    {
        bail!("the control API listens on loopback only, not {addr}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let devices = specs.len();
        let tls = Arc::new(TlsContext { ca });
        if devices > 1 {
            // Low priority work the first handshakes would otherwise wait for.
            let tls = tls.clone();
            std::thread::spawn(move || tls.ca.fill_key_pool());
        }
        let bar = progress_bar(devices, "devices built");
        let fleet = Arc::new(Fleet::new_with_progress(specs, tls, store, |n| {
            bar.set_position(n as u64)
        })?);
        bar.finish_and_clear();
        for endpoint in fleet.devices() {
            endpoint
                .redirect
                .set_plain_auth(!args.no_redirection_plain_auth);
        }
        let listeners = if shared_listener {
            bind_shared(&fleet).await?
        } else {
            fleet.bind().await?
        };
        if let Some(addr) = args.control {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("the control API on {addr}"))?;
            println!("amtemu: control API on http://{addr}/api/v1/devices");
            tokio::spawn(amtemu_server::control::serve(fleet.clone(), listener));
        }
        if fleet.devices().len() == 1 {
            fleet.log_events();
        }
        fleet.persist();
        let hello_config = match &scenario {
            Some((scenario, _)) => scenario.hello_config(args.hello_config()),
            None => args.hello_config(),
        };
        fleet
            .start_hellos(hello_config)
            .map_err(|e| anyhow::anyhow!(e))?;
        if let Some(offset) = args.local_offset() {
            let local = if shared_listener {
                bind_shared_local(args.local_port)?
            } else {
                amtemu_server::local::bind(&fleet, offset).await?
            };
            if fleet.devices().len() == 1
                && let Some(addr) = local.first().and_then(|l| l.local_addr().ok())
            {
                println!(
                    "amtemu: local interface (LMS stand-in) on http://{addr}/wsman (user {})",
                    amtemu_server::local::LOCAL_ACCOUNT
                );
            }
            tokio::spawn(amtemu_server::local::serve(fleet.clone(), local, offset));
        }
        announce(&fleet, &listeners);
        let serving = fleet.clone().serve(listeners);
        let outcome = match scenario {
            // A scenario with a duration ends the run with its verdict;
            // without one the fleet keeps serving after the timeline.
            Some((scenario, reports)) => {
                let timed = scenario.duration().is_some();
                let run = {
                    let fleet = fleet.clone();
                    async move {
                        let report = scenario.run(fleet).await;
                        reports.write(&report)?;
                        println!("amtemu: {}", report.summary());
                        anyhow::Ok(report.passed)
                    }
                };
                let run = tokio::spawn(run);
                tokio::select! {
                    _ = serving => Ok(true),
                    verdict = run, if timed => verdict.unwrap_or_else(|e| Err(e.into())),
                    _ = shutdown_signal() => {
                        println!("amtemu: shutting down");
                        Ok(true)
                    }
                }
            }
            None => {
                tokio::select! {
                    _ = serving => {}
                    _ = shutdown_signal() => {
                        println!("amtemu: shutting down");
                    }
                }
                Ok(true)
            }
        };
        fleet.save_all()?;
        if !outcome? {
            bail!("the scenario's expectations did not hold");
        }
        anyhow::Ok(())
    })
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

fn fleet_from_scenario(args: &FleetArgs, path: &std::path::Path) -> anyhow::Result<()> {
    let scenario = amtemu_server::scenario::load(path)?;
    let specs = scenario.device_specs()?;
    write_name_files(args, &specs)?;
    let count = specs.len();
    let started = std::time::Instant::now();
    let reports = Reports {
        json: args.report_json.clone(),
        junit: args.report_junit.clone(),
    };
    println!("amtemu: {}", scenario.describe());
    run_fleet(
        specs,
        &args.device,
        args.shared_listener,
        Some((scenario, reports)),
        move |_, listeners| {
            println!(
                "amtemu: scenario fleet of {count} devices, {} listeners; ready in {} ms",
                listeners.len(),
                started.elapsed().as_millis()
            );
        },
    )
}

#[cfg(target_os = "linux")]
async fn bind_shared(
    fleet: &Fleet,
) -> anyhow::Result<Vec<(tokio::net::TcpListener, amtemu_model::device::Port)>> {
    Ok(fleet.bind_shared().await?)
}

#[cfg(not(target_os = "linux"))]
async fn bind_shared(
    _: &Fleet,
) -> anyhow::Result<Vec<(tokio::net::TcpListener, amtemu_model::device::Port)>> {
    bail!("--shared-listener needs Linux (SO_BINDTODEVICE)")
}

#[cfg(target_os = "linux")]
fn bind_shared_local(port: u16) -> anyhow::Result<Vec<tokio::net::TcpListener>> {
    Ok(amtemu_server::local::bind_shared(port)?)
}

#[cfg(not(target_os = "linux"))]
fn bind_shared_local(_: u16) -> anyhow::Result<Vec<tokio::net::TcpListener>> {
    bail!("--shared-listener needs Linux (SO_BINDTODEVICE)")
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

/// `--provisioning-root FILE`: the file's name and the SHA-256 of the DER
/// certificate it holds (PEM or DER).
/// IP or IP:PORT, with `default_port` when none is given.
fn address_with_port(text: &str, default_port: u16) -> Result<std::net::SocketAddr, String> {
    text.parse::<std::net::SocketAddr>()
        .or_else(|_| {
            text.parse::<IpAddr>()
                .map(|ip| std::net::SocketAddr::new(ip, default_port))
        })
        .map_err(|_| format!("{text:?} is not an IP address or IP:PORT"))
}

fn server_address(text: &str) -> Result<std::net::SocketAddr, String> {
    address_with_port(text, amtemu_model::device::provisioning::DEFAULT_HELLO_PORT)
}

fn dns_address(text: &str) -> Result<std::net::SocketAddr, String> {
    address_with_port(text, 53)
}

fn hello_scale(text: &str) -> Result<f64, String> {
    let scale: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    amtemu_server::provision::schedule::valid_scale(scale)
}

fn console_script(path: &str) -> Result<std::sync::Arc<amtemu_model::host::ConsoleScript>, String> {
    amtemu_model::host::ConsoleScript::load(std::path::Path::new(path)).map(std::sync::Arc::new)
}

fn provisioning_root_hash(path: &str) -> Result<(String, Vec<u8>), String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let der = match CertificateDer::pem_slice_iter(&bytes).next() {
        Some(Ok(cert)) => cert.to_vec(),
        _ => bytes,
    };
    amtemu_model::pki::parse_certificate(&der).map_err(|e| format!("{path}: {e}"))?;
    Ok((
        path.to_string(),
        amtemu_model::chain::hash(amtemu_model::device::HashAlgorithm::Sha256, &der),
    ))
}
