//! The one task per QEMU-backed device: the device's power requests and
//! boots in, VM starts and QMP commands out, the VM's end back to the
//! device as the host settling.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::net::UnixListener;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use amtemu_model::device::{Device, DeviceEvent, HostPower, HostSettled, PowerRequest};
use amtemu_model::host::BootTarget;

use super::config::QemuConfig;
use super::console::QemuConsole;
use super::ider_cd::{self, IderCd};
use super::nbd;
use super::qmp::GuestPower;
use super::vm::{self, IDER_DRIVE, Sleep, Vm, VmCommand, VmNote};
use crate::endpoint::{Endpoint, OutsideHost};

/// Makes the VM the host of `endpoint`'s device now (before it serves),
/// and returns the task that drives it until dropped (the emulator stops),
/// which stops the VM.
pub fn drive(
    endpoint: Arc<Endpoint>,
    config: Arc<QemuConfig>,
) -> impl std::future::Future<Output = ()> + Send {
    let device = endpoint.device.clone();
    let console = Arc::new(QemuConsole::new(device.clone()));
    let attached = endpoint.host.set(OutsideHost(console.clone())).is_ok();
    if attached {
        device.attach_outside_host(config.shutdown_deadline);
    } else {
        tracing::warn!(device = %device.name, "the device already has an outside host");
    }
    let mut events = device.subscribe();
    let mut ider_active = console.ider.watch_active();
    let mut driver = Driver {
        dir: runtime_dir(&device.name),
        device,
        config,
        console,
        vm: None,
        generation: 0,
        ider_nodes: 0,
        notes: mpsc::unbounded_channel(),
    };
    async move {
        if !attached {
            return;
        }
        // Dropped with the driver, which ends every NBD connection.
        let _exports = match driver.serve_ider_cd() {
            Ok(task) => Some(task),
            Err(e) => {
                tracing::error!(device = %driver.device.name, "no IDE-R export for the VM: {e}");
                None
            }
        };
        // A host that is on when the emulator starts boots from its disk.
        if driver.device.power_status().state.is_on() {
            driver.start(BootTarget::Disk).await;
        }
        loop {
            tokio::select! {
                Some((generation, note)) = driver.notes.1.recv() => match note {
                    VmNote::Ended(why) => driver.vm_ended(generation, why),
                    VmNote::Sleep(power) => driver.guest_power(generation, power),
                },
                Ok(()) = ider_active.changed() => {
                    let active = *ider_active.borrow_and_update();
                    driver.ider_changed(active);
                }
                event = events.recv() => match event {
                    Ok(event) => driver.handle(event).await,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(device = %driver.device.name, missed = n, "QEMU host missed device events");
                        driver.resync();
                    }
                    Err(RecvError::Closed) => break,
                },
            }
        }
    }
}

/// Where a device's sockets live: one directory per emulator process and
/// device, so two emulators (or two devices) never share a socket.
fn runtime_dir(device: &str) -> PathBuf {
    let name: String = device
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::env::temp_dir()
        .join(format!("amtemu-qemu-{}", std::process::id()))
        .join(name)
}

struct Driver {
    device: Arc<Device>,
    config: Arc<QemuConfig>,
    console: Arc<QemuConsole>,
    dir: PathBuf,
    vm: Option<Vm>,
    generation: u64,
    /// Numbers the IDE-R CD's block nodes, so a node whose removal failed
    /// never blocks the next insert's name.
    ider_nodes: u64,
    /// What each VM run tells: its generation, and its sleep or its end.
    notes: (mpsc::UnboundedSender<Note>, mpsc::UnboundedReceiver<Note>),
}

/// A VM run's generation and what it told.
type Note = (u64, VmNote);

/// The guest agent command that suspends the guest to RAM.
const SUSPEND_RAM: &str = "guest-suspend-ram";

impl Driver {
    async fn handle(&mut self, event: DeviceEvent) {
        match event {
            DeviceEvent::PowerRequested(request) => self.requested(request).await,
            DeviceEvent::Booted(target) => self.booted(target).await,
            // Off without a request: the graceful-off deadline passed, or
            // the power was set directly (control API, scenario).
            DeviceEvent::PowerChanged { to, .. } if !to.is_on() && to != HostPower::S3 => {
                if let Some(vm) = &self.vm {
                    tracing::info!(device = %self.device.name, "the host is off: stopping the VM");
                    vm.send(VmCommand::Quit);
                }
            }
            // S3 while the guest runs: a requested sleep whose deadline
            // passed with no agent in the guest to carry it out (or S3 set
            // directly). The VM is paused, so the host is not running while
            // the device reports it asleep.
            DeviceEvent::PowerChanged {
                to: HostPower::S3, ..
            } => {
                if let Some(vm) = &mut self.vm
                    && vm.sleep == Sleep::Awake
                {
                    tracing::warn!(device = %self.device.name, "the guest did not suspend: pausing the VM for S3");
                    vm.send(VmCommand::Qmp("stop", Value::Null));
                    vm.sleep = Sleep::Paused;
                }
            }
            _ => {}
        }
    }

