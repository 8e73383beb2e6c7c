//! The DASH account classes (3.2 until 12.0): CIM_Account, CIM_Identity
//! and CIM_Role with the associations a console walks between them
//! (CIM_AssignedIdentity, CIM_MemberOfCollection, CIM_RoleLimitedToTarget,
//! CIM_AccountOnSystem), CIM_Privilege, and the two services
//! (CIM_AccountManagementService, CIM_RoleBasedAuthorizationService). They are views of the device's one
//! user store (`device::users`, which AMT_AuthorizationService's ACL
//! methods change): nothing here keeps state of its own.
//!
//! Intel's class reference: a CIM_Account for every digest user, with a
//! matching CIM_Identity, CIM_Role and CIM_Privilege ("1:1:1:1"); Get answers the same
//! value for UserID and Name; Delete of an account removes its ACL entry.
//! The built-in administrator is listed as handle 0 and cannot be deleted;
//! Kerberos entries have an identity and a role but no account. The
//! InstanceID and Name spellings are observed (no capture shows them).

use super::{Access, CLASS, Class, SERVICE_KEYS, managed_system_epr, service};
use amtemu_model::device::users::{UserRefusal, realm};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance};

const ACCOUNT: &str = "CIM_Account";
const IDENTITY: &str = "CIM_Identity";
const ROLE: &str = "CIM_Role";
const PRIVILEGE: &str = "CIM_Privilege";
const SERVICE: &str = "CIM_AccountManagementService";
const SERVICE_NAME: &str = "Intel(r) AMT Account Management Service";
const IDENTITY_PREFIX: &str = "Intel(r) AMT:Identity ";
const ROLE_PREFIX: &str = "Intel(r) AMT:Role ";
const PRIVILEGE_PREFIX: &str = "Intel(r) AMT:Privilege ";
const RBA_SERVICE: &str = "CIM_RoleBasedAuthorizationService";
const RBA_SERVICE_NAME: &str = "Intel(r) AMT Role Based Authorization Service";
const AMT_SYSTEM: &str = "Intel(r) AMT";

/// Reading who has access is reading the ACL: PT Administration or the
/// ACL realm, as AMT_AuthorizationService's listing.
const ACL_READ: Access = Access(&[realm::PT_ADMINISTRATION, realm::ACL]);
const ACCOUNT_KEYS: &[&str] = &[
    "CreationClassName",
    "Name",
    "SystemCreationClassName",
    "SystemName",
];

pub static CLASSES: &[Class] = &[
    Class {
        name: ACCOUNT,
        requires: Some(Feature::DashAccounts),
        keys: ACCOUNT_KEYS,
        instances: accounts,
        delete: Some(delete_account),
        read: ACL_READ,
        ..CLASS
    },
    Class {
        name: IDENTITY,
        requires: Some(Feature::DashAccounts),
        keys: &["InstanceID"],
        instances: identities,
        read: ACL_READ,
        ..CLASS
    },
    Class {
        name: ROLE,
        requires: Some(Feature::DashAccounts),
        keys: &["CreationClassName", "Name"],
        instances: roles,
        read: ACL_READ,
        ..CLASS
    },
    Class {
        name: PRIVILEGE,
        requires: Some(Feature::DashAccounts),
        keys: &["InstanceID"],
        instances: privileges,
        read: ACL_READ,
        ..CLASS
    },
    Class {
        name: "CIM_AccountOnSystem",
        requires: Some(Feature::DashAccounts),
        keys: &["GroupComponent", "PartComponent"],
        instances: accounts_on_system,
        read: ACL_READ,
        ..CLASS
    },
    Class {
        name: RBA_SERVICE,
        requires: Some(Feature::DashAccounts),
        keys: SERVICE_KEYS,
        instances: rba_service,
        read: ACL_READ,
        ..CLASS
    },
    Class {
        name: "CIM_AccountManagementCapabilities",
        requires: Some(Feature::DashAccounts),
        keys: &["InstanceID"],
        instances: account_capabilities,
        read: ACL_READ,
        ..CLASS
    },
    Class {
        name: "CIM_AssignedIdentity",
        requires: Some(Feature::DashAccounts),
        keys: &["IdentityInfo", "ManagedElement"],
        instances: assigned_identities,
        read: ACL_READ,
        ..CLASS
    },
    Class {
        name: "CIM_MemberOfCollection",
        requires: Some(Feature::DashAccounts),
        keys: &["Collection", "Member"],
        instances: role_members,
        read: ACL_READ,
        ..CLASS
    },
    Class {
        name: "CIM_RoleLimitedToTarget",
        requires: Some(Feature::DashAccounts),
        keys: &["DefiningRole", "TargetElement"],
        instances: role_targets,
        read: ACL_READ,
        ..CLASS
    },
    Class {
        name: SERVICE,
        requires: Some(Feature::DashAccounts),
        keys: SERVICE_KEYS,
        instances: account_service,
        read: ACL_READ,
        ..CLASS
    },
];

