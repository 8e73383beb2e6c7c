//! The `amtemu` command line: wiring only, no logic of its own.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::classes;
use crate::device::firmware::DEFAULT_FIRMWARE;
use crate::device::{
    ControlMode, DEFAULT_PASSWORD, DeviceConfig, Firmware, HostPower, PowerTimings,
    ProvisioningState, SetupState,
};
use crate::fleet::{DeviceSpec, Fleet, Ports};
use crate::store::Store;
use crate::tls::{self, TlsContext, ca::Ca};

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
    /// Firmware profiles.
    Firmware {
        #[command(subcommand)]
        command: FirmwareCommand,
    },
    /// The emulator's certificate authority, which issues the devices' TLS
    /// certificates.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
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

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address the device answers on (loopback unless you mean otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port for WS-Man over HTTP.
    #[arg(long, default_value_t = 16992)]
    pub http_port: u16,
    /// Port for WS-Man over TLS.
    #[arg(long, default_value_t = 16993)]
    pub https_port: u16,
    /// Where the emulator's CA is kept (see `amtemu ca export`).
    #[arg(long)]
    pub ca_dir: Option<PathBuf>,
    /// Keep the device's state (settings, users, certificates, logs) in this
    /// directory across restarts; without it the device starts fresh.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// PEM certificate chain the device presents on 16993 instead of one
    /// issued by the emulator's CA (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PKCS#8 PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Firmware profile (see `amtemu firmware list`).
    #[arg(long, default_value = DEFAULT_FIRMWARE)]
    pub firmware: String,
    /// Host power state at start.
    #[arg(long, value_enum, default_value = "s0")]
    pub power: PowerArg,
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
    /// The device's host name (AMT_GeneralSettings.HostName).
    #[arg(long, default_value = "amt-0001")]
    pub hostname: String,
    /// The device's domain (AMT_GeneralSettings.DomainName).
    #[arg(long, default_value = "vpro.test")]
    pub domain: String,
    /// A name that seeds the device's identity (UUID, realm, MAC).
    #[arg(long, default_value = "amtemu-default")]
    pub name: String,
    /// Milliseconds from a power-on request until the host is on (S0).
    #[arg(long, default_value_t = 2000)]
    pub boot_ms: u64,
    /// Milliseconds from a power-off request until the host is off.
    #[arg(long, default_value_t = 1000)]
    pub shutdown_ms: u64,
    /// Milliseconds a reset takes.
    #[arg(long, default_value_t = 2000)]
    pub reset_ms: u64,
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

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let Some(firmware) = Firmware::by_name(&args.firmware) else {
        let known: Vec<&str> = Firmware::all().iter().map(|f| f.name).collect();
        bail!(
            "unknown firmware {:?}; known profiles: {}",
            args.firmware,
            known.join(", ")
        );
    };
    let config = DeviceConfig {
        name: args.name.clone(),
        firmware,
        power: match args.power {
            PowerArg::S0 => HostPower::S0,
            PowerArg::S3 => HostPower::S3,
            PowerArg::S4 => HostPower::S4,
            PowerArg::S5 => HostPower::S5,
            PowerArg::Off => HostPower::Off,
        },
        timings: PowerTimings {
            boot: Duration::from_millis(args.boot_ms),
            shutdown: Duration::from_millis(args.shutdown_ms),
            reset: Duration::from_millis(args.reset_ms),
        },
        setup: SetupState {
            state: match args.provisioning {
                ProvisioningArg::Pre => ProvisioningState::Pre,
                ProvisioningArg::In => ProvisioningState::In,
                ProvisioningArg::Post => ProvisioningState::Post,
            },
            mode: match args.mode {
                ModeArg::Acm => ControlMode::Admin,
                ModeArg::Ccm => ControlMode::Client,
            },
        },
        admin_name: args.user.clone(),
        admin_password: args.password.clone(),
        host_name: args.hostname.clone(),
        domain_name: args.domain.clone(),
        ip_address: args.bind.to_string(),
    };
    let spec = DeviceSpec {
        config,
        address: args.bind,
        ports: Ports {
            http: args.http_port,
            https: args.https_port,
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
    let ca_dir = args.ca_dir.clone().unwrap_or_else(tls::ca::default_dir);
    let ca =
        Ca::load_or_create(&ca_dir).with_context(|| format!("the CA in {}", ca_dir.display()))?;
    let store = args.state_dir.as_deref().map(Store::open).transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let fleet = Arc::new(Fleet::new(vec![spec], Arc::new(TlsContext { ca }), store)?);
        let listeners = fleet.bind().await?;
        fleet.log_events();
        fleet.persist();
        let device = &fleet.devices()[0].device;
        if listeners.is_empty() {
            println!(
                "amtemu: firmware {} opens none of the configured ports; nothing to serve",
                firmware.name
            );
        }
        for (listener, port) in &listeners {
            if let Ok(addr) = listener.local_addr() {
                let scheme = match port {
                    crate::device::Port::Https => "https",
                    _ => "http",
                };
                println!(
                    "amtemu: AMT {} device {} listening on {scheme}://{addr}/wsman (user {}, realm {})",
                    firmware.name, device.name, args.user, device.identity.digest_realm
                );
            }
        }
        tokio::select! {
            _ = fleet.clone().serve(listeners) => {}
            _ = shutdown_signal() => {
                println!("amtemu: shutting down");
            }
        }
        fleet.save_all()?;
        anyhow::Ok(())
    })
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
