//! The groups and their devices: each group's settings, its devices' specs
//! (names, addresses, ports), the faults put on them at start, and the
//! lookups by group and host name that the timeline and expectations use.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::fleet::FleetSettings;
use super::raw::RawGroup;
use super::source::{Checked, KeyPath, problem};
use super::values::{
    check_plan, check_share, console_script, firmware_named, seeded_pick, share_count, valid_label,
};
use crate::faults::FaultPlan;
use crate::fleet::{DeviceSpec, Ports};
use crate::qemu::{Accel, QemuConfig};
use crate::scenario::Group;
use amtemu_model::device::firmware::TimingMode;
use amtemu_model::device::{
    ControlMode, DEFAULT_PASSWORD, DeviceConfig, Firmware, HashAlgorithm, HostPower, MePowerPolicy,
    PowerTimings, ProvisioningSettings, ProvisioningState, SetupState,
};
use amtemu_model::host::ConsoleScript;

/// The fleet's devices, laid out group by group, and the names that find
/// them.
pub(super) struct Devices {
    pub(super) groups: Vec<Group>,
    pub(super) specs: Vec<DeviceSpec>,
    /// Each device's group (index into `groups`).
    pub(super) device_group: Vec<usize>,
    /// Device index by host name.
    hosts: HashMap<String, usize>,
    /// Group index by name.
    group_index: HashMap<String, usize>,
    /// Devices (by name) whose host is a QEMU virtual machine.
    pub(super) qemu_hosts: Vec<(String, QemuConfig)>,
}

/// The most devices one group may give a virtual machine each: the
/// simulated host is the one for fleets, a VM is a lab machine.
pub const MAX_QEMU_DEVICES: u32 = 8;

/// Lays out the groups' devices in order, each group's after the last.
pub(super) fn devices(
    raw: &[RawGroup],
    fleet: &FleetSettings,
    file_name: &str,
) -> Checked<Devices> {
    if raw.is_empty() {
        return Err(problem(
            &KeyPath::root(),
            "a scenario needs at least one [[groups]] table",
        ));
    }
    let mut devices = Devices {
        groups: Vec::new(),
        specs: Vec::new(),
        device_group: Vec::new(),
        hosts: HashMap::new(),
        group_index: HashMap::new(),
        qemu_hosts: Vec::new(),
    };
    let mut used_addresses: HashSet<SocketAddr> = HashSet::new();
    for (gi, g) in raw.iter().enumerate() {
        devices.add_group(gi, g, fleet, file_name, &mut used_addresses)?;
    }
    Ok(devices)
}

impl Devices {
    fn add_group(
        &mut self,
        gi: usize,
        g: &RawGroup,
        fleet: &FleetSettings,
        file_name: &str,
        used_addresses: &mut HashSet<SocketAddr>,
    ) -> Checked<()> {
        let path = KeyPath::root().k("groups").i(gi);
        if g.name.is_empty() {
            return Err(problem(&path.k("name"), "a group needs a name"));
        }
        if self.group_index.insert(g.name.clone(), gi).is_some() {
            return Err(problem(
                &path.k("name"),
                format!("a second group named {:?}", g.name),
            ));
        }
        if g.count == 0 {
            return Err(problem(
                &path.k("count"),
                "a group needs at least one device",
            ));
        }
        let settings = GroupSettings::read(&path, g, &fleet.domain, file_name)?;
        let qemu = group_qemu(&path, g)?;
        let width = g.count.to_string().len().max(5);
        let start = self.specs.len();
        for n in 0..g.count as usize {
            let index = self.specs.len();
            let host = format!("{}-{:0width$}", settings.prefix, n + 1);
            if self.hosts.insert(host.clone(), index).is_some() {
                return Err(problem(
                    &path.k(settings.prefix_key),
                    format!(
                        "host name {host} is used by another group too; give the groups different host_prefix values"
                    ),
                ));
            }
            let fleet_path = KeyPath::root().k("fleet");
            let (address, ports) = crate::fleet::slot(
                fleet.first_address,
                fleet.port_step,
                Ports {
                    http: fleet.http_port,
                    https: fleet.https_port,
                    ..Ports::default()
                },
                index,
            )
            .map_err(|m| {
                let key = if fleet.port_step.is_some() {
                    "port_step"
                } else {
                    "first_address"
                };
                problem(&fleet_path.k(key), m)
            })?;
            for port in [ports.http, ports.https] {
                if !used_addresses.insert(SocketAddr::new(address, port)) {
                    return Err(problem(
                        &fleet_path.k("port_step"),
                        format!(
                            "device {host} would share {address}:{port} with another device; use a port_step larger than the gap between http_port and https_port"
                        ),
                    ));
                }
            }
            self.specs.push(DeviceSpec {
                config: DeviceConfig {
                    name: format!("{}/{host}", fleet.seed),
                    firmware: settings.firmware[n % settings.firmware.len()],
                    power: settings.power,
                    timings: settings.timings,
                    setup: settings.setup,
                    admin_name: settings.user.clone(),
                    admin_password: settings.password.clone(),
                    host_name: host,
                    domain_name: settings.domain.clone(),
                    ip_address: address.to_string(),
                    console: settings.console.clone(),
                    provisioning: settings.provisioning.clone(),
                    power_policy: settings.power_policy,
                    timing: settings.timing,
                },
                address,
                ports,
                tls_identity: None,
            });
            if let Some(qemu) = &qemu {
                let name = self.specs[index].config.name.clone();
                self.qemu_hosts.push((name, qemu.clone()));
            }
            self.device_group.push(gi);
        }
        let members: Vec<usize> = (start..self.specs.len()).collect();
        let faults = group_faults(&path, g, &fleet.seed, &members)?;
        self.groups.push(Group {
            name: g.name.clone(),
            members,
            faults,
        });
        Ok(())
    }

