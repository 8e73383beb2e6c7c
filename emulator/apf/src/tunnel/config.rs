//! What a tunnel is configured with, and the defaults with their reasons.

use crate::message::{TriggerReason, Uuid};

/// The window the device grants per channel unless configured otherwise.
/// Real firmware's figure is not known (spec §9 q2); 32768 is what both
/// MPSs grant and what MeshCentral's emulating client mirrors back, so an
/// MPS sees the same flow control it already handles.
pub const DEFAULT_WINDOW: u32 = 32768;

/// Largest CHANNEL_DATA payload the device sends. The spec asks for "a few
/// KiB" (Intel MPS drops anything over 1 MiB); 4 KiB keeps WS-Man replies
/// in a handful of messages.
pub const DEFAULT_MAX_CHUNK: u32 = 4096;

/// Seconds between the device's own keep-alives until the MPS sets an
/// interval: rps's periodic policy's 25 s, well inside the MPSs' 90 s idle
/// limit (spec §3.7).
pub const DEFAULT_KEEPALIVE_INTERVAL: u32 = 25;

/// Channels open at once before CHANNEL_OPEN is refused with "resource
/// shortage". Firmware's limit is not in the spec; MeshCentral opens two
/// per management pass, so 32 is generous while bounding a hostile MPS.
pub const DEFAULT_MAX_CHANNELS: usize = 32;

/// The order real firmware forwards its ports in (Intel MPS's comment).
pub const FIRMWARE_PORT_ORDER: [u16; 7] = [16993, 16992, 664, 623, 16995, 16994, 5900];

/// What the device needs to open a tunnel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The platform UUID (wire order; see [`Uuid`]).
    pub uuid: Uuid,
    pub trigger: TriggerReason,
    /// The MPS user name given to AddMpServer.
    pub username: String,
    pub password: String,
    /// The address sent in each tcpip-forward: the device's FQDN or host
    /// name, or empty (firmware's exact choice is unknown, spec §9 q3).
    pub forward_address: String,
    /// Ports to forward, in the order they are requested.
    pub ports: Vec<u16>,
    /// Bytes the MPS may send on a channel before a window adjust.
    pub initial_window: u32,
    /// Largest CHANNEL_DATA payload sent.
    pub max_chunk: u32,
    pub max_channels: usize,
    /// Keep-alive interval (s) before the MPS sends options.
    pub keepalive_interval: u32,
}

impl Config {
    /// A periodic-trigger configuration with the defaults above.
    pub fn new(uuid: Uuid, username: &str, password: &str, ports: &[u16]) -> Config {
        Config {
            uuid,
            trigger: TriggerReason::Periodic,
            username: username.to_owned(),
            password: password.to_owned(),
            forward_address: String::new(),
            ports: ports.to_vec(),
            initial_window: DEFAULT_WINDOW,
            max_chunk: DEFAULT_MAX_CHUNK,
            max_channels: DEFAULT_MAX_CHANNELS,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
        }
    }
}
