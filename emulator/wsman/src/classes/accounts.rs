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

use super::{Access, CLASS, Class, Method, SERVICE_KEYS, managed_system_epr, output, service};
use amtemu_model::device::users::{UserRefusal, realm};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};

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
        put: Some(put_account),
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
        methods: &[Method {
            name: "CreateAccount",
            requires: None,
            call: create_account,
        }],
        read: ACL_READ,
        // Creating an account changes the ACL: PT Administration, as
        // AddUserAclEntryEx (the class default).
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
/// and role). The user store refuses the administrator (NotPermitted), which
/// goes out as PT_STATUS_NOT_PERMITTED in an InternalError fault, as other
/// refusals of an intrinsic operation; a name no account has is an unknown
/// selector.
fn delete_account(device: &Device, target: &Instance) -> Result<(), Fault> {
    let name = target.text("Name").ok_or(Fault::InvalidSelectors)?;
    device
        .remove_digest_account(name)
        .map_err(|r| account_refused(device, "delete", r))
}

/// UserPasswordEncryptionAlgorithm 2: the password is the digest HA1
/// (Intel's "Update Digest User" flow requires it).
const HTTP_DIGEST: i64 = 2;

/// Put changes an account's name and password (Intel's "Update Digest
/// User" flow): the selectors name the account, the instance's Name is
/// its (possibly new) name (UserID is ignored, per the reference's usage
/// notes), UserPassword the HA1 for that name in hex with
/// UserPasswordEncryptionAlgorithm 2. EnabledState, RequestedState,
/// ElementName and the system keys are disregarded, as firmware does.
fn put_account(device: &Device, target: &Instance, input: &Instance) -> Result<(), Fault> {
    let name = target.text("Name").ok_or(Fault::InvalidSelectors)?;
    let new_name = match input.get("Name") {
        None => name,
        Some(v) => v.as_text().ok_or(Fault::InvalidRepresentation)?,
    };
    let ha1 = match digest_password(input) {
        Ok(ha1) => ha1,
        Err(BadPassword::Encoding) => {
            return Err(account_refused(
                device,
                "put",
                UserRefusal::InvalidParameter,
            ));
        }
        Err(BadPassword::NotHa1) => return Err(Fault::InvalidRepresentation),
    };
    device
        .change_digest_account(name, new_name, ha1)
        .map_err(|r| account_refused(device, "put", r))
}

/// CIM_AccountManagementService.CreateAccount, as Intel's "Create a
/// Digest User" flow describes it: `System` is a reference to a
/// CIM_ComputerSystem, `AccountTemplate` an embedded CIM_Account whose
/// UserID names the new digest user (Name is ignored, as firmware ignores
/// it) and whose UserPassword is the HA1 for that name in hex, with
/// UserPasswordEncryptionAlgorithm 2. ElementName, OrganizationName and
/// the state and system properties are disregarded (the user store keeps
/// no organization). The new entry is made by the user store's rule
/// ([`Device::create_digest_account`]: no realms until granted). Answers
/// the new CIM_Account and its CIM_Identity.
///
/// Intel documents no return values for this method; firmware answers its
/// own methods' refusals with PT_STATUS codes, so each refusal answers
/// what AddUserAclEntryEx answers for the same refusal
/// ([`super::authorization::status`]): a bad name PT_STATUS_INVALID_NAME,
/// a missing or malformed HA1 PT_STATUS_INVALID_PASSWORD, a name taken
/// PT_STATUS_DUPLICATE, a full table PT_STATUS_MAX_LIMIT_REACHED, and
/// a missing or malformed argument (no System that names one of the two
/// computer systems, no template, no UserID, another password encoding)
/// PT_STATUS_INVALID_PARAMETER.
fn create_account(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "CreateAccount";
    let created = account_template(input).and_then(|(name, ha1)| {
        let handle = device.create_digest_account(&name, ha1)?;
        Ok((name, handle))
    });
    Ok(match created {
        Ok((name, handle)) => output(M, PtStatus::Success.into())
            .with("Account", account_epr(&name))
            .with_array("Identities", [identity_epr(handle)]),
        Err(refusal) => {
            tracing::info!(device = %device.name, ?refusal, "CreateAccount refused");
            output(M, super::authorization::status(refusal).into())
        }
    })
}

