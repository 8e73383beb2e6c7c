//! Users and realms: AMT_AuthorizationService (the ACL and the admin
//! account) and AMT_KerberosSettingData. The rules (names, realms, limits,
//! duplicates) live in `device::users`; this module reads the method
//! arguments, calls the device and maps its [`UserRefusal`]s to the class's
//! PT_STATUS ValueMap ([`status`]), with invalid parameter for a missing or
//! malformed argument that no other value names.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{
    Access, CLASS, Class, Method, SERVICE_KEYS, output, put_bool, put_checked, put_uint, service,
};
use amtemu_model::device::Device;
use amtemu_model::device::users::{
    AclEntryRequest, KerberosSettings, KerberosUpdate, UserRefusal, realm,
};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::{Instance, Value};

const AUTHORIZATION: &str = "Intel(r) AMT Authorization Service";
const KERBEROS: &str = "Intel(r) AMT: Kerberos Settings";

/// Reading the ACL: PT Administration, or the ACL realm (a guess at what
/// that realm is for; it grants no changes).
const ACL_READ: Access = Access(&[realm::PT_ADMINISTRATION, realm::ACL]);

pub static CLASSES: &[Class] = &[
    Class {
        name: "AMT_AuthorizationService",
        common: true,
        keys: SERVICE_KEYS,
        instances: authorization_service,
        methods: &[
            Method {
                name: "AddUserAclEntryEx",
                requires: None,
                call: add_user,
            },
            Method {
                name: "EnumerateUserAclEntries",
                requires: None,
                call: enumerate_users,
            },
            Method {
                name: "GetUserAclEntryEx",
                requires: None,
                call: get_user,
            },
            Method {
                name: "UpdateUserAclEntryEx",
                requires: None,
                call: update_user,
            },
            Method {
                name: "RemoveUserAclEntry",
                requires: None,
                call: remove_user,
            },
            Method {
                name: "GetAdminAclEntry",
                requires: None,
                call: get_admin,
            },
            Method {
                name: "GetAdminAclEntryStatus",
                requires: None,
                call: get_admin_status,
            },
            Method {
                name: "GetAdminNetAclEntryStatus",
                requires: None,
                call: get_admin_net_status,
            },
            Method {
                name: "SetAdminAclEntryEx",
                requires: None,
                call: set_admin,
            },
            Method {
                name: "GetAclEnabledState",
                requires: None,
                call: get_enabled,
            },
            Method {
                name: "SetAclEnabledState",
                requires: None,
                call: set_enabled,
            },
        ],
        // IRG: used in features Security Administration and General Info.
        read: Access::GENERAL_INFO,
        invoke: Access::ADMIN,
        method_access: &[
            ("EnumerateUserAclEntries", ACL_READ),
            ("GetUserAclEntryEx", ACL_READ),
            ("GetAclEnabledState", ACL_READ),
            ("GetAdminAclEntry", ACL_READ),
            ("GetAdminAclEntryStatus", ACL_READ),
            ("GetAdminNetAclEntryStatus", ACL_READ),
        ],
        ..CLASS
    },
    // Kerberos parameters are PT Administration (Intel SCS realm table).
    Class {
        name: "AMT_KerberosSettingData",
        keys: &["InstanceID"],
        instances: kerberos_settings,
        put: Some(put_kerberos_settings),
        methods: &[
            Method {
                name: "GetCredentialCacheState",
                requires: None,
                call: get_credential_cache,
            },
            Method {
                name: "SetCredentialCacheState",
                requires: None,
                call: set_credential_cache,
            },
        ],
        read: Access::ADMIN,
        write: Access::ADMIN,
        invoke: Access::ADMIN,
        ..CLASS
    },
];

fn authorization_service(_: &Device) -> Vec<Instance> {
    vec![
        service("AMT_AuthorizationService", AUTHORIZATION)
            .with("AllowHttpQopAuthOnly", 1)
            .with("ElementName", AUTHORIZATION)
            .with("EnabledState", 5)
            .with("RequestedState", 12),
    ]
}

