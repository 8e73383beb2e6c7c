//! The hash table over the wire: what a console sends, what comes back,
//! and that every refusal leaves the table and the hello as they were.

use super::*;
use crate::{WsmanState, handle};
use amtemu_model::device::provisioning::pki_hello;
use amtemu_model::device::users::Caller;
use amtemu_model::testing::device;
use amtemu_wire::hello::HelloBody;

const URI: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_ProvisioningCertificateHash";
const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/";

fn request(action: &str, selectors: &str, body: &str) -> String {
    format!(
        r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{TRANSFER}{action}</a:Action><w:ResourceURI>{URI}</w:ResourceURI><a:MessageID>1</a:MessageID>{selectors}</Header><Body>{body}</Body></Envelope>"#
    )
}

fn selector(id: &str) -> String {
    format!(r#"<w:SelectorSet><w:Selector Name="InstanceID">{id}</w:Selector></w:SelectorSet>"#)
}

/// MeshCommander's Create body (meshcmd.js `performAmtTrustedHashesEx2`).
fn create_body(props: &str) -> String {
    format!(
        r#"<h:AMT_ProvisioningCertificateHash xmlns:h="{URI}">{props}</h:AMT_ProvisioningCertificateHash>"#
    )
}

fn mesh_create(hash: &[u8], hash_type: u8) -> String {
    create_body(&format!(
        "<h:Description>Test root</h:Description><h:Enabled>true</h:Enabled><h:HashData>{}</h:HashData><h:HashType>{hash_type}</h:HashType><h:InstanceID></h:InstanceID><h:IsDefault>false</h:IsDefault>",
        BASE64.encode(hash)
    ))
}

fn hello_hashes(d: &Device) -> Vec<Vec<u8>> {
    match d.with_state(|s| pki_hello(&s.nvram.provisioning.trusted_hashes)) {
        HelloBody::Pki { hashes } => hashes.into_iter().map(|(_, h)| h).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn create_put_and_delete_change_the_next_hello() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());
    let mine = [0xABu8; 32];

    let reply = send(request("Create", "", &mesh_create(&mine, 2)));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(reply.may_have_changed_state());
    let id = d
        .provisioning_hashes()
        .into_iter()
        .find(|e| e.entry.hash == mine)
        .map(|e| instance_id(e.handle))
        .expect("the hash was added");
    assert!(reply.xml.contains(&id), "{}", reply.xml);
    assert!(hello_hashes(&d).contains(&mine.to_vec()));

    let reply = send(request("Get", &selector(&id), ""));
    assert!(
        reply.xml.contains("<h:HashType>2</h:HashType>") || reply.xml.contains(">2</"),
        "{}",
        reply.xml
    );
    assert!(reply.xml.contains(&BASE64.encode(mine)));

    // A second Create of the same hash: AlreadyExists, as AMT 15 answers.
    let reply = send(request("Create", "", &mesh_create(&mine, 2)));
    assert_eq!(reply.fault, Some(Fault::AlreadyExists));

    // Put Enabled=false takes it out of the hello, true puts it back.
    let put = |enabled: &str| {
        request(
            "Put",
            &selector(&id),
            &create_body(&format!(
                "<h:Enabled>{enabled}</h:Enabled><h:HashData>{}</h:HashData><h:HashType>2</h:HashType><h:InstanceID>{id}</h:InstanceID><h:IsDefault>false</h:IsDefault>",
                BASE64.encode(mine)
            )),
        )
    };
    assert!(send(put("false")).fault.is_none());
    assert!(!hello_hashes(&d).contains(&mine.to_vec()));
    assert!(send(put("true")).fault.is_none());
    assert!(hello_hashes(&d).contains(&mine.to_vec()));

    // Delete removes it; deleting it again names nothing.
    assert!(send(request("Delete", &selector(&id), "")).fault.is_none());
    assert!(!hello_hashes(&d).contains(&mine.to_vec()));
    assert_eq!(
        send(request("Delete", &selector(&id), "")).fault,
        Some(Fault::InvalidSelectors)
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let d = device("15.0");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());
    let before = d.provisioning_hashes();
    let hello = hello_hashes(&d);
    let sha256 = BASE64.encode([1u8; 32]);
    let creates = [
        // wrong types
        format!("<h:HashData>{sha256}</h:HashData><h:HashType>two</h:HashType>"),
        format!(
            "<h:HashData>{sha256}</h:HashData><h:HashType>2</h:HashType><h:Enabled>maybe</h:Enabled>"
        ),
        "<h:HashData>not base64!</h:HashData><h:HashType>2</h:HashType>".to_string(),
        // out of range: MD5 (0) and unknown algorithms, lengths, names
        format!("<h:HashData>{sha256}</h:HashData><h:HashType>0</h:HashType>"),
        format!("<h:HashData>{sha256}</h:HashData><h:HashType>4</h:HashType>"),
        format!("<h:HashData>{sha256}</h:HashData><h:HashType>-1</h:HashType>"),
        format!("<h:HashData>{sha256}</h:HashData><h:HashType>1</h:HashType>"),
        format!(
            "<h:HashData>{sha256}</h:HashData><h:HashType>2</h:HashType><h:Description>{}</h:Description>",
            "n".repeat(33)
        ),
        // missing data, and a client claiming a factory default
        "<h:HashType>2</h:HashType>".to_string(),
        format!("<h:HashData>{sha256}</h:HashData>"),
        format!(
            "<h:HashData>{sha256}</h:HashData><h:HashType>2</h:HashType><h:IsDefault>true</h:IsDefault>"
        ),
    ];
    for props in creates {
        let reply = send(request("Create", "", &create_body(&props)));
        assert_eq!(reply.fault, Some(Fault::InvalidRepresentation), "{props}");
    }
    let first = instance_id(before[0].handle);
    let put = request(
        "Put",
        &selector(&first),
        &create_body("<h:Enabled>sometimes</h:Enabled>"),
    );
    assert_eq!(send(put).fault, Some(Fault::InvalidRepresentation));
    // Unknown selectors, for every operation that takes them.
    for bad in [selector(&format!("{ID}999")), selector("nonsense")] {
        for action in ["Get", "Delete"] {
            let reply = send(request(action, &bad, ""));
            assert_eq!(reply.fault, Some(Fault::InvalidSelectors), "{action} {bad}");
        }
        let reply = send(request(
            "Put",
            &bad,
            &create_body("<h:Enabled>false</h:Enabled>"),
        ));
        assert_eq!(reply.fault, Some(Fault::InvalidSelectors), "Put {bad}");
    }
    // Delete needs a selector (a Get without one reads the first entry).
    assert_eq!(
        send(request("Delete", "", "")).fault,
        Some(Fault::InvalidSelectors)
    );
    let wrong_key = r#"<w:SelectorSet><w:Selector Name="Name">x</w:Selector></w:SelectorSet>"#;
    assert_eq!(
        send(request("Get", wrong_key, "")).fault,
        Some(Fault::InvalidSelectors)
    );
    // A full table.
    for i in 0..amtemu_model::device::cert_hashes::MAX_CUSTOM_HASHES {
        assert!(
            send(request("Create", "", &mesh_create(&[i as u8 + 10; 20], 1)))
                .fault
                .is_none()
        );
    }
    let full = send(request("Create", "", &mesh_create(&[99; 48], 3)));
    assert_eq!(
        full.fault,
        Some(Fault::InternalError(PtStatus::MaxLimitReached.into()))
    );
    let added = d.provisioning_hashes().len() - before.len();
    assert_eq!(added, amtemu_model::device::cert_hashes::MAX_CUSTOM_HASHES);
    assert_eq!(&d.provisioning_hashes()[..before.len()], &before[..]);
    assert!(hello_hashes(&d).starts_with(&hello));
}
