//! What makes a name, a SID and a set of realms valid for an ACL entry.

use super::realm;
use super::{AccessPermission, UserRefusal};
use crate::device::firmware::{Feature, Firmware};

/// IRG "Valid Usernames": 1 to 16 characters of 7-bit ASCII 33-126 except
/// `: , < > & "`, not starting with `$$` (reserved for the firmware's own
/// accounts).
pub(super) fn check_name_chars(name: &str) -> Result<(), UserRefusal> {
    let ok = (1..=16).contains(&name.len())
        && name
            .bytes()
            .all(|b| (33..=126).contains(&b) && !b":,<>&\"".contains(&b))
        && !name.starts_with("$$");
    if ok {
        Ok(())
    } else {
        Err(UserRefusal::InvalidName)
    }
}

/// A user entry's name: also not one of the names reserved for the
/// built-in administrator (Intel SCS refuses `admin` and `administrator`).
pub(super) fn check_user_name(name: &str) -> Result<(), UserRefusal> {
    check_name_chars(name)?;
    if name.eq_ignore_ascii_case("admin") || name.eq_ignore_ascii_case("administrator") {
        return Err(UserRefusal::InvalidName);
    }
    Ok(())
}

/// A Kerberos SID: 1 to 28 bytes, a multiple of 4 (MOF description).
pub(super) fn check_sid(sid: &[u8]) -> Result<(), UserRefusal> {
    if (1..=28).contains(&sid.len()) && sid.len().is_multiple_of(4) {
        Ok(())
    } else {
        Err(UserRefusal::InvalidParameter)
    }
}

/// The realms an entry may be granted: at least one; not 0 (invalid), 1,
/// 22 and 23 (reserved) or past 24; not LocalUN (16, the firmware's own
/// `$$uns` account has it); Audit Log and ACL (20, 21) only from 4.0; the
/// local realms (Agent Presence Local 9, Local System 24) not for an entry
/// that may only log in from the network. Sorted and without repeats.
pub(super) fn check_realms(
    realms: Option<&[i64]>,
    access: AccessPermission,
    firmware: &Firmware,
) -> Result<Vec<u8>, UserRefusal> {
    let realms = realms.ok_or(UserRefusal::InvalidRealm)?;
    if realms.is_empty() {
        return Err(UserRefusal::InvalidRealm);
    }
    let mut out = Vec::new();
    for &r in realms {
        let r = u8::try_from(r).map_err(|_| UserRefusal::InvalidRealm)?;
        let ok = match r {
            realm::REDIRECTION..=realm::EIT => true,
            realm::LOCAL_UN => false,
            realm::ENDPOINT_ACCESS_CONTROL..=realm::EVENT_LOG_READER => true,
            realm::AUDIT_LOG | realm::ACL => firmware.has(Feature::AuditLog),
            realm::LOCAL_SYSTEM => true,
            _ => false,
        };
        let local = matches!(r, realm::AGENT_PRESENCE_LOCAL | realm::LOCAL_SYSTEM);
        if !ok || (local && access == AccessPermission::NetworkOnly) {
            return Err(UserRefusal::InvalidRealm);
        }
        out.push(r);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
