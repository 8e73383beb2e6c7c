//! What a redirection session needs from the host behind the firmware: its
//! serial console, its power, its IDE-R requests, its screen and the
//! consent code on it. `Device` provides it for the simulated host, `qemu` for a
//! virtual machine (an endpoint's `host`); tests provide fakes, so the
//! channel loops run without a booting host.

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use amtemu_model::device::DeviceEvent;
use amtemu_model::host::{IderReply, IderRequest};

pub mod screen;

use screen::{ScreenView, TextView};

pub trait HostPort: Send + Sync {
    /// The oldest console byte still retained (where a console attaches).
    fn console_cursor(&self) -> u64;
    /// Console output since `cursor`, advancing it.
    fn console_read(&self, cursor: &mut u64) -> Vec<u8>;
    /// Keystrokes from a SOL console.
    fn console_input(&self, bytes: &[u8]);
    /// When the host next prints by itself.
    fn console_next_due(&self) -> Option<Instant>;
    /// Bumped when output is appended or an IDE-R request is pending.
    fn host_watch(&self) -> watch::Receiver<u64>;
    /// Whether the host is powered (0x29 status bit 4).
    fn host_powered(&self) -> bool;
    /// Power and settings changes.
    fn events(&self) -> broadcast::Receiver<DeviceEvent>;
    fn ider_session(&self, active: bool);
    fn ider_next_request(&self) -> Option<IderRequest>;
    fn ider_complete(&self, reply: IderReply);
    /// The user-consent code the host's screen shows now, if any (KVM
    /// draws it).
    fn consent_code(&self) -> Option<u32> {
        None
    }
    /// How long a KVM session may go without input from the viewer before
    /// the device ends it (`SessionTimeout`); None: for ever.
    fn kvm_session_timeout(&self) -> Option<std::time::Duration> {
        None
    }
    /// A look at the host's screen, for a KVM session or a screenshot:
    /// unless the host draws its own, its console as a text screen.
    fn open_screen(&self) -> Box<dyn ScreenView + '_> {
        Box::new(TextView::new(self))
    }
}

impl HostPort for amtemu_model::device::Device {
    fn console_cursor(&self) -> u64 {
        amtemu_model::device::Device::console_cursor(self)
    }
    fn console_read(&self, cursor: &mut u64) -> Vec<u8> {
        amtemu_model::device::Device::console_read(self, cursor)
    }
    fn console_input(&self, bytes: &[u8]) {
        amtemu_model::device::Device::console_input(self, bytes)
    }
    fn console_next_due(&self) -> Option<Instant> {
        amtemu_model::device::Device::console_next_due(self)
    }
    fn host_watch(&self) -> watch::Receiver<u64> {
        amtemu_model::device::Device::host_watch(self)
    }
    fn host_powered(&self) -> bool {
        self.with_state(|s| s.power.state().is_on())
    }
    fn events(&self) -> broadcast::Receiver<DeviceEvent> {
        self.subscribe()
    }
    fn ider_session(&self, active: bool) {
        amtemu_model::device::Device::ider_session(self, active)
    }
    fn ider_next_request(&self) -> Option<IderRequest> {
        amtemu_model::device::Device::ider_next_request(self)
    }
    fn ider_complete(&self, reply: IderReply) {
        amtemu_model::device::Device::ider_complete(self, reply)
    }
    fn consent_code(&self) -> Option<u32> {
        self.opt_in_code_displayed()
    }
    fn kvm_session_timeout(&self) -> Option<std::time::Duration> {
        amtemu_model::device::Device::kvm_session_timeout(self)
    }
}