/// The name and HA1 CreateAccount's arguments give, or why not.
fn account_template(input: &Instance) -> Result<(String, Option<[u8; 16]>), UserRefusal> {
    if !input
        .get("System")
        .and_then(Value::as_ref)
        .is_some_and(names_a_system)
    {
        return Err(UserRefusal::InvalidParameter);
    }
    let Some(Value::Object(template)) = input.get("AccountTemplate") else {
        return Err(UserRefusal::InvalidParameter);
    };
    // A name cannot hold white space, so trimming it joins no two names
    // (Intel's own example template pads the UserID with spaces).
    let name = template
        .get("UserID")
        .ok_or(UserRefusal::InvalidParameter)?
        .as_text()
        .ok_or(UserRefusal::InvalidName)?
        .trim();
    let ha1 = digest_password(template).map_err(|bad| match bad {
        BadPassword::Encoding => UserRefusal::InvalidParameter,
        BadPassword::NotHa1 => UserRefusal::InvalidPassword,
    })?;
    Ok((name.to_string(), ha1))
}

/// Why a CIM_Account's UserPassword is not a digest password: another
/// encoding than [`HTTP_DIGEST`] (or none named), or not an HA1.
enum BadPassword {
    Encoding,
    NotHa1,
}

/// The HA1 a CIM_Account (a Put's instance or CreateAccount's template)
/// carries as its UserPassword, if it carries one. Each caller answers a
/// bad one as its own flow does.
fn digest_password(account: &Instance) -> Result<Option<[u8; 16]>, BadPassword> {
    let Some(password) = account.get("UserPassword") else {
        return Ok(None);
    };
    let algorithm = account.get("UserPasswordEncryptionAlgorithm");
    if algorithm.and_then(Value::as_int) != Some(HTTP_DIGEST) {
        return Err(BadPassword::Encoding);
    }
    hex_ha1(password).map(Some).ok_or(BadPassword::NotHa1)
}

/// Whether a reference names one of the device's two computer systems:
/// the management engine's, which CIM_AccountOnSystem puts the accounts
/// on, or the host's (`ManagedSystem`, the SystemName of Intel's example
/// template).
fn names_a_system(epr: &Epr) -> bool {
    let class_ok = epr.resource_uri == names::class_uri("CIM_ComputerSystem")
        && epr
            .selector("CreationClassName")
            .is_none_or(|_| epr.selector_text("CreationClassName") == Some("CIM_ComputerSystem"));
    class_ok
        && matches!(
            epr.selector_text("Name"),
            Some(AMT_SYSTEM | "ManagedSystem")
        )
}

/// A 16-byte HA1 written as 32 hex digits (one value, or an array of one,
/// as the octet-string property may arrive).
fn hex_ha1(value: &Value) -> Option<[u8; 16]> {
    let text = match value.items() {
        [one] => one.as_text()?,
        _ => return None,
    };
    amtemu_model::device::provisioning::decode_hex(text.trim())
        .and_then(|bytes| <[u8; 16]>::try_from(bytes.as_slice()).ok())
}