/// The PT_STATUS a refusal answers with.
pub(super) fn status(refusal: UserRefusal) -> PtStatus {
    match refusal {
        UserRefusal::InvalidName => PtStatus::InvalidName,
        UserRefusal::NotPermitted => PtStatus::NotPermitted,
        UserRefusal::MaxLimitReached => PtStatus::MaxLimitReached,
        UserRefusal::InvalidParameter => PtStatus::InvalidParameter,
        UserRefusal::InvalidHandle => PtStatus::InvalidHandle,
        UserRefusal::InvalidPassword => PtStatus::InvalidPassword,
        UserRefusal::InvalidRealm => PtStatus::InvalidRealm,
        UserRefusal::Duplicate => PtStatus::Duplicate,
    }
}

/// A method's output for a refusal.
fn refused(method: &str, refusal: UserRefusal) -> Instance {
    output(method, status(refusal).into())
}

fn success(method: &str) -> Instance {
    output(method, PtStatus::Success.into())
}

/// The output of a change that answers nothing but its ReturnValue.
fn answer(method: &str, result: Result<(), UserRefusal>) -> Instance {
    match result {
        Ok(()) => success(method),
        Err(r) => refused(method, r),
    }
}

/// A 16-byte MD5 sent base64-encoded (DigestPassword).
fn digest_password(value: &Value) -> Result<Option<[u8; 16]>, UserRefusal> {
    let text = value.as_text().ok_or(UserRefusal::InvalidPassword)?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    // MeshCommander and DMT send base64 of the 16 bytes; MeshCentral's
    // activation sends the 32-digit hex string.
    if let Some(ha1) = BASE64
        .decode(text)
        .ok()
        .and_then(|bytes| <[u8; 16]>::try_from(bytes.as_slice()).ok())
    {
        return Ok(Some(ha1));
    }
    amtemu_model::device::provisioning::decode_hex(text)
        .and_then(|bytes| <[u8; 16]>::try_from(bytes.as_slice()).ok())
        .map(Some)
        .ok_or(UserRefusal::InvalidPassword)
}

/// Realms as repeated elements (`<Realms>4</Realms><Realms>5</Realms>`), or
/// nested `RealmValue` elements as go-wsman-messages writes them. Anything
/// unreadable becomes an invalid realm.
fn realms(value: &Value) -> Vec<i64> {
    let mut out = Vec::new();
    for item in value.items() {
        match item {
            Value::Object(inner) => {
                if let Some(v) = inner.get("RealmValue") {
                    out.extend(v.items().iter().map(|r| r.as_int().unwrap_or(-1)));
                }
            }
            Value::Text(t) if t.trim().is_empty() => {}
            other => out.push(other.as_int().unwrap_or(-1)),
        }
    }
    out
}

/// The arguments of AddUserAclEntryEx / UpdateUserAclEntryEx.
fn entry_request(input: &Instance) -> Result<AclEntryRequest, UserRefusal> {
    let kerberos_sid = match input.text("KerberosUserSid").map(str::trim) {
        Some(t) if !t.is_empty() => Some(
            BASE64
                .decode(t)
                .map_err(|_| UserRefusal::InvalidParameter)?,
        ),
        _ => None,
    };
    let name = match input.get("DigestUsername") {
        Some(v) => {
            let name = v.as_text().ok_or(UserRefusal::InvalidName)?;
            // Clients that always write the element leave it empty for a
            // Kerberos entry.
            (!(name.is_empty() && kerberos_sid.is_some())).then(|| name.to_string())
        }
        None => None,
    };
    let ha1 = match input.get("DigestPassword") {
        Some(v) => digest_password(v)?,
        None => None,
    };
    Ok(AclEntryRequest {
        name,
        ha1,
        kerberos_sid,
        access: input.int("AccessPermission"),
        realms: input.get("Realms").map(realms),
    })
}

