//! The command line's flags: what every device starts with (`DeviceArgs`)
//! and what `serve` and `fleet` add, with the parsers of their values.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use amtemu_model::device::firmware::{DEFAULT_FIRMWARE, TimingMode};
use amtemu_model::device::{
    ControlMode, DEFAULT_PASSWORD, DeviceConfig, Firmware, HostPower, MePowerPolicy, PowerTimings,
    ProvisioningState, SetupState,
};
use amtemu_server::address::socket_address;
use amtemu_server::fleet::Ports;
use amtemu_server::tls;

/// How every device starts, for `serve` and `fleet` alike.
#[derive(Clone, Debug, Args)]
pub struct DeviceArgs {
    /// Host power state at start.
    #[arg(long, value_enum, default_value = "s0")]
    pub power: HostPower,
    /// In which host states the management engine stays reachable; outside
    /// them the device answers on no port.
    #[arg(long, value_enum, default_value = "always-on")]
    pub power_policy: MePowerPolicy,
    /// Provisioning state.
    #[arg(long, value_enum, default_value = "post")]
    pub provisioning: ProvisioningState,
    /// Control mode once provisioned.
    #[arg(long, value_enum, default_value = "acm")]
    pub mode: ControlMode,
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
    #[arg(long, default_value = "vpro.test", value_parser = checked::<amtemu_model::values::DomainNameRule>)]
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
    /// Port for KVM as plain VNC on firmware 6 to 15 (answers once
    /// IPS_KVMRedirectionSettingData.Is5900PortEnabled is set; 0 turns the
    /// listener off).
    #[arg(long, default_value_t = 5900)]
    pub vnc_port: u16,
    /// Stop offering plain user/password redirection authentication
    /// (offered by default because Debian's amtterm 1.4 needs it).
    #[arg(long)]
    pub no_redirection_plain_auth: bool,
    /// `firmware`: devices answer WS-Man at their firmware generation's
    /// pace (a service time per kind of answer) and reset connections beyond
    /// its ceilings (docs/TIMING.md); `fast`: as fast as the emulator can.
    #[arg(long, value_enum, default_value = "fast")]
    pub timing: TimingMode,
    /// Sockets each device serves at once over its network ports; more are
    /// closed at once, as a management engine's small socket pool would.
    #[arg(long, default_value_t = amtemu_server::endpoint::limits::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections_per_device: usize,
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
    /// Serve only the Prometheus metrics (`GET /metrics`) on this address,
    /// which may be off loopback (e.g. 0.0.0.0:9464 in a pod), for a
    /// scraper on another machine.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Require this token on every control API request (`Authorization:
    /// Bearer TOKEN`; the dashboard takes it once as `/?token=TOKEN`).
    /// Needed to serve the control API off loopback.
    #[arg(long, env = "AMTEMU_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
}