/// One ACL entry as the account classes see it.
struct Entry {
    /// 0 for the built-in administrator, the ACL handle otherwise.
    handle: u32,
    /// The digest name, or the SID of a Kerberos entry.
    name: String,
    digest: bool,
    enabled: bool,
    /// The realms granted; empty for the administrator, who holds all.
    realms: Vec<u8>,
}

fn entries(device: &Device) -> Vec<Entry> {
    let (admin, _) = device.admin_entry();
    let mut out = vec![Entry {
        handle: 0,
        name: admin,
        digest: true,
        enabled: true,
        realms: Vec::new(),
    }];
    // The store holds at most 7 digest and 32 Kerberos entries: one page.
    let handles = device.user_handles(1).map(|(_, h)| h).unwrap_or_default();
    for user in handles.into_iter().filter_map(|h| device.user(h).ok()) {
        let name = match &user.kerberos_sid {
            Some(sid) => amtemu_model::device::users::sid_string(sid),
            None => user.name.clone(),
        };
        out.push(Entry {
            handle: user.handle,
            name,
            digest: !user.is_kerberos(),
            enabled: user.enabled,
            realms: user.realms.clone(),
        });
    }
    out
}

fn account_epr(name: &str) -> Epr {
    Epr::new(names::class_uri(ACCOUNT))
        .with("CreationClassName", ACCOUNT)
        .with("Name", name)
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", AMT_SYSTEM)
}

fn identity_epr(handle: u32) -> Epr {
    Epr::new(names::class_uri(IDENTITY)).with("InstanceID", format!("{IDENTITY_PREFIX}{handle}"))
}

fn privilege_epr(handle: u32) -> Epr {
    Epr::new(names::class_uri(PRIVILEGE)).with("InstanceID", format!("{PRIVILEGE_PREFIX}{handle}"))
}

fn amt_system_epr() -> Epr {
    Epr::new(names::class_uri("CIM_ComputerSystem"))
        .with("CreationClassName", "CIM_ComputerSystem")
        .with("Name", AMT_SYSTEM)
}

fn role_epr(handle: u32) -> Epr {
    Epr::new(names::class_uri(ROLE))
        .with("CreationClassName", ROLE)
        .with("Name", format!("{ROLE_PREFIX}{handle}"))
}

/// CIM EnabledState: 2 enabled, 3 disabled (SetAclEnabledState).
fn enabled_state(enabled: bool) -> i64 {
    if enabled { 2 } else { 3 }
}

fn accounts(device: &Device) -> Vec<Instance> {
    entries(device)
        .into_iter()
        .filter(|e| e.digest)
        .map(|e| {
            Instance::new(ACCOUNT)
                .with("CreationClassName", ACCOUNT)
                .with("ElementName", e.name.as_str())
                .with("EnabledState", enabled_state(e.enabled))
                .with("Name", e.name.as_str())
                .with("RequestedState", enabled_state(e.enabled))
                .with("SystemCreationClassName", "CIM_ComputerSystem")
                .with("SystemName", AMT_SYSTEM)
                .with("UserID", e.name.as_str())
        })
        .collect()
}