fn handle_of(input: &Instance) -> Result<u32, UserRefusal> {
    let h = input.int("Handle").ok_or(UserRefusal::InvalidParameter)?;
    u32::try_from(h).map_err(|_| UserRefusal::InvalidHandle)
}

fn add_user(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "AddUserAclEntryEx";
    Ok(
        match entry_request(input).and_then(|req| device.add_user(&req)) {
            Ok(handle) => success(M).with("Handle", handle),
            Err(r) => refused(M, r),
        },
    )
}

fn enumerate_users(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "EnumerateUserAclEntries";
    let start = input
        .int("StartIndex")
        .and_then(|i| usize::try_from(i).ok())
        .unwrap_or(0);
    Ok(match device.user_handles(start) {
        Ok((total, handles)) => success(M)
            .with("TotalCount", total)
            .with("HandlesCount", handles.len())
            .with_array("Handles", handles),
        Err(r) => refused(M, r),
    })
}

fn get_user(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "GetUserAclEntryEx";
    Ok(match handle_of(input).and_then(|h| device.user(h)) {
        // The password hash is never read back.
        Ok(a) => success(M)
            .with_opt("DigestUsername", (!a.is_kerberos()).then_some(a.name))
            .with_opt("KerberosUserSid", a.kerberos_sid.map(|s| BASE64.encode(s)))
            .with("AccessPermission", a.access.number())
            .with_array("Realms", a.realms),
        Err(r) => refused(M, r),
    })
}

fn update_user(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = handle_of(input).and_then(|h| device.update_user(h, &entry_request(input)?));
    Ok(answer("UpdateUserAclEntryEx", result))
}

fn remove_user(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = handle_of(input).and_then(|h| device.remove_user(h));
    Ok(answer("RemoveUserAclEntry", result))
}

fn get_admin(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    let (name, _) = device.admin_entry();
    Ok(success("GetAdminAclEntry").with("Username", name))
}

fn get_admin_status(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    let (_, default) = device.admin_entry();
    Ok(success("GetAdminAclEntryStatus").with("IsDefault", default))
}

/// The network admin password is the one admin password here.
fn get_admin_net_status(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    let (_, default) = device.admin_entry();
    Ok(success("GetAdminNetAclEntryStatus").with("IsDefault", default))
}

/// A new admin name and password hash. The client hashes the password for
/// the device's digest realm (AMT_GeneralSettings.DigestRealm), which is
/// what the device verifies against.
fn set_admin(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = admin_entry(input).and_then(|(name, ha1)| device.set_admin(&name, ha1));
    Ok(answer("SetAdminAclEntryEx", result))
}

fn admin_entry(input: &Instance) -> Result<(String, [u8; 16]), UserRefusal> {
    let name = input.text("Username").ok_or(UserRefusal::InvalidName)?;
    let ha1 = input
        .get("DigestPassword")
        .map(digest_password)
        .transpose()?
        .flatten()
        .ok_or(UserRefusal::InvalidPassword)?;
    Ok((name.to_string(), ha1))
}

fn get_enabled(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "GetAclEnabledState";
    Ok(match handle_of(input).and_then(|h| device.user(h)) {
        Ok(a) => success(M).with("Enabled", a.enabled),
        Err(r) => refused(M, r),
    })
}

fn set_enabled(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = handle_of(input).and_then(|h| {
        let enabled = input.bool("Enabled").ok_or(UserRefusal::InvalidParameter)?;
        device.set_user_enabled(h, enabled)
    });
    Ok(answer("SetAclEnabledState", result))
}

