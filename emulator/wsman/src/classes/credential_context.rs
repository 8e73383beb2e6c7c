//! CIM_CredentialContext: which certificate each user of certificates
//! holds. Its own instances tie the wireless profiles' 802.1X settings
//! (CIM_IEEE8021xSettings) to their client certificates and trusted roots;
//! an enumeration returns, as AMT's CIM superclasses do, the instances of
//! its AMT and IPS subclasses too (TLS, wired 802.1X, remote access, the
//! endpoint access control posture signer), each
//! named as itself. Every instance comes from the module that owns that
//! use, so this class adds no state of its own.

use super::{CLASS, Class, endpoint_access, ieee8021x, pki, remote_access};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::wsman::value::Instance;

const KEYS: &[&str] = &["ElementInContext", "ElementProvidingContext"];

pub static CLASSES: &[Class] = &[Class {
    name: "CIM_CredentialContext",
    keys: KEYS,
    instances: contexts,
    subclasses: &[
        "AMT_TLSCredentialContext",
        "AMT_8021xCredentialContext",
        "AMT_RemoteAccessCredentialContext",
        "IPS_8021xCredentialContext",
        "AMT_EACCredentialContext",
    ],
    ..CLASS
}];

fn contexts(device: &Device) -> Vec<Instance> {
    let fw = device.firmware;
    let mut out = pki::tls_credential_contexts(device);
    if fw.has(Feature::Wireless) {
        out.extend(ieee8021x::wifi_credential_contexts(device));
        out.extend(ieee8021x::credential_contexts(device));
    }
    if fw.has(Feature::RemoteAccess) {
        out.extend(remote_access::credential_contexts(device));
    }
    if fw.has(Feature::IpsWired8021x) {
        out.extend(ieee8021x::ips_credential_contexts(device));
    }
    if fw.has(Feature::EndpointAccessControl) {
        out.extend(endpoint_access::credential_contexts(device));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    #[test]
    fn each_use_of_a_certificate_appears_once_under_its_own_class() {
        let d = device("11.8");
        assert!(contexts(&d).is_empty());
        let client = d.with_state(|s| s.nvram.certs.add_certificate(vec![1], false));
        d.edit_wired_profile(amtemu_model::device::ieee8021x::WiredEdit::Complete, |w| {
            w.credentials.client_certificate = Some(client);
            Ok(())
        })
        .unwrap();
        let classes: Vec<String> = contexts(&d).into_iter().map(|i| i.class).collect();
        assert_eq!(
            classes,
            ["AMT_8021xCredentialContext", "IPS_8021xCredentialContext"]
        );
        // 3.2.1 has neither 802.1X profiles nor the IPS schema.
        assert!(contexts(&device("3.2.1")).is_empty());
    }
}