fn identities(device: &Device) -> Vec<Instance> {
    entries(device)
        .into_iter()
        .map(|e| {
            Instance::new(IDENTITY)
                .with("ElementName", e.name.as_str())
                .with("InstanceID", format!("{IDENTITY_PREFIX}{}", e.handle))
        })
        .collect()
}

fn roles(device: &Device) -> Vec<Instance> {
    entries(device)
        .into_iter()
        .map(|e| {
            Instance::new(ROLE)
                .with("CreationClassName", ROLE)
                .with("ElementName", e.name.as_str())
                .with("Name", format!("{ROLE_PREFIX}{}", e.handle))
        })
        .collect()
}

/// What each entry may do: CIM Activities 5 (Execute) over the realms it
/// holds, given as their numbers (Intel's realm short names, which
/// ActivityQualifiers carries on real firmware, are in no source we have:
/// the numbers are AMT_AuthorizationService's, observed).
fn privileges(device: &Device) -> Vec<Instance> {
    entries(device)
        .into_iter()
        .map(|e| {
            let realms: Vec<String> = if e.handle == 0 {
                vec![realm::PT_ADMINISTRATION.to_string()]
            } else {
                e.realms.iter().map(u8::to_string).collect()
            };
            Instance::new(PRIVILEGE)
                .with_array("Activities", realms.iter().map(|_| 5))
                .with_array("ActivityQualifiers", realms)
                .with("ElementName", e.name.as_str())
                .with("InstanceID", format!("{PRIVILEGE_PREFIX}{}", e.handle))
                .with("PrivilegeGranted", true)
                .with("RepresentsAuthorizationRights", true)
        })
        .collect()
}

/// Each account belongs to the management engine's computer system.
fn accounts_on_system(device: &Device) -> Vec<Instance> {
    entries(device)
        .into_iter()
        .filter(|e| e.digest)
        .map(|e| {
            Instance::new("CIM_AccountOnSystem")
                .with("GroupComponent", amt_system_epr())
                .with("PartComponent", account_epr(&e.name))
        })
        .collect()
}

fn rba_service(_: &Device) -> Vec<Instance> {
    vec![
        service(RBA_SERVICE, RBA_SERVICE_NAME)
            .with("ElementName", RBA_SERVICE_NAME)
            .with("EnabledState", 5)
            .with("RequestedState", 12),
    ]
}

/// What the account service can do with accounts, per the reference's
/// fields: create (2), modify (3) and delete (4) them, enable (2) and
/// disable (3) them (SetAclEnabledState); names cannot be edited apart
/// from the entry (the entry is the account).
fn account_capabilities(_: &Device) -> Vec<Instance> {
    vec![
        Instance::new("CIM_AccountManagementCapabilities")
            .with(
                "ElementName",
                "Intel(r) AMT Account Management Capabilities",
            )
            .with("ElementNameEditSupported", false)
            .with("InstanceID", "Intel(r) AMT:Account Management Capabilities")
            .with_array("OperationsSupported", [2, 3, 4])
            .with_array("RequestedStatesSupported", [2, 3]),
    ]
}

fn assigned_identities(device: &Device) -> Vec<Instance> {
    entries(device)
        .into_iter()
        .filter(|e| e.digest)
        .map(|e| {
            Instance::new("CIM_AssignedIdentity")
                .with("IdentityInfo", identity_epr(e.handle))
                .with("ManagedElement", account_epr(&e.name))
        })
        .collect()
}

/// A role's members: the identity that holds it and its privilege.
fn role_members(device: &Device) -> Vec<Instance> {
    entries(device)
        .into_iter()
        .flat_map(|e| {
            [identity_epr(e.handle), privilege_epr(e.handle)].map(|member| {
                Instance::new("CIM_MemberOfCollection")
                    .with("Collection", role_epr(e.handle))
                    .with("Member", member)
            })
        })
        .collect()
}

/// Every role is limited to the management engine's computer system and
/// the host's (the realms name features of both).
fn role_targets(device: &Device) -> Vec<Instance> {
    let amt = amt_system_epr();
    entries(device)
        .into_iter()
        .flat_map(|e| {
            [amt.clone(), managed_system_epr()].map(|target| {
                Instance::new("CIM_RoleLimitedToTarget")
                    .with("DefiningRole", role_epr(e.handle))
                    .with("TargetElement", target)
            })
        })
        .collect()
}

