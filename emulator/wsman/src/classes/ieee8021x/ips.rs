//! IPS_IEEE8021xSettings and IPS_8021xCredentialContext (11.0+): the wired
//! port's 802.1X settings as the IPS schema shows them. They are a second
//! view of the one wired profile the device keeps (`device::ieee8021x`),
//! which AMT_8021XProfile shows too: a Put or SetCertificates here is read
//! there, and the other way round.
//!
//! Names and the default instance follow the DMT message builder's
//! responses (InstanceID and ElementName "Intel(r) AMT: 8021X Settings",
//! Enabled 3 when off); Enabled's ValueMap is the builder's: 2 enabled with
//! certificates, 3 disabled, 6 enabled without certificates.

use super::{certificate_ref, read_credentials, status, with_credentials};
use crate::classes::pki::certificate_epr;
use crate::classes::{CLASS, Class, method, output, put_bool, put_uint};
use amtemu_model::device::ieee8021x::{Ieee8021xRefusal, WiredEdit, WiredProfile};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance};

const SETTINGS: &str = "IPS_IEEE8021xSettings";
const CONTEXT: &str = "IPS_8021xCredentialContext";
const ID: &str = "Intel(r) AMT: 8021X Settings";

const ENABLED_WITH_CERTIFICATES: i64 = 2;
const DISABLED: i64 = 3;
const ENABLED_WITHOUT_CERTIFICATES: i64 = 6;

pub static CLASSES: &[Class] = &[
    Class {
        name: SETTINGS,
        requires: Some(Feature::IpsWired8021x),
        keys: &["InstanceID"],
        instances: settings,
        put: Some(put_settings),
        methods: &[method("SetCertificates", set_certificates)],
        ..CLASS
    },
    Class {
        name: CONTEXT,
        requires: Some(Feature::IpsWired8021x),
        keys: &["ElementInContext", "ElementProvidingContext"],
        instances: contexts,
        ..CLASS
    },
];

pub(crate) fn settings_epr() -> Epr {
    Epr::new(names::class_uri(SETTINGS)).with("InstanceID", ID)
}

/// Enabled as the IPS class reports it: "with certificates" once a
/// certificate is bound to the profile (inferred reading of the ValueMap).
fn enabled_value(wired: &WiredProfile) -> i64 {
    let certificates = wired.credentials.client_certificate.is_some()
        || wired.credentials.server_certificate_issuer.is_some();
    match (wired.enabled, certificates) {
        (false, _) => DISABLED,
        (true, true) => ENABLED_WITH_CERTIFICATES,
        (true, false) => ENABLED_WITHOUT_CERTIFICATES,
    }
}

fn settings(device: &Device) -> Vec<Instance> {
    let wired = device.wired_profile();
    let instance = Instance::new(SETTINGS)
        .with("AvailableInS0", wired.active_in_s0)
        .with("ElementName", ID)
        .with("Enabled", enabled_value(&wired))
        .with("InstanceID", ID)
        .with("PxeTimeout", wired.pxe_timeout);
    vec![with_credentials(instance, &wired.credentials)]
}

/// The certificates bound to the wired settings: the client certificate
/// and the trusted root the server's certificate must chain to.
pub(crate) fn contexts(device: &Device) -> Vec<Instance> {
    let wired = device.wired_profile();
    [
        wired.credentials.client_certificate,
        wired.credentials.server_certificate_issuer,
    ]
    .into_iter()
    .flatten()
    .map(|h| {
        Instance::new(CONTEXT)
            .with("ElementInContext", certificate_epr(h))
            .with("ElementProvidingContext", settings_epr())
    })
    .collect()
}

/// Put: the properties the body carries change the wired profile, which
/// the device keeps only when it passes its checks; an enabled EAP-TLS
/// profile may wait for its client certificate, which SetCertificates
/// binds after this Put in rps's order ([`WiredEdit::CertificatesFollow`]). A
/// malformed value, an Enabled outside the ValueMap, or a profile the
/// device refuses is an invalid representation; nothing changes then.
fn put_settings(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    let malformed = |_: Fault| Ieee8021xRefusal::Invalid;
    device
        .edit_wired_profile(WiredEdit::CertificatesFollow, |wired| {
            if let Some(v) = input.get("Enabled") {
                wired.enabled = match v.as_int() {
                    Some(ENABLED_WITH_CERTIFICATES | ENABLED_WITHOUT_CERTIFICATES) => true,
                    Some(DISABLED) => false,
                    _ => return Err(Ieee8021xRefusal::Invalid),
                };
            }
            put_bool(input, "AvailableInS0", &mut wired.active_in_s0).map_err(malformed)?;
            put_uint(input, "PxeTimeout", &mut wired.pxe_timeout).map_err(malformed)?;
            read_credentials(input, &mut wired.credentials)
        })
        .map_err(|e| {
            tracing::info!(device = %device.name, error = ?e, "IPS 802.1X settings refused");
            Fault::InvalidRepresentation
        })
}