    /// The group a timeline event or expectation names.
    pub(super) fn group(&self, path: &KeyPath, name: &str) -> Checked<usize> {
        self.group_index.get(name).copied().ok_or_else(|| {
            let known: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
            problem(
                path,
                format!("no group named {name:?} (groups: {})", known.join(", ")),
            )
        })
    }

    /// The device with a host name, which must be in `group` when one is
    /// named too.
    pub(super) fn device(
        &self,
        path: &KeyPath,
        host: &str,
        group: Option<usize>,
    ) -> Checked<usize> {
        let index = *self.hosts.get(host).ok_or_else(|| {
            problem(
                path,
                format!(
                    "no device with host name {host:?} (host names are the group's host_prefix and a number, e.g. {:?})",
                    self.specs[0].config.host_name
                ),
            )
        })?;
        if let Some(g) = group
            && self.device_group[index] != g
        {
            return Err(problem(
                path,
                format!("device {host} is not in group {:?}", self.groups[g].name),
            ));
        }
        Ok(index)
    }
}

/// A group's `qemu` table as the VM configuration its devices get.
fn group_qemu(path: &KeyPath, g: &RawGroup) -> Checked<Option<QemuConfig>> {
    let Some(raw) = &g.qemu else { return Ok(None) };
    let path = path.k("qemu");
    if g.count > MAX_QEMU_DEVICES {
        return Err(problem(
            &path,
            format!(
                "a group with a QEMU host has at most {MAX_QEMU_DEVICES} devices (each is a virtual machine); put the rest in a simulated group"
            ),
        ));
    }
    let defaults = QemuConfig::new();
    let accel = match &raw.accel {
        None => defaults.accel,
        Some(text) => Accel::parse(text).ok_or_else(|| {
            problem(
                &path.k("accel"),
                format!("{text:?} is not auto, kvm or tcg"),
            )
        })?,
    };
    Ok(Some(QemuConfig {
        binary: raw.binary.clone().unwrap_or(defaults.binary),
        kernel: raw.kernel.clone(),
        initrd: raw.initrd.clone(),
        append: raw.append.clone().unwrap_or(defaults.append),
        disk: raw.disk.clone(),
        cdrom: raw.cdrom.clone(),
        memory_mb: raw.memory_mb.unwrap_or(defaults.memory_mb),
        accel,
        shutdown_deadline: raw
            .shutdown_deadline_ms
            .map_or(defaults.shutdown_deadline, Duration::from_millis),
    }))
}

/// What a group's devices share.
struct GroupSettings {
    /// Given to the group's devices in turn.
    firmware: Vec<&'static Firmware>,
    /// Host names are the prefix and a number.
    prefix: String,
    /// The key that sets the prefix, for errors about host names.
    prefix_key: &'static str,
    user: String,
    password: String,
    domain: String,
    provisioning: ProvisioningSettings,
    /// One script shared by the group's devices.
    console: Option<Arc<ConsoleScript>>,
    timings: PowerTimings,
    power: HostPower,
    power_policy: MePowerPolicy,
    timing: TimingMode,
    setup: SetupState,
}