/// No account of that name is an unknown selector; other refusals carry
/// the ACL's PT_STATUS in an InternalError fault.
fn account_refused(device: &Device, what: &str, refusal: UserRefusal) -> Fault {
    tracing::info!(device = %device.name, refusal = ?refusal, "CIM_Account {what} refused");
    match refusal {
        UserRefusal::InvalidHandle => Fault::InvalidSelectors,
        r => Fault::InternalError(super::authorization::status(r).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::device::users::AclEntryRequest;
    use amtemu_model::testing::device;
    use amtemu_wire::status::PtStatus;

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

    fn put_input(name: &str, password: Option<&str>) -> Instance {
        let mut i = Instance::new(ACCOUNT)
            .with("Name", name)
            .with("UserID", "ignored")
            .with("EnabledState", 3)
            .with("ElementName", "Intel(r) AMT digest account");
        if let Some(p) = password {
            i = i
                .with("UserPassword", p)
                .with("UserPasswordEncryptionAlgorithm", HTTP_DIGEST);
        }
        i
    }

    fn selector(name: &str) -> Instance {
        Instance::new(ACCOUNT).with("Name", name)
    }

    #[test]
    fn put_changes_name_and_password_and_disregards_the_rest() {
        let d = device("11.8");
        let h = add(&d, "operator");
        let realm = d.identity.digest_realm.clone();
        let ha1 = amtemu_model::device::users::ha1("operator", &realm, "N3w-pass!");
        let hex = amtemu_wire::hex::hex_lower(&ha1);
        put_account(
            &d,
            &selector("operator"),
            &put_input("operator", Some(&hex)),
        )
        .unwrap();
        let user = d.user(h).unwrap();
        assert_eq!(user.ha1, ha1);
        assert!(user.enabled, "EnabledState is disregarded");
        assert_eq!(user.realms, [realm::REDIRECTION], "realms are kept");
        // Renamed with a password hashed for the new name (upper-case hex
        // too); UserID is ignored.
        let renamed = amtemu_model::device::users::ha1("ops", &realm, "N3w-pass!");
        let upper = amtemu_wire::hex::hex_upper(&renamed);
        put_account(&d, &selector("operator"), &put_input("ops", Some(&upper))).unwrap();
        assert_eq!(d.user(h).unwrap().name, "ops");
        assert_eq!(accounts(&d)[1].text("UserID"), Some("ops"));
        // The administrator's password.
        let (admin, _) = d.admin_entry();
        let admin_ha1 = amtemu_model::device::users::ha1(&admin, &realm, "0ther-pass!");
        let admin_hex = amtemu_wire::hex::hex_lower(&admin_ha1);
        put_account(&d, &selector(&admin), &put_input(&admin, Some(&admin_hex))).unwrap();
        let login = d
            .network_login(&admin, tokio::time::Instant::now())
            .unwrap();
        assert_eq!(login.ha1, admin_ha1);
    }

    #[test]
    fn bad_puts_get_firmwares_answer_and_change_nothing() {
        let d = device("11.8");
        let h = add(&d, "operator");
        let before = d.user(h).unwrap();
        let (admin, _) = d.admin_entry();
        let good = "00112233445566778899aabbccddeeff";
        let internal = |s: PtStatus| Err(Fault::InternalError(s.into()));
        // Unknown or missing selectors.
        assert_eq!(
            put_account(&d, &selector("nobody"), &put_input("nobody", Some(good))),
            Err(Fault::InvalidSelectors)
        );
        assert_eq!(
            put_account(&d, &Instance::new(ACCOUNT), &put_input("x", None)),
            Err(Fault::InvalidSelectors)
        );
        // A password that is not 16 bytes of hex, or several values.
        for bad in ["xyz", "0011", "", "00112233445566778899aabbccddeeff00"] {
            assert_eq!(
                put_account(&d, &selector("operator"), &put_input("operator", Some(bad))),
                Err(Fault::InvalidRepresentation),
                "{bad:?}"
            );
        }
        let two = put_input("operator", None)
            .with_array("UserPassword", [good, good])
            .with("UserPasswordEncryptionAlgorithm", HTTP_DIGEST);
        assert_eq!(
            put_account(&d, &selector("operator"), &two),
            Err(Fault::InvalidRepresentation)
        );
        // A password in another encoding than the digest HA1.
        let plain = put_input("operator", None)
            .with("UserPassword", good)
            .with("UserPasswordEncryptionAlgorithm", 0);
        assert_eq!(
            put_account(&d, &selector("operator"), &plain),
            internal(PtStatus::InvalidParameter)
        );
        let missing = put_input("operator", None).with("UserPassword", good);
        assert_eq!(
            put_account(&d, &selector("operator"), &missing),
            internal(PtStatus::InvalidParameter)
        );
        // A name of the wrong type, a new name without a password for it,
        // an invalid name, another account's name.
        let typed = put_input("operator", None).with_array("Name", ["a", "b"]);
        assert_eq!(
            put_account(&d, &selector("operator"), &typed),
            Err(Fault::InvalidRepresentation)
        );
        assert_eq!(
            put_account(&d, &selector("operator"), &put_input("ops", None)),
            internal(PtStatus::InvalidPassword)
        );
        assert_eq!(
            put_account(&d, &selector("operator"), &put_input("", Some(good))),
            internal(PtStatus::InvalidName)
        );
        // The administrator's name is reserved to it (the store's rule).
        assert_eq!(
            put_account(&d, &selector("operator"), &put_input(&admin, Some(good))),
            internal(PtStatus::InvalidName)
        );
        add(&d, "other");
        assert_eq!(
            put_account(&d, &selector("operator"), &put_input("other", Some(good))),
            internal(PtStatus::Duplicate)
        );
        assert_eq!(d.user(h).unwrap(), before);
        assert_eq!(accounts(&d).len(), 3);
    }

    /// CreateAccount's arguments: a System reference naming `system`, and
    /// a template of these properties (as Intel's example writes them).
    fn create_input(system: &str, template: &[(&str, Value)]) -> Instance {
        let mut t = Instance::new(ACCOUNT)
            .with("CreationClassName", ACCOUNT)
            .with("ElementName", "Intel(r) AMT digest account")
            .with("Name", "ignored")
            .with("OrganizationName", "None");
        for (name, value) in template {
            t.set(name, value.clone());
        }
        Instance::new("CreateAccount_INPUT")
            .with(
                "System",
                Epr::new(names::class_uri("CIM_ComputerSystem"))
                    .with("CreationClassName", "CIM_ComputerSystem")
                    .with("Name", system),
            )
            .with("AccountTemplate", Value::Object(t))
    }

    /// A template for `name` with this HA1 in hex, in the digest encoding.
    fn template(name: &str, hex: &str) -> Vec<(&'static str, Value)> {
        vec![
            ("UserID", name.into()),
            ("UserPassword", hex.into()),
            ("UserPasswordEncryptionAlgorithm", HTTP_DIGEST.into()),
        ]
    }

    fn return_value(out: &Instance) -> i64 {
        out.int("ReturnValue").unwrap()
    }

    #[test]
    fn create_account_makes_a_digest_user_without_realms() {
        let d = device("11.8");
        let realm = d.identity.digest_realm.clone();
        let ha1 = amtemu_model::device::users::ha1("operator", &realm, "Passw0rd!");
        let hex = amtemu_wire::hex::hex_upper(&ha1);
        let service = account_service(&d).remove(0);
        let input = Instance::new("CreateAccount_INPUT")
            .with("System", amt_system_epr())
            .with(
                "AccountTemplate",
                Value::Object(
                    Instance::new(ACCOUNT)
                        .with("UserID", " operator ")
                        .with("UserPassword", hex.as_str())
                        .with("UserPasswordEncryptionAlgorithm", "2"),
                ),
            );
        let out = create_account(&d, &service, &input).unwrap();
        assert_eq!(return_value(&out), 0, "{out:?}");
        assert_eq!(
            out.get("Account"),
            Some(&Value::Ref(account_epr("operator")))
        );
        let handle = d.user_handles(1).unwrap().1[0];
        assert_eq!(
            out.get("Identities"),
            Some(&Value::Array(vec![Value::Ref(identity_epr(handle))]))
        );
        let user = d.user(handle).unwrap();
        assert_eq!((user.name.as_str(), user.ha1), ("operator", ha1));
        assert!(user.realms.is_empty(), "no realms until granted");
        let names: Vec<_> = accounts(&d)
            .iter()
            .map(|a| a.text("UserID").unwrap().to_string())
            .collect();
        assert_eq!(names[1], "operator");
        assert_eq!(identities(&d).len(), 2);
        // The host's system is named too (Intel's template's SystemName).
        let out = create_account(
            &d,
            &service,
            &create_input("ManagedSystem", &template("ops", &hex)),
        )
        .unwrap();
        assert_eq!(return_value(&out), 0, "{out:?}");
        // A created account's Put keeps it realm-less; Delete removes it.
        put_account(&d, &selector("ops"), &put_input("ops2", Some(&hex))).unwrap();
        delete_account(&d, &selector("ops2")).unwrap();
        assert_eq!(accounts(&d).len(), 2);
    }

    /// Reading accounts takes the ACL realm; creating one takes PT
    /// Administration, as AddUserAclEntryEx does.
    #[test]
    fn only_administrators_create_accounts() {
        use amtemu_model::device::users::Caller;
        let service = CLASSES.iter().find(|c| c.name == SERVICE).unwrap();
        let create = super::super::Operation::Invoke("CreateAccount");
        let reader = Caller::User {
            name: "auditor".into(),
            realms: vec![realm::ACL],
        };
        assert_eq!(service.authorize(&reader, create), Err(Fault::AccessDenied));
        assert_eq!(
            service.authorize(&reader, super::super::Operation::Read),
            Ok(())
        );
        let admin = Caller::User {
            name: "ops".into(),
            realms: vec![realm::PT_ADMINISTRATION],
        };
        assert_eq!(service.authorize(&admin, create), Ok(()));
    }

    #[test]
    fn bad_create_account_arguments_get_firmwares_answer_and_change_nothing() {
        let d = device("11.8");
        add(&d, "operator");
        let good = "00112233445566778899aabbccddeeff";
        let service = account_service(&d).remove(0);
        let invalid_parameter = i64::from(u32::from(PtStatus::InvalidParameter));
        let invalid_name = i64::from(u32::from(PtStatus::InvalidName));
        let invalid_password = i64::from(u32::from(PtStatus::InvalidPassword));
        let duplicate = i64::from(u32::from(PtStatus::Duplicate));
        let full = i64::from(u32::from(PtStatus::MaxLimitReached));
        let with = |system: &str, changes: &[(&str, Value)]| {
            let mut t = template("ops", good);
            for (name, value) in changes {
                t.retain(|(n, _)| n != name);
                t.push((name, value.clone()));
            }
            create_input(system, &t)
        };
        let without = |name: &str| {
            let t: Vec<_> = template("ops", good)
                .into_iter()
                .filter(|(n, _)| *n != name)
                .collect();
            create_input(AMT_SYSTEM, &t)
        };
        let good_input = with(AMT_SYSTEM, &[]);
        let mut cases: Vec<(&str, Instance, i64)> = vec![
            // The System: missing, not a reference, another class, another
            // system, another creation class.
            (
                "no system",
                {
                    let mut i = good_input.clone();
                    i.props.remove("System");
                    i
                },
                invalid_parameter,
            ),
            (
                "system as text",
                good_input.clone().with("System", "Intel(r) AMT"),
                invalid_parameter,
            ),
            (
                "system of another class",
                good_input
                    .clone()
                    .with("System", account_epr("Intel(r) AMT")),
                invalid_parameter,
            ),
            ("another system", with("Other", &[]), invalid_parameter),
            (
                "another creation class",
                good_input.clone().with(
                    "System",
                    Epr::new(names::class_uri("CIM_ComputerSystem"))
                        .with("CreationClassName", "AMT_Thing")
                        .with("Name", AMT_SYSTEM),
                ),
                invalid_parameter,
            ),
            // The template: missing, not an instance, no UserID.
            (
                "no template",
                {
                    let mut i = good_input.clone();
                    i.props.remove("AccountTemplate");
                    i
                },
                invalid_parameter,
            ),
            (
                "template as text",
                good_input.clone().with("AccountTemplate", "junk"),
                invalid_parameter,
            ),
            ("no UserID", without("UserID"), invalid_parameter),
            // Names the ACL refuses, or of the wrong type.
            (
                "two UserIDs",
                with(
                    AMT_SYSTEM,
                    &[("UserID", Value::Array(vec!["a".into(), "b".into()]))],
                ),
                invalid_name,
            ),
            (
                "empty UserID",
                with(AMT_SYSTEM, &[("UserID", "".into())]),
                invalid_name,
            ),
            (
                "long UserID",
                with(AMT_SYSTEM, &[("UserID", "x".repeat(17).into())]),
                invalid_name,
            ),
            (
                "reserved UserID",
                with(AMT_SYSTEM, &[("UserID", "$$uns".into())]),
                invalid_name,
            ),
            (
                "admin UserID",
                with(AMT_SYSTEM, &[("UserID", "admin".into())]),
                invalid_name,
            ),
            (
                "spaced UserID",
                with(AMT_SYSTEM, &[("UserID", "op s".into())]),
                invalid_name,
            ),
            // Passwords: missing, not 16 bytes of hex, another encoding.
            ("no password", without("UserPassword"), invalid_password),
            (
                "no algorithm",
                without("UserPasswordEncryptionAlgorithm"),
                invalid_parameter,
            ),
            (
                "plain algorithm",
                with(AMT_SYSTEM, &[("UserPasswordEncryptionAlgorithm", 0.into())]),
                invalid_parameter,
            ),
            (
                "algorithm as text",
                with(
                    AMT_SYSTEM,
                    &[("UserPasswordEncryptionAlgorithm", "digest".into())],
                ),
                invalid_parameter,
            ),
            // Another account's name.
            (
                "duplicate",
                with(AMT_SYSTEM, &[("UserID", "operator".into())]),
                duplicate,
            ),
        ];
        for bad in [
            "xyz",
            "0011",
            "",
            "00112233445566778899aabbccddeeff00",
            "0011223344556677889gaabbccddeeff",
        ] {
            cases.push((
                "bad HA1",
                with(AMT_SYSTEM, &[("UserPassword", bad.into())]),
                invalid_password,
            ));
        }
        cases.push((
            "two HA1s",
            with(
                AMT_SYSTEM,
                &[("UserPassword", Value::Array(vec![good.into(), good.into()]))],
            ),
            invalid_password,
        ));
        let stored = format!("{:?}", d.nvram());
        for (what, input, want) in &cases {
            let out = create_account(&d, &service, input).unwrap();
            assert_eq!(return_value(&out), *want, "{what}: {out:?}");
            assert_eq!(out.get("Account"), None, "{what}");
            assert_eq!(
                format!("{:?}", d.nvram()),
                stored,
                "{what} changed the store"
            );
        }
        // A full table: seven digest users besides the administrator.
        for i in 1..amtemu_model::device::users::MAX_DIGEST_USERS {
            add(&d, &format!("u{i}"));
        }
        let stored = format!("{:?}", d.nvram());
        let out = create_account(&d, &service, &good_input).unwrap();
        assert_eq!(return_value(&out), full);
        assert_eq!(format!("{:?}", d.nvram()), stored);
    }
}