/// SetCertificates(ServerCertificateIssuer, ClientCertificate): binds the
/// certificates to the wired profile. A reference that names no
/// certificate of the right kind answers PT_STATUS_NOT_FOUND, a profile
/// the device then refuses PT_STATUS_INVALID_PARAMETER (the codes
/// AddWiFiSettings uses; inferred for this method). Nothing changes on error.
fn set_certificates(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "SetCertificates";
    let result = device.edit_wired_profile(WiredEdit::Complete, |wired| {
        let issuer = certificate_ref(input.get("ServerCertificateIssuer"))?;
        let client = certificate_ref(input.get("ClientCertificate"))?;
        wired.credentials.server_certificate_issuer = issuer;
        wired.credentials.client_certificate = client;
        Ok(())
    });
    Ok(match result {
        Ok(()) => output(M, PtStatus::Success.into()),
        Err(e) => {
            tracing::info!(device = %device.name, error = ?e, "SetCertificates refused");
            output(M, status(e).into())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    fn put(d: &Device, body: Instance) -> Result<(), Fault> {
        put_settings(d, &settings(d)[0], &body)
    }

    fn set_certs(d: &Device, issuer: Option<Epr>, client: Option<Epr>) -> i64 {
        let input = Instance::new("SetCertificates_INPUT")
            .with_opt("ServerCertificateIssuer", issuer)
            .with_opt("ClientCertificate", client);
        set_certificates(d, &settings(d)[0], &input)
            .unwrap()
            .int("ReturnValue")
            .unwrap()
    }

    /// Adds a client certificate and a trusted root to the store and binds
    /// both with SetCertificates, which must succeed; their handles.
    fn bind_new_certificates(d: &Device) -> (u32, u32) {
        let client = d.with_state(|s| s.nvram.certs.add_certificate(vec![1], false));
        let root = d.with_state(|s| s.nvram.certs.add_certificate(vec![2], true));
        let rv = set_certs(
            d,
            Some(certificate_epr(root)),
            Some(certificate_epr(client)),
        );
        assert_eq!(rv, 0);
        (client, root)
    }

    #[test]
    fn the_ips_view_is_the_wired_profile() {
        let d = device("11.8");
        let s = &settings(&d)[0];
        assert_eq!(s.text("InstanceID"), Some(ID));
        assert_eq!(s.int("Enabled"), Some(DISABLED));
        assert!(contexts(&d).is_empty());

        let peap = Instance::new(SETTINGS)
            .with("Enabled", "6")
            .with("AvailableInS0", "true")
            .with("PxeTimeout", "120")
            .with("AuthenticationProtocol", "2")
            .with("Username", "host")
            .with("Password", "secret");
        put(&d, peap).unwrap();
        let wired = d.wired_profile();
        assert!(wired.enabled && wired.active_in_s0);
        assert_eq!(wired.pxe_timeout, 120);
        let s = &settings(&d)[0];
        assert_eq!(s.int("Enabled"), Some(ENABLED_WITHOUT_CERTIFICATES));
        assert!(s.get("Password").is_none(), "write-only");

        // Certificates bound here are the AMT_8021XProfile's too.
        let (client, _) = bind_new_certificates(&d);
        assert_eq!(
            d.wired_profile().credentials.client_certificate,
            Some(client)
        );
        assert_eq!(
            settings(&d)[0].int("Enabled"),
            Some(ENABLED_WITH_CERTIFICATES)
        );
        assert_eq!(contexts(&d).len(), 2);
    }

    /// rps's wired EAP-TLS order: the Put that enables EAP-TLS (Enabled 2,
    /// AuthenticationProtocol 0) comes before SetCertificates binds the
    /// client certificate and the RADIUS root.
    #[test]
    fn eap_tls_is_enabled_before_its_certificates_are_bound() {
        let d = device("11.8");
        let eap_tls = Instance::new(SETTINGS)
            .with("Enabled", "2")
            .with("AvailableInS0", "true")
            .with("PxeTimeout", "120")
            .with("AuthenticationProtocol", "0")
            .with("Username", "host.example");
        put(&d, eap_tls).unwrap();
        assert!(d.wired_profile().enabled);
        assert_eq!(
            settings(&d)[0].int("Enabled"),
            Some(ENABLED_WITHOUT_CERTIFICATES),
            "nothing bound yet"
        );
        bind_new_certificates(&d);
        assert_eq!(
            settings(&d)[0].int("Enabled"),
            Some(ENABLED_WITH_CERTIFICATES)
        );
        assert_eq!(contexts(&d).len(), 2);
    }

    #[test]
    fn bad_puts_and_certificates_change_nothing() {
        let d = device("11.8");
        let (client, root) = bind_new_certificates(&d);
        let before = d.wired_profile();
        let bad_puts = [
            Instance::new(SETTINGS).with("Enabled", "4"),
            Instance::new(SETTINGS).with("Enabled", "on"),
            Instance::new(SETTINGS).with("AvailableInS0", "maybe"),
            Instance::new(SETTINGS).with("PxeTimeout", "-1"),
            Instance::new(SETTINGS).with("PxeTimeout", "86401"),
            Instance::new(SETTINGS).with("AuthenticationProtocol", "99"),
            // Enabled with a password method but no password.
            Instance::new(SETTINGS)
                .with("Enabled", "2")
                .with("AuthenticationProtocol", "1"),
        ];
        for body in bad_puts {
            assert_eq!(
                put(&d, body.clone()),
                Err(Fault::InvalidRepresentation),
                "{body:?}"
            );
            assert_eq!(d.wired_profile(), before, "{body:?}");
        }
        // A trusted root as the client certificate, a leaf as the issuer,
        // a handle that names nothing, text that is no reference.
        let unknown = certificate_epr(99);
        for (issuer, client) in [
            (Some(certificate_epr(root)), Some(certificate_epr(root))),
            (Some(certificate_epr(client)), Some(certificate_epr(client))),
            (Some(certificate_epr(root)), Some(unknown)),
        ] {
            assert_eq!(set_certs(&d, issuer, client), 2068);
            assert_eq!(d.wired_profile(), before);
        }
        let text = Instance::new("SetCertificates_INPUT").with("ClientCertificate", "cert");
        let rv = set_certificates(&d, &settings(&d)[0], &text).unwrap();
        assert_eq!(rv.int("ReturnValue"), Some(2068));
        assert_eq!(d.wired_profile(), before);
    }
}
