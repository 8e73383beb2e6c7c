//! The one task per QEMU-backed device: the device's power requests and
//! boots in, VM starts and QMP commands out, the VM's end back to the
//! device as the host settling.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use amtemu_model::device::{Device, DeviceEvent, HostPower, HostSettled, PowerRequest};
use amtemu_model::host::BootTarget;

use super::config::QemuConfig;
use super::console::QemuConsole;
use super::vm::{self, Vm, VmCommand};
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
    let mut driver = Driver {
        dir: runtime_dir(&device.name),
        device,
        config,
        console,
        vm: None,
        generation: 0,
        ended: mpsc::unbounded_channel(),
    };
    async move {
        if !attached {
            return;
        }
        // A host that is on when the emulator starts boots from its disk.
        if driver.device.power_status().state.is_on() {
            driver.start(BootTarget::Disk).await;
        }
        loop {
            tokio::select! {
                Some((generation, why)) = driver.ended.1.recv() => driver.vm_ended(generation, why),
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
    /// Each VM run's end: its generation and why it ended.
    ended: (mpsc::UnboundedSender<Ended>, mpsc::UnboundedReceiver<Ended>),
}

/// A VM run's generation and why it ended.
type Ended = (u64, String);

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
            PowerRequest::SleepDeep => {
                vm.send(VmCommand::Qmp("stop", Value::Null));
                vm.paused = true;
                self.device.host_settled();
            }
            PowerRequest::Nmi => vm.send(VmCommand::Qmp("inject-nmi", Value::Null)),
            // The reset and the power-on land as a boot.
            PowerRequest::On | PowerRequest::MasterBusReset | PowerRequest::ResetGraceful => {}
        }
    }

    async fn booted(&mut self, target: BootTarget) {
        match &mut self.vm {
            Some(vm) if vm.paused => {
                vm.send(VmCommand::Qmp("cont", Value::Null));
                vm.paused = false;
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

    async fn start(&mut self, target: BootTarget) {
        self.generation += 1;
        match vm::start(
            &self.config,
            target,
            &self.dir,
            self.generation,
            self.console.clone(),
            self.ended.0.clone(),
        )
        .await
        {
            Ok(vm) => self.vm = Some(vm),
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
        while let Some((generation, why)) = self.ended.1.recv().await {
            if generation == vm.generation {
                tracing::info!(device = %self.device.name, "VM stopped for a new boot order: {why}");
                return;
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

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