impl DeviceArgs {
    pub(super) fn config(
        &self,
        name: &str,
        firmware: &'static Firmware,
        host_name: &str,
        address: IpAddr,
    ) -> DeviceConfig {
        DeviceConfig {
            name: name.to_string(),
            firmware,
            power: self.power,
            timings: PowerTimings {
                boot: Duration::from_millis(self.boot_ms),
                shutdown: Duration::from_millis(self.shutdown_ms),
                reset: Duration::from_millis(self.reset_ms),
            },
            setup: SetupState {
                state: self.provisioning,
                mode: self.mode,
            },
            admin_name: self.user.clone(),
            admin_password: self.password.clone(),
            host_name: host_name.to_string(),
            domain_name: self.domain.clone(),
            ip_address: address.to_string(),
            console: self.console.clone(),
            provisioning: self.provisioning_settings(),
            power_policy: self.power_policy,
            timing: self.timing,
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
    pub(super) fn hello_config(&self) -> amtemu_server::provision::HelloConfig {
        amtemu_server::provision::HelloConfig {
            dns: self.dns,
            scale: self.hello_interval_scale,
            concurrency: self.hello_concurrency,
            ..amtemu_server::provision::HelloConfig::default()
        }
    }

    /// The local interface's port for a device whose HTTP port is `http`:
    /// as far above it as --local-port is above --http-port (so --port-step
    /// and scenarios move it along); None when it is off (0, or not above
    /// the HTTP port).
    pub(super) fn local_port_beside(&self, http: u16) -> Option<u16> {
        let offset = (self.local_port != 0)
            .then(|| self.local_port.checked_sub(self.http_port))
            .flatten()
            .filter(|offset| *offset != 0)?;
        http.checked_add(offset)
    }

    /// The network ports every device starts from.
    pub(super) fn base_ports(&self) -> Ports {
        Ports {
            http: self.http_port,
            https: self.https_port,
            redirection: self.redirection_port,
            redirection_tls: self.redirection_tls_port,
            vnc: (self.vnc_port != 0).then_some(self.vnc_port),
            local: None,
        }
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
    #[arg(long, default_value = "amt-0001", value_parser = host_name)]
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
    #[command(flatten)]
    pub host: HostArgs,
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
    /// skipping addresses ending in .0 and .255 (a 10/8, 172.16/12,
    /// 192.168/16 or 198.18/15 address instead, for a range routed to this
    /// host: see README "Beyond one machine").
    #[arg(long, default_value = "127.1.0.1")]
    pub first_address: std::net::Ipv4Addr,
    /// Put every device on the first address instead, device n on ports
    /// raised by n times this step (for platforms with one loopback address).
    #[arg(long)]
    pub port_step: Option<u16>,
    /// Host names are this prefix and the device's number (amt-00001, …);
    /// the number also seeds each device's identity.
    #[arg(long, default_value = "amt", value_parser = host_prefix)]
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
    /// Run only shard K of N of the fleet (or scenario): the devices
    /// ⌊K·T/N⌋ to ⌊(K+1)·T/N⌋ of T, with the names, identities, addresses
    /// and timeline events they have in the whole fleet. K may be a pod
    /// name ending in -K (a StatefulSet's pod). See `amtemu scenario merge`.
    #[arg(long, env = "AMTEMU_SHARD", value_name = "K/N")]
    pub shard: Option<amtemu_server::fleet::shard::Shard>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Which machine is behind the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HostKind {
    /// The scripted console, shell and ISO probe (no process per device).
    Simulated,
    /// A QEMU virtual machine amtemu starts and controls (the --qemu-* flags).
    Qemu,
}

/// `serve`'s host: the simulated one, or a QEMU virtual machine.
#[derive(Debug, Args)]
#[command(next_help_heading = "Host")]
pub struct HostArgs {
    /// The host behind the firmware.
    #[arg(long, value_enum, default_value = "simulated")]
    pub host: HostKind,
    /// QEMU binary.
    #[arg(long, value_name = "FILE", default_value = "qemu-system-x86_64")]
    pub qemu_binary: PathBuf,
    /// Kernel booted directly on disk boots (-kernel).
    #[arg(long, value_name = "FILE")]
    pub qemu_kernel: Option<PathBuf>,
    /// Initramfs for --qemu-kernel.
    #[arg(long, value_name = "FILE", requires = "qemu_kernel")]
    pub qemu_initrd: Option<PathBuf>,
    /// Kernel command line for --qemu-kernel.
    #[arg(long, default_value = amtemu_server::qemu::config::DEFAULT_APPEND)]
    pub qemu_append: String,
    /// Hard disk image (raw, or qcow2 by its extension).
    #[arg(long, value_name = "FILE")]
    pub qemu_disk: Option<PathBuf>,
    /// Local CD image (the CD/DVD boot target).
    #[arg(long, value_name = "FILE")]
    pub qemu_cdrom: Option<PathBuf>,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 256)]
    pub qemu_memory_mb: u32,
    /// CPU acceleration: kvm when /dev/kvm is usable (auto), or as named.
    #[arg(long, value_enum, default_value = "auto")]
    pub qemu_accel: amtemu_server::qemu::Accel,
    /// Milliseconds a graceful off (ACPI power button) may take before the
    /// VM is stopped hard.
    #[arg(long, default_value_t = 60_000)]
    pub qemu_shutdown_deadline_ms: u64,
}

impl HostArgs {
    /// The VM's configuration with --host qemu; None for the simulated host.
    pub(super) fn qemu(&self) -> Option<amtemu_server::qemu::QemuConfig> {
        (self.host == HostKind::Qemu).then(|| amtemu_server::qemu::QemuConfig {
            binary: self.qemu_binary.clone(),
            kernel: self.qemu_kernel.clone(),
            initrd: self.qemu_initrd.clone(),
            append: self.qemu_append.clone(),
            disk: self.qemu_disk.clone(),
            cdrom: self.qemu_cdrom.clone(),
            memory_mb: self.qemu_memory_mb,
            accel: self.qemu_accel,
            shutdown_deadline: Duration::from_millis(self.qemu_shutdown_deadline_ms),
        })
    }
}

fn server_address(text: &str) -> Result<std::net::SocketAddr, String> {
    socket_address(text, amtemu_model::device::provisioning::DEFAULT_HELLO_PORT)
}

fn dns_address(text: &str) -> Result<std::net::SocketAddr, String> {
    socket_address(text, 53)
}

fn hello_scale(text: &str) -> Result<f64, String> {
    let scale: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    amtemu_server::provision::schedule::valid_scale(scale)
}

/// A name the device would refuse over WS-Man is refused here too, rather
/// than dropped when the device is built.
fn checked<R: amtemu_model::values::Rule>(s: &str) -> Result<String, String> {
    amtemu_model::values::Checked::<R>::new(s)
        .map(|v| v.to_string())
        .map_err(|e| format!("{s:?} {e}"))
}

/// `--hostname`: a DNS label, the host name every firmware takes (CSME 18
/// takes more, over WS-Man).
fn host_name(s: &str) -> Result<String, String> {
    let name = amtemu_model::values::HostName::new(s).map_err(|e| format!("{s:?} {e}"))?;
    if name.is_dns_label() {
        Ok(name.to_string())
    } else {
        Err(format!(
            "{s:?} is not a DNS label (letters, digits and inner hyphens)"
        ))
    }
}

/// `--prefix`: host names are the prefix, a hyphen and five or more
/// digits, so the prefix must leave room for them in a host name.
fn host_prefix(s: &str) -> Result<String, String> {
    host_name(&format!("{s}-0000000000")).map(|_| s.to_string())
}

fn console_script(path: &str) -> Result<std::sync::Arc<amtemu_model::host::ConsoleScript>, String> {
    amtemu_model::host::ConsoleScript::load(std::path::Path::new(path)).map(std::sync::Arc::new)
}

/// `--provisioning-root FILE`: the file's name and the SHA-256 of the DER
/// certificate it holds (PEM or DER).
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
        amtemu_model::device::chain::hash(amtemu_model::device::HashAlgorithm::Sha256, &der),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::values::DomainNameRule;

    #[test]
    fn names_a_device_would_refuse_are_refused_on_the_command_line() {
        assert_eq!(host_name("amt-0001"), Ok("amt-0001".into()));
        assert!(host_name("pc\u{1}42").is_err());
        assert!(host_name("pc.example").is_err());
        assert!(host_name("pé").is_err());
        assert!(checked::<DomainNameRule>("vpro.test").is_ok());
        assert!(checked::<DomainNameRule>("vpro..test").is_err());
        assert_eq!(host_prefix("laptops"), Ok("laptops".into()));
        assert!(host_prefix("lap_tops").is_err());
        assert!(host_prefix(&"a".repeat(60)).is_err());
    }
}