impl GroupSettings {
    fn read(
        path: &KeyPath,
        g: &RawGroup,
        default_domain: &str,
        file_name: &str,
    ) -> Checked<GroupSettings> {
        let firmware = group_firmware(path, g)?;
        let prefix = g.host_prefix.clone().unwrap_or_else(|| g.name.clone());
        let prefix_key = if g.host_prefix.is_some() {
            "host_prefix"
        } else {
            "name"
        };
        if !valid_label(&prefix) {
            return Err(problem(
                &path.k(prefix_key),
                format!(
                    "{prefix:?} cannot start a host name (letters, digits and inner hyphens only); set host_prefix"
                ),
            ));
        }
        let user = g.user.clone().unwrap_or_else(|| "admin".into());
        if user.is_empty() {
            return Err(problem(&path.k("user"), "the user name must not be empty"));
        }
        let password = g
            .password
            .clone()
            .unwrap_or_else(|| DEFAULT_PASSWORD.into());
        if password.is_empty() {
            return Err(problem(
                &path.k("password"),
                "the password must not be empty",
            ));
        }
        let domain = g
            .domain
            .clone()
            .unwrap_or_else(|| default_domain.to_string());
        let provisioning = group_provisioning(path, g)?;
        let defaults = PowerTimings::default();
        let console = match &g.console {
            None => None,
            Some(value) => Some(Arc::new(console_script(
                &path.k("console"),
                value,
                file_name,
            )?)),
        };
        let timings = PowerTimings {
            boot: g.boot_ms.map_or(defaults.boot, Duration::from_millis),
            shutdown: g
                .shutdown_ms
                .map_or(defaults.shutdown, Duration::from_millis),
            reset: g.reset_ms.map_or(defaults.reset, Duration::from_millis),
        };
        Ok(GroupSettings {
            firmware,
            prefix,
            prefix_key,
            user,
            password,
            domain,
            provisioning,
            console,
            timings,
            power: g.power.map_or(HostPower::S0, |p| p.0),
            power_policy: g.power_policy.map_or(MePowerPolicy::default(), |p| p.0),
            timing: g.timing.map_or(TimingMode::default(), |t| t.0),
            setup: SetupState {
                state: g.provisioning.unwrap_or(ProvisioningState::Post),
                mode: g.mode.map_or(ControlMode::Admin, |m| m.0),
            },
        })
    }
}

/// A group's `firmware`: one name or a non-empty list of them.
fn group_firmware(path: &KeyPath, g: &RawGroup) -> Checked<Vec<&'static Firmware>> {
    Ok(match &g.firmware {
        None => vec![firmware_named(
            &path.k("firmware"),
            amtemu_model::device::firmware::DEFAULT_FIRMWARE,
        )?],
        Some(toml::Value::String(name)) => vec![firmware_named(&path.k("firmware"), name)?],
        Some(toml::Value::Array(list)) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                toml::Value::String(name) => firmware_named(&path.k("firmware").i(i), name),
                other => Err(problem(
                    &path.k("firmware").i(i),
                    format!("expected a firmware name, found {}", other.type_str()),
                )),
            })
            .collect::<Checked<_>>()?,
        Some(_) => {
            return Err(problem(
                &path.k("firmware"),
                "expected a firmware name (\"11.8\") or a non-empty list of them",
            ));
        }
    })
}

/// A group's `faults`: the plan and the devices it is put on.
fn group_faults(
    path: &KeyPath,
    g: &RawGroup,
    seed: &str,
    members: &[usize],
) -> Checked<Option<(FaultPlan, Vec<usize>)>> {
    let Some(f) = &g.faults else {
        return Ok(None);
    };
    let fpath = path.k("faults");
    check_plan(&fpath, &f.plan)?;
    let targets = match f.share {
        None => members.to_vec(),
        Some(share) => {
            let share = check_share(&fpath.k("share"), share, true)?;
            seeded_pick(
                seed,
                &format!("groups/{}/faults", g.name),
                members,
                share_count(share, members.len()),
            )
        }
    };
    Ok(Some((f.plan.clone(), targets)))
}

/// A group's MEBx provisioning settings.
fn group_provisioning(path: &KeyPath, g: &RawGroup) -> Checked<ProvisioningSettings> {
    let mut settings = ProvisioningSettings {
        mebx_domain: g.mebx_domain.clone().unwrap_or_default(),
        dhcp_domain: g.dhcp_domain.clone().unwrap_or_default(),
        pki_dns_suffix: g.pki_dns_suffix.clone().unwrap_or_default(),
        pid: g.pid.clone(),
        pps: g.pps.clone(),
        ..ProvisioningSettings::default()
    };
    if let Some(port) = g.provisioning_port {
        settings.server_port = port;
    }
    if let Some(text) = &g.provisioning_server {
        settings.server = Some(
            crate::address::socket_address(
                text,
                amtemu_model::device::provisioning::DEFAULT_HELLO_PORT,
            )
            .map_err(|m| problem(&path.k("provisioning_server"), m))?,
        );
    }
    if g.pid.is_some() != g.pps.is_some() {
        return Err(problem(
            &path.k(if g.pid.is_some() { "pid" } else { "pps" }),
            "pid and pps go together",
        ));
    }
    if g.pid.is_some() && settings.psk_pid().is_none() {
        return Err(problem(
            &path.k("pid"),
            "a PID is 8 characters (a dash in the middle allowed)",
        ));
    }
    for (i, text) in g.trusted_hashes.iter().flatten().enumerate() {
        let hash = amtemu_model::device::provisioning::decode_hex(text.trim());
        let algorithm = match hash.as_ref().map(Vec::len) {
            Some(20) => HashAlgorithm::Sha1,
            Some(32) => HashAlgorithm::Sha256,
            Some(48) => HashAlgorithm::Sha384,
            _ => {
                return Err(problem(
                    &path.k("trusted_hashes").i(i),
                    "a trusted hash is a SHA-1, SHA-256 or SHA-384 in hex (40, 64 or 96 digits)",
                ));
            }
        };
        settings.add_trusted_hash(
            &format!("scenario hash {}", i + 1),
            algorithm,
            hash.unwrap_or_default(),
        );
    }
    Ok(settings)
}
