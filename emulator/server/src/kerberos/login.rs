//! A device's Kerberos login, as its HTTP and redirection ports share it:
//! the token accepted with the device's settings, clock and replay cache,
//! then the ticket's SIDs mapped to the ACL by the model.

use super::{DeviceState, accept};
use amtemu_model::device::Device;
use amtemu_model::device::users::Caller;

/// Who a Kerberos token logs in as on this device, and the token to send
/// back (the AP-REP); None, logged with the reason, when refused.
/// `state` is the device's replay cache and derived keys (its endpoint's).
pub fn login(device: &Device, state: &DeviceState, token: &[u8]) -> Option<(Caller, Vec<u8>)> {
    let settings = device.kerberos_settings();
    let now = u64::from(device.clock());
    let accepted = match accept(&settings, token, now, state) {
        Ok(a) => a,
        Err(why) => {
            tracing::warn!(device = %device.name, "Kerberos authentication failed: {why}");
            return None;
        }
    };
    let Some(caller) = device.kerberos_login(&accepted.sids) else {
        tracing::warn!(device = %device.name, client = %accepted.client, "Kerberos authentication refused: no ACL entry for the user's SIDs");
        return None;
    };
    tracing::info!(device = %device.name, client = %accepted.client, "Kerberos login");
    Some((caller, accepted.reply))
}
