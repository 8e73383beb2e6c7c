//! The same operations as clients put them on the wire.

use super::*;
use crate::{WsmanState, handle};
use amtemu_model::device::users::Caller;
use amtemu_model::testing::device;

const AMT: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";

fn request(action: &str, class: &str, selectors: &str, body: &str) -> String {
    format!(
        r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{action}</a:Action><w:ResourceURI>{AMT}{class}</w:ResourceURI><a:MessageID>1</a:MessageID>{selectors}</Header><Body>{body}</Body></Envelope>"#
    )
}

fn invoke(method: &str, args: &str) -> String {
    request(
        &format!("{AMT}{PKM_SERVICE}/{method}"),
        PKM_SERVICE,
        "",
        &format!(r#"<h:{method}_INPUT xmlns:h="{AMT}{PKM_SERVICE}">{args}</h:{method}_INPUT>"#),
    )
}

/// MeshCentral's Create body (amtmanager.js), with its spelling of the
/// collection's name.
fn create(cert_handle: u32) -> String {
    let reference = |class: &str, selector: &str| {
        format!(
            "<a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>{AMT}{class}</w:ResourceURI><w:SelectorSet>{selector}</w:SelectorSet></a:ReferenceParameters>"
        )
    };
    request(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
        CREDENTIAL,
        "",
        &format!(
            r#"<h:AMT_TLSCredentialContext xmlns:h="{AMT}{CREDENTIAL}"><h:ElementInContext>{}</h:ElementInContext><h:ElementProvidingContext>{}</h:ElementProvidingContext></h:AMT_TLSCredentialContext>"#,
            reference(
                CERTIFICATE,
                &format!(
                    r#"<w:Selector Name="InstanceID">{CERTIFICATE_ID}{cert_handle}</w:Selector>"#
                )
            ),
            reference(
                COLLECTION,
                &format!(
                    r#"<w:Selector Name="ElementName">{COLLECTION_NAME_CLIENTS}</w:Selector>"#
                )
            ),
        ),
    )
}

#[test]
fn clients_configure_tls_over_the_wire() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());

    let reply = send(invoke(
        "GenerateKeyPair",
        "<h:KeyAlgorithm>0</h:KeyAlgorithm><h:KeyLength>2048</h:KeyLength>",
    ));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(reply.xml.contains("<g:ReturnValue>0</g:ReturnValue>"));
    let (key, pkcs8) = d.with_state(|s| {
        (
            s.nvram.certs.keys[0].handle,
            s.nvram.certs.keys[0].pkcs8.clone(),
        )
    });
    assert!(reply.xml.contains(&format!("{KEY_ID}{key}<")));

    // A KeyPair reference argument, as go-wsman-messages writes it.
    let template = pki::certificate_request(&pkcs8, Some("amt"), None).unwrap();
    let reply = send(invoke(
        "GeneratePKCS10RequestEx",
        &format!(
            r#"<h:KeyPair><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters><w:ResourceURI>{AMT}{KEY_PAIR}</w:ResourceURI><w:SelectorSet><w:Selector Name="InstanceID">{KEY_ID}{key}</w:Selector></w:SelectorSet></a:ReferenceParameters></h:KeyPair><h:SigningAlgorithm>1</h:SigningAlgorithm><h:NullSignedCertificateRequest>{}</h:NullSignedCertificateRequest>"#,
            BASE64.encode(template)
        ),
    ));
    assert!(
        reply.xml.contains("<g:SignedCertificateRequest>"),
        "{}",
        reply.xml
    );

    let (ca, ca_key) = pki::self_signed_ca("Wire CA").unwrap();
    let leaf =
        pki::issue_certificate(&ca, &ca_key, "amt", &[], &pkcs8, pki::Validity::Years(10)).unwrap();
    let reply = send(invoke(
        "AddCertificate",
        &format!(
            "<h:CertificateBlob>{}</h:CertificateBlob>",
            BASE64.encode(&leaf)
        ),
    ));
    assert!(reply.xml.contains("<g:ReturnValue>0</g:ReturnValue>"));
    let cert = d.certificates()[0].handle;

    let reply = send(create(cert));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(reply.xml.contains("<g:ResourceCreated>"));
    assert!(reply.xml.contains(COLLECTION_NAME));
    assert_eq!(send(create(cert)).fault, Some(Fault::AlreadyExists));

    // Put of the LMS settings, selected by an InstanceID header selector
    // (DMT), TrustedCN repeated.
    let reply = send(request(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put",
        TLS_SETTINGS,
        &format!(
            r#"<w:SelectorSet><w:Selector Name="InstanceID">{TLS_LOCAL}</w:Selector></w:SelectorSet>"#
        ),
        &format!(
            r#"<h:AMT_TLSSettingData xmlns:h="{AMT}{TLS_SETTINGS}"><h:ElementName>{TLS_LOCAL}</h:ElementName><h:InstanceID>{TLS_LOCAL}</h:InstanceID><h:MutualAuthentication>false</h:MutualAuthentication><h:Enabled>true</h:Enabled><h:TrustedCN>a</h:TrustedCN><h:TrustedCN>b</h:TrustedCN></h:AMT_TLSSettingData>"#
        ),
    ));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(
        reply
            .xml
            .contains("<g:TrustedCN>a</g:TrustedCN><g:TrustedCN>b</g:TrustedCN>")
    );
    assert!(d.with_state(|s| {
        s.nvram
            .pending_tls
            .as_ref()
            .is_some_and(|t| t.local.enabled)
    }));

    // Delete of the credential context by its reference selector.
    let reply = send(request(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
        CREDENTIAL,
        &format!(
            r#"<w:SelectorSet><w:Selector Name="ElementInContext"><a:EndpointReference><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>{AMT}{CERTIFICATE}</w:ResourceURI><w:SelectorSet><w:Selector Name="InstanceID">{CERTIFICATE_ID}{cert}</w:Selector></w:SelectorSet></a:ReferenceParameters></a:EndpointReference></w:Selector></w:SelectorSet>"#
        ),
        "",
    ));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert_eq!(d.tls_credential(), None);
}