    async fn requested(&mut self, request: PowerRequest) {
        let Some(vm) = &mut self.vm else {
            // Nothing runs: an off request is done already.
            if !matches!(request, PowerRequest::On) {
                self.device.host_settled();
            }
            return;
        };
        match request {
            PowerRequest::OffSoftGraceful => {
                vm.send(VmCommand::Qmp("system_powerdown", Value::Null));
            }
            PowerRequest::OffSoft | PowerRequest::Hibernate | PowerRequest::PowerCycle => {
                vm.send(VmCommand::Quit);
            }
            // Firmware asks the OS to sleep (S3 needs its cooperation): the
            // guest's agent hears it on ttyS1; the sleep lands when QEMU
            // reports SUSPEND, or at the deadline (then the VM is paused).
            PowerRequest::SleepDeep => vm.send(VmCommand::Agent(SUSPEND_RAM)),
            PowerRequest::Nmi => vm.send(VmCommand::Qmp("inject-nmi", Value::Null)),
            // The reset and the power-on land as a boot.
            PowerRequest::On | PowerRequest::MasterBusReset | PowerRequest::ResetGraceful => {}
        }
    }

    async fn booted(&mut self, target: BootTarget) {
        match &mut self.vm {
            // Powered on from S3: a wake, not a restart.
            Some(vm) if vm.sleep == Sleep::Suspended => {
                vm.send(VmCommand::Qmp("system_wakeup", Value::Null));
                vm.sleep = Sleep::Awake;
            }
            Some(vm) if vm.sleep == Sleep::Paused => {
                vm.send(VmCommand::Qmp("cont", Value::Null));
                vm.sleep = Sleep::Awake;
            }
            Some(vm) if vm.target == target => {
                vm.send(VmCommand::Qmp("system_reset", Value::Null));
            }
            Some(_) => {
                // Another boot order: a fresh VM.
                self.stop_and_wait().await;
                self.start(target).await;
            }
            None => self.start(target).await,
        }
    }

    /// The unix socket QEMU's NBD client reads the console's CD from.
    fn ider_socket(&self) -> PathBuf {
        self.dir.join("ider-cd.sock")
    }