fn account_service(_: &Device) -> Vec<Instance> {
    vec![
        service(SERVICE, SERVICE_NAME)
            .with("ElementName", SERVICE_NAME)
            .with("EnabledState", 5)
            .with("RequestedState", 12),
    ]
}

/// Delete of an account removes its ACL entry (and with it the identity
/// and role). The administrator cannot be removed: PT_STATUS_NOT_PERMITTED
/// in an InternalError fault, as other refusals of an intrinsic operation.
fn delete_account(device: &Device, target: &Instance) -> Result<(), Fault> {
    let name = target.text("Name").ok_or(Fault::InvalidSelectors)?;
    let entry = entries(device)
        .into_iter()
        .find(|e| e.digest && e.name == name)
        .ok_or(Fault::InvalidSelectors)?;
    let refused = |r: UserRefusal, status: PtStatus| {
        tracing::info!(device = %device.name, refusal = ?r, "CIM_Account delete refused");
        Fault::InternalError(status.into())
    };
    if entry.handle == 0 {
        return Err(refused(UserRefusal::NotPermitted, PtStatus::NotPermitted));
    }
    device
        .remove_user(entry.handle)
        .map_err(|r| refused(r, PtStatus::InvalidHandle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::device::users::AclEntryRequest;
    use amtemu_model::testing::device;
    use amtemu_wire::wsman::value::Value;

    fn add(d: &Device, name: &str) -> u32 {
        d.add_user(&AclEntryRequest {
            name: Some(name.into()),
            ha1: Some([7; 16]),
            access: Some(2),
            realms: Some(vec![i64::from(realm::REDIRECTION)]),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn accounts_follow_the_acl() {
        let d = device("11.8");
        let (admin, _) = d.admin_entry();
        assert_eq!(accounts(&d).len(), 1);
        assert_eq!(accounts(&d)[0].text("UserID"), Some(admin.as_str()));
        let h = add(&d, "operator");
        let names: Vec<_> = accounts(&d)
            .iter()
            .map(|a| a.text("Name").unwrap().to_string())
            .collect();
        assert_eq!(names, [admin.clone(), "operator".to_string()]);
        assert_eq!(identities(&d).len(), 2);
        assert_eq!(roles(&d).len(), 2);
        assert_eq!(assigned_identities(&d).len(), 2);
        assert_eq!(role_members(&d).len(), 4);
        assert_eq!(accounts_on_system(&d).len(), 2);
        let operator_privilege = privileges(&d).remove(1);
        let realms = operator_privilege.get("ActivityQualifiers").unwrap();
        assert_eq!(realms, &Value::Array(vec!["2".into()]));
        assert_eq!(role_targets(&d).len(), 4);
        d.set_user_enabled(h, false).unwrap();
        let operator = accounts(&d).remove(1);
        assert_eq!(operator.int("EnabledState"), Some(3));

        delete_account(&d, &operator).unwrap();
        assert_eq!(d.user(h), Err(UserRefusal::InvalidHandle));
        assert_eq!(accounts(&d).len(), 1);
        assert_eq!(identities(&d).len(), 1);
    }

    #[test]
    fn the_administrator_and_unknown_accounts_are_not_deleted() {
        let d = device("11.8");
        let h = add(&d, "operator");
        let admin = accounts(&d).remove(0);
        assert_eq!(
            delete_account(&d, &admin),
            Err(Fault::InternalError(PtStatus::NotPermitted.into()))
        );
        for name in ["nobody", ""] {
            let ghost = Instance::new(ACCOUNT).with("Name", name);
            assert_eq!(delete_account(&d, &ghost), Err(Fault::InvalidSelectors));
        }
        assert_eq!(
            delete_account(&d, &Instance::new(ACCOUNT)),
            Err(Fault::InvalidSelectors)
        );
        assert!(d.user(h).is_ok());
        assert_eq!(accounts(&d).len(), 2);
    }
}
