//! A QEMU virtual machine as the host behind a device's firmware.
//!
//! The device model stays unaware of what its host is: it is told the host
//! is outside it ([`Device::attach_outside_host`]), announces accepted
//! power requests and boots as events, and hears back when the host has
//! settled ([`Device::host_settled`]). [`drive`] is the one task per
//! QEMU-backed device that turns those events into a `qemu-system-x86_64`
//! process and QMP commands (`vm`, `qmp`), and [`console::QemuConsole`] is
//! the [`HostPort`](crate::host_port::HostPort) redirection sessions use
//! instead of the simulated host: SOL is the VM's first serial port.
//!
//! Mapping (firmware → QEMU):
//! - boot (on, the on half of a cycle): start the VM, its boot order from
//!   the one-time boot setting consumed by that boot (`vm::BootPlan`);
//! - off (soft), hibernate, the off half of a cycle: QMP `quit`;
//! - graceful off: QMP `system_powerdown` (the ACPI power button); the
//!   device lands in S5 when the guest has powered off, or, at the latest,
//!   after [`QemuConfig::shutdown_deadline`] (then the VM is stopped hard);
//! - reset: QMP `system_reset` (a reset to another boot target restarts the
//!   VM with that boot order); NMI: QMP `inject-nmi`;
//! - sleep (S3, which firmware asks of the OS): `guest-suspend-ram` in the
//!   QEMU guest agent's format on the VM's second serial port (ttyS1),
//!   where an agent of the guest may listen; the sleep lands when QEMU
//!   reports SUSPEND (the VM offers ACPI S3), or at the shutdown deadline,
//!   when the VM is paused instead (QMP `stop`); on: `system_wakeup` (or
//!   `cont`). The guest suspending by itself (SUSPEND) is the host entering
//!   S3, and waking by itself (WAKEUP) the host back in S0;
//! - KVM: the VM's VGA display, served by QEMU as VNC on a unix socket,
//!   is the host's screen; amtemu is its viewer while someone looks
//!   (`display`);
//! - IDE-R: while a session has its drives enabled, the console's CD is
//!   in the VM's IDE-R CD drive, an NBD block node on amtemu's export of
//!   it (`nbd`, `ider_cd`), whose reads go to the session as READ(10)
//!   commands (`ider_link`); a boot from IDE-R names that drive first;
//! - the VM ending by itself (guest power-off, a crash, QEMU killed, a VM
//!   that would not start): the host is off (S5), with the reason logged.

pub mod config;
pub mod console;
mod display;
mod driver;
mod ider_cd;
mod ider_link;
mod nbd;
mod qmp;
mod vm;

pub use config::{Accel, QemuConfig};
pub use driver::drive;