    /// Listens for QEMU's NBD connections to the console's CD; each is
    /// served until QEMU drops it or the returned task is dropped.
    fn serve_ider_cd(&self) -> std::io::Result<tokio::task::JoinHandle<()>> {
        vm::private_dir(&self.dir)?;
        let path = self.ider_socket();
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        let export = Arc::new(IderCd {
            console: self.console.clone(),
        });
        let name = self.device.name.clone();
        Ok(tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            let export = export.clone();
                            let name = name.clone();
                            connections.spawn(async move {
                                let ended = nbd::serve(stream, &*export, ider_cd::EXPORT_NAME).await;
                                tracing::info!(device = %name, ?ended, "IDE-R CD export: connection ended");
                            });
                        }
                        Err(e) => {
                            tracing::warn!(device = %name, "IDE-R CD export: accept failed: {e}");
                            return;
                        }
                    },
                    Some(_) = connections.join_next() => {}
                }
            }
        }))
    }

    /// A console's IDE-R drives came or went: its CD goes into the running
    /// VM's IDE-R drive, or out of it.
    fn ider_changed(&mut self, active: bool) {
        let socket = self.ider_socket();
        let Some(vm) = &mut self.vm else { return };
        match (active, vm.ider_node.is_some()) {
            (true, false) => {
                self.ider_nodes += 1;
                insert_ider_cd(vm, &socket, self.ider_nodes);
            }
            (false, true) => eject_ider_cd(vm),
            _ => {}
        }
    }

    async fn start(&mut self, target: BootTarget) {
        self.generation += 1;
        // With a console's CD to insert, the CPUs wait for it: a boot from
        // IDE-R must find it there.
        let ider = self.console.ider.is_active();
        match vm::start(
            &self.config,
            target,
            ider,
            &self.dir,
            self.generation,
            self.console.clone(),
            self.notes.0.clone(),
        )
        .await
        {
            Ok(mut vm) => {
                if ider {
                    self.ider_nodes += 1;
                    insert_ider_cd(&mut vm, &self.ider_socket(), self.ider_nodes);
                    vm.send(VmCommand::Qmp("cont", Value::Null));
                }
                self.vm = Some(vm);
            }
            Err(why) => {
                tracing::error!(device = %self.device.name, "the VM did not start: {why}");
                self.console
                    .output(format!("\r\namtemu: the VM did not start: {why}\r\n").as_bytes());
                self.device.host_settled();
            }
        }
    }

    /// Stops the VM for a restart, without telling the device.
    async fn stop_and_wait(&mut self) {
        let Some(vm) = self.vm.take() else { return };
        vm.send(VmCommand::Quit);
        while let Some((generation, note)) = self.notes.1.recv().await {
            if let (true, VmNote::Ended(why)) = (generation == vm.generation, note) {
                tracing::info!(device = %self.device.name, "VM stopped for a new boot order: {why}");
                return;
            }
        }
    }

    /// The guest suspended to RAM or woke (QMP SUSPEND / WAKEUP): the host
    /// enters S3 or S0 as firmware sees it, whoever asked.
    fn guest_power(&mut self, generation: u64, power: GuestPower) {
        let Some(vm) = self.vm.as_mut().filter(|vm| vm.generation == generation) else {
            return;
        };
        let name = &self.device.name;
        match power {
            GuestPower::Suspended => {
                vm.sleep = Sleep::Suspended;
                let entered = self.device.host_suspended();
                tracing::info!(device = %name, entered, "the guest suspended to RAM (S3)");
            }
            GuestPower::Woke => {
                vm.sleep = Sleep::Awake;
                let woke = self.device.host_woke();
                tracing::info!(device = %name, by_itself = woke, "the guest woke from S3");
            }
        }
    }

    fn vm_ended(&mut self, generation: u64, why: String) {
        if self.vm.as_ref().map(|vm| vm.generation) != Some(generation) {
            return;
        }
        self.vm = None;
        tracing::info!(device = %self.device.name, "the VM ended: {why}");
        if self.device.host_settled() == HostSettled::PoweredOff {
            tracing::info!(device = %self.device.name, "the host powered off by itself (S5)");
        }
    }

    /// After missed events: a VM runs exactly while the host is on or asleep.
    fn resync(&mut self) {
        let state = self.device.power_status().state;
        if let Some(vm) = &self.vm
            && !state.is_on()
            && state != HostPower::S3
        {
            vm.send(VmCommand::Quit);
        }
    }
}

/// Puts the console's CD into the VM's IDE-R drive: an NBD block node on
/// the device's export, inserted with the tray opened and closed around it
/// (the guest sees a medium change). QMP runs the commands in order; if
/// the export refuses (the console has no CD), the insert fails with it
/// and the drive stays empty.
fn insert_ider_cd(vm: &mut Vm, socket: &std::path::Path, number: u64) {
    let node = format!("amtemu-ider-{number}");
    vm.send(VmCommand::Qmp(
        "blockdev-add",
        json!({
            "driver": "nbd",
            "node-name": node,
            "server": { "type": "unix", "path": socket.display().to_string() },
            "export": ider_cd::EXPORT_NAME,
            "read-only": true,
        }),
    ));
    vm.send(VmCommand::Qmp(
        "blockdev-open-tray",
        json!({ "id": IDER_DRIVE, "force": true }),
    ));
    vm.send(VmCommand::Qmp(
        "blockdev-insert-medium",
        json!({ "id": IDER_DRIVE, "node-name": node }),
    ));
    vm.send(VmCommand::Qmp(
        "blockdev-close-tray",
        json!({ "id": IDER_DRIVE }),
    ));
    vm.ider_node = Some(node);
}

/// Takes the console's CD out (forced, even if the guest locked the tray)
/// and drops its NBD node; reads still under way have failed already (the
/// session's end fails them), so nothing waits on a console that left.
fn eject_ider_cd(vm: &mut Vm) {
    let Some(node) = vm.ider_node.take() else {
        return;
    };
    vm.send(VmCommand::Qmp(
        "blockdev-open-tray",
        json!({ "id": IDER_DRIVE, "force": true }),
    ));
    vm.send(VmCommand::Qmp(
        "blockdev-remove-medium",
        json!({ "id": IDER_DRIVE }),
    ));
    vm.send(VmCommand::Qmp("blockdev-del", json!({ "node-name": node })));
    vm.send(VmCommand::Qmp(
        "blockdev-close-tray",
        json!({ "id": IDER_DRIVE }),
    ));
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
