//! The `amtemu` command line: wiring only, no logic of its own.

mod args;
mod run;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use amtemu_model::device::Firmware;
use amtemu_server::tls::{self, ca::Ca};
use amtemu_wsman::classes;
pub use args::{DeviceArgs, FleetArgs, ServeArgs};

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
    /// Saved device state in a state directory (not while an emulator
    /// uses it): list it, or move one device's state out or in as JSON.
    State {
        /// The state directory (as given to --state-dir).
        #[arg(long)]
        state_dir: PathBuf,
        #[command(subcommand)]
        command: StateCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// The devices with saved state, one per line.
    List,
    /// Print one device's saved state as JSON.
    Export { device: String },
    /// Replace one device's saved state with JSON from a file ("-": stdin).
    Import { device: String, file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Check a scenario file without running it.
    Check { file: PathBuf },
    /// Join the JSON reports of a sharded run (`fleet --shard K/N
    /// --report-json`) into the whole fleet's report; fails when shards
    /// overlap, are missing or are of another run, and (exit status 1)
    /// when an expectation fails over the whole fleet.
    Merge {
        /// The shards' JSON reports.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Write the merged JSON report here (default: standard output).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write the merged report as JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
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

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Firmware {
            command: FirmwareCommand::List,
        } => {
            print!("{}", firmware_table());
            Ok(())
        }
        Command::Serve(args) => run::serve(*args),
        Command::Fleet(args) => run::fleet(*args),
        Command::Ctl(args) => amtemu_server::control::client::run(args),
        Command::Scenario {
            command: ScenarioCommand::Check { file },
        } => {
            let scenario = amtemu_server::scenario::load(&file)?;
            scenario.device_specs()?;
            println!("{}", scenario.describe());
            Ok(())
        }
        Command::Scenario {
            command:
                ScenarioCommand::Merge {
                    reports,
                    json,
                    junit,
                },
        } => run::merge_reports(&reports, json.as_deref(), junit.as_deref()),
        Command::State { state_dir, command } => state(&state_dir, command),
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

fn state(dir: &std::path::Path, command: StateCommand) -> anyhow::Result<()> {
    use anyhow::Context;
    let store = amtemu_server::store::Store::open(dir)?;
    match command {
        StateCommand::List => {
            for name in store.devices()? {
                println!("{name}");
            }
        }
        StateCommand::Export { device } => match store.export(&device)? {
            Some(json) => println!("{json}"),
            None => anyhow::bail!("no saved state for {device:?}"),
        },
        StateCommand::Import { device, file } => {
            let json = if file.as_os_str() == "-" {
                let mut text = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut text)?;
                text
            } else {
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?
            };
            store.import(&device, &json)?;
        }
    }
    Ok(())
}
