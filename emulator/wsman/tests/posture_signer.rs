//! The endpoint access control posture signer set through whole WS-Man
//! requests: a Create of AMT_EACCredentialContext whose two references are
//! read from the body, refused with the firmware's faults when they name
//! nothing usable, and the EAC service's EnabledState following it.

use amtemu_model::device::Device;
use amtemu_model::device::users::Caller;
use amtemu_model::pki;
use amtemu_model::testing::device;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names::class_uri;
use amtemu_wsman::{WsmanState, handle};

const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
const SERVICE: &str = "AMT_EndpointAccessControlService";
const SERVICE_NAME: &str = "Intel(r) AMT Endpoint Access Control Service";
const CONTEXT: &str = "AMT_EACCredentialContext";

fn request(d: &Device, action: &str, class: &str, body: &str) -> amtemu_wsman::Reply {
    let envelope = format!(
        r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{TRANSFER}/{action}</a:Action><w:ResourceURI>{}</w:ResourceURI><a:MessageID>1</a:MessageID></Header><Body>{body}</Body></Envelope>"#,
        class_uri(class)
    );
    handle(
        d,
        &WsmanState::default(),
        &Caller::Admin,
        envelope.as_bytes(),
    )
}

fn epr(class: &str, key: &str, value: &str) -> String {
    format!(
        r#"<a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>{}</w:ResourceURI><w:SelectorSet><w:Selector Name="{key}">{value}</w:Selector></w:SelectorSet></a:ReferenceParameters>"#,
        class_uri(class)
    )
}

fn create(d: &Device, cert_id: &str, service_name: &str) -> Option<Fault> {
    let body = format!(
        r#"<h:{CONTEXT} xmlns:h="{}"><h:ElementInContext>{}</h:ElementInContext><h:ElementProvidingContext>{}</h:ElementProvidingContext></h:{CONTEXT}>"#,
        class_uri(CONTEXT),
        epr("AMT_PublicKeyCertificate", "InstanceID", cert_id),
        epr(SERVICE, "Name", service_name),
    );
    request(d, "Create", CONTEXT, &body).fault
}

fn enabled_state(d: &Device) -> String {
    let reply = request(d, "Get", SERVICE, "");
    assert_eq!(reply.fault, None, "{}", reply.xml);
    let start = reply.xml.find("EnabledState>").expect("EnabledState") + "EnabledState>".len();
    let end = reply.xml[start..].find('<').unwrap();
    reply.xml[start..start + end].to_string()
}

#[test]
fn a_create_over_ws_man_sets_the_signer_and_refusals_change_nothing() {
    let d = device("11.8");
    let (ca, key) = pki::self_signed_ca("Posture CA").unwrap();
    let leaf =
        pki::issue_certificate(&ca, &key, "posture", &[], &key, pki::Validity::Years(1)).unwrap();
    let cert = d.add_certificate(&leaf).unwrap();
    d.add_key(&key).unwrap();
    let cert_id = format!("Intel(r) AMT Certificate: Handle: {cert}");
    assert_eq!(enabled_state(&d), "3");

    let refused = [
        (
            create(&d, "Intel(r) AMT Certificate: Handle: 77", SERVICE_NAME),
            "unknown handle",
        ),
        (create(&d, "no handle", SERVICE_NAME), "malformed id"),
        (create(&d, &cert_id, "Another Service"), "another service"),
    ];
    for (fault, why) in refused {
        assert!(fault.is_some(), "{why}");
        assert_eq!(d.posture_signer(), None, "{why}");
    }
    assert_eq!(
        create(&d, "Intel(r) AMT Certificate: Handle: 77", SERVICE_NAME),
        Some(Fault::InternalError(2068))
    );
    assert_eq!(
        create(&d, &cert_id, "Another Service"),
        Some(Fault::InvalidParameter)
    );
    assert_eq!(enabled_state(&d), "3");

    assert_eq!(create(&d, &cert_id, SERVICE_NAME), None);
    assert_eq!(d.posture_signer(), Some(cert));
    assert_eq!(enabled_state(&d), "2");
    assert_eq!(
        create(&d, &cert_id, SERVICE_NAME),
        Some(Fault::AlreadyExists)
    );
}