fn kerberos_settings(device: &Device) -> Vec<Instance> {
    let k = device.kerberos_settings();
    let configured = k.configured_algorithms();
    // MasterKey, Passphrase and Salt are write-only.
    vec![
        Instance::new("AMT_KerberosSettingData")
            .with("ElementName", KERBEROS)
            .with("EncryptionAlgorithm", k.encryption_algorithm)
            .with("InstanceID", KERBEROS)
            .with("IterationCount", k.iteration_count)
            .with("KeyVersion", k.key_version)
            .with("KrbEnabled", k.enabled)
            .with("MaximumClockTolerance", k.maximum_clock_tolerance)
            .with_opt(
                "RealmName",
                (!k.realm_name.is_empty()).then(|| k.realm_name.to_string()),
            )
            .with_array(
                "ServicePrincipalName",
                k.service_principal_names.iter().map(|n| n.as_str()),
            )
            .with_array("ServicePrincipalProtocol", k.service_principal_protocols)
            .with_array(
                "SupportedEncryptionAlgorithms",
                KerberosSettings::SUPPORTED_ALGORITHMS,
            )
            .with_array("ConfiguredEncryptionAlgorithms", configured),
    ]
}

/// The master key: base64, or repeated byte elements (the device checks
/// its length).
fn master_key(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_int().and_then(|b| u8::try_from(b).ok()))
            .collect::<Option<Vec<u8>>>(),
        v => BASE64.decode(v.as_text()?.trim()).ok(),
    }
}

/// A property of a Put read with one of the `put_*` readers, if present.
fn present<T: Default>(
    input: &Instance,
    name: &str,
    read: fn(&Instance, &str, &mut T) -> Result<(), Fault>,
) -> Result<Option<T>, Fault> {
    if input.get(name).is_none() {
        return Ok(None);
    }
    let mut value = T::default();
    read(input, name, &mut value)?;
    Ok(Some(value))
}

/// A Put refused by the device: AMT answers with a fault that carries the
/// PT_STATUS.
fn put_refused(refusal: UserRefusal) -> Fault {
    Fault::InternalError(status(refusal).into())
}

fn put_kerberos_settings(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    let mut update = KerberosUpdate {
        realm_name: present(input, "RealmName", put_checked)?,
        key_version: present(input, "KeyVersion", put_uint)?,
        maximum_clock_tolerance: present(input, "MaximumClockTolerance", put_uint)?,
        iteration_count: present(input, "IterationCount", put_uint)?,
        encryption_algorithm: present(input, "EncryptionAlgorithm", put_uint)?,
        enabled: present(input, "KrbEnabled", put_bool)?,
        ..KerberosUpdate::default()
    };
    if let Some(v) = input.get("ServicePrincipalName") {
        update.service_principal_names = Some(
            v.items()
                .iter()
                .map(|n| {
                    let text = n.as_text().ok_or(Fault::InvalidRepresentation)?;
                    text.parse()
                        .map_err(|r| super::refused("ServicePrincipalName", r))
                })
                .collect::<Result<_, _>>()?,
        );
    }
    if let Some(v) = input.get("ServicePrincipalProtocol") {
        update.service_principal_protocols = Some(
            v.items()
                .iter()
                .map(|p| p.as_int().and_then(|p| u16::try_from(p).ok()))
                .collect::<Option<_>>()
                .ok_or(Fault::InvalidRepresentation)?,
        );
    }
    match input.get("MasterKey") {
        Some(Value::Text(t)) if t.trim().is_empty() => {}
        Some(v) => {
            let key = master_key(v).ok_or(put_refused(UserRefusal::InvalidParameter))?;
            update.master_key = Some(key);
        }
        None => {}
    }
    let non_empty = |name| {
        input
            .text(name)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    update.passphrase = non_empty("Passphrase");
    update.salt = non_empty("Salt");
    device.update_kerberos(update).map_err(put_refused)
}

fn get_credential_cache(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    let enabled = device.kerberos_settings().credential_cache;
    Ok(success("GetCredentialCacheState").with("Enabled", enabled))
}

fn set_credential_cache(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const M: &str = "SetCredentialCacheState";
    let Some(enabled) = input.bool("Enabled").or_else(|| input.bool("Enable")) else {
        return Ok(refused(M, UserRefusal::InvalidParameter));
    };
    device.set_kerberos_credential_cache(enabled);
    Ok(success(M))
}

#[cfg(test)]
mod tests;
