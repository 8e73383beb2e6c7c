//! The framing of amtemu's HTTP answers against responses captured from
//! real firmware (`tests/data/fixtures/http/`, see the README there): each
//! fixture's request goes to a device of the fixture's profile, and the
//! status line, header names (exact case), header order, chunking and
//! whether the connection stays open must be the firmware's. Only nonces,
//! dates, realms, lengths and the version in `Server` may differ.

mod support;

use std::io::{BufReader, Cursor, Read, Write};
use std::net::TcpStream;

use support::*;

fn fixture(name: &str) -> Response {
    let path = repo().join("tests/data/fixtures/http").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = BufReader::new(Cursor::new(bytes));
    let r = read_response(&mut reader).expect("a fixture parses as HTTP");
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{name}: bytes after the response");
    r
}

/// The digest challenge with its per-device values masked.
fn challenge_shape(www: &str) -> String {
    let mut shape = www.to_string();
    for name in ["realm", "nonce"] {
        if let Some(v) = challenge_param(www, name) {
            shape = shape.replace(&v, &format!("<{name}>"));
        }
    }
    shape
}

fn is_http_date(v: &str) -> bool {
    // IMF-fixdate: `Mon, 31 Jan 2022 10:23:04 GMT`.
    let b = v.as_bytes();
    v.len() == 29 && b[3] == b',' && v.ends_with(" GMT") && b[19] == b':' && b[22] == b':'
}

/// Four upper-case hex digits (`02FA`); how large a chunk is counts as a
/// length (the captured fault came in one 0x4CC chunk, the 200 in chunks
/// of at most 0x2FA).
fn firmware_chunk_size(s: &str) -> bool {
    s.len() == 4
        && s.chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
        && usize::from_str_radix(s, 16).is_ok_and(|n| n > 0)
}

/// Asserts that `ours` is framed as `theirs`, naming the first difference.
fn assert_same_framing(what: &str, theirs: &Response, ours: &Response) {
    let line = |r: &Response| r.head.lines().next().unwrap_or("").to_string();
    assert_eq!(line(ours), line(theirs), "{what}: status line");
    let names = |r: &Response| r.headers.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(ours), names(theirs), "{what}: header names and order");
    for ((name, fv), (_, ov)) in theirs.headers.iter().zip(&ours.headers) {
        match name.to_ascii_lowercase().as_str() {
            "date" => assert!(is_http_date(ov) && is_http_date(fv), "{what}: Date {ov:?}"),
            "server" => {
                let prefix = "Intel(R) Active Management Technology ";
                assert!(fv.starts_with(prefix), "{what}: fixture Server {fv:?}");
                let version = ov.strip_prefix(prefix).unwrap_or("");
                let parts: Vec<_> = version.split('.').collect();
                assert!(
                    (3..=4).contains(&parts.len())
                        && parts.iter().all(|p| p.parse::<u32>().is_ok()),
                    "{what}: Server {ov:?}"
                );
            }
            "content-length" => assert_eq!(ov, &ours.body.len().to_string(), "{what}"),
            "www-authenticate" => {
                assert_eq!(
                    challenge_shape(ov),
                    challenge_shape(fv),
                    "{what}: challenge"
                )
            }
            _ => assert_eq!(ov, fv, "{what}: {name}"),
        }
    }
    assert_eq!(
        ours.chunk_sizes.is_empty(),
        theirs.chunk_sizes.is_empty(),
        "{what}: chunked or not"
    );
    for r in [theirs, ours] {
        if let Some((last, data)) = r.chunk_sizes.split_last() {
            assert_eq!(last, "0", "{what}: the last chunk");
            assert!(
                data.iter().all(|s| firmware_chunk_size(s)),
                "{what}: chunk sizes {:?}",
                r.chunk_sizes
            );
        }
    }
}

/// Sends `request` on a fresh connection and reads the answer; then
/// whether the device closed the connection (`true`) or still serves it
/// (another request on it is answered).
fn exchange(emu: &Emulator, request: &[u8]) -> (Response, bool) {
    let mut s = Client::connect(emu.addr);
    s.write_all(request).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let r = read_response(&mut reader).expect("an answer");
    (r, connection_closed(&mut s, reader))
}

fn connection_closed(s: &mut TcpStream, mut reader: BufReader<TcpStream>) -> bool {
    // A probe the device answers if it still reads this connection.
    let probe = b"GET /logon.htm HTTP/1.1\r\nHost: amt\r\n\r\n";
    if s.write_all(probe).is_err() {
        return true;
    }
    match read_response(&mut reader) {
        Ok(r) => {
            assert_eq!(r.status, 200, "the probe on a kept connection");
            false
        }
        Err(_) => true,
    }
}

fn authorized_post(c: &mut Client, body: &str, chunked_like_rps: bool) -> Vec<u8> {
    if c.nonce.is_none() {
        c.challenge();
    }
    let auth = c.authorization("POST", "/wsman");
    if !chunked_like_rps {
        return c.request_bytes(body, Some(&auth));
    }
    // RPS's framing (HttpHandler.wrapIt): one upper-case hex chunk.
    format!(
        "POST /wsman HTTP/1.1\r\nAuthorization: {auth}\r\nHost: 88888888-4444-4444-4444-121212121212:16992\r\nTransfer-Encoding: chunked\r\n\r\n{:X}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    )
    .into_bytes()
}

#[test]
fn the_401_challenge_is_framed_as_on_11_8() {
    let theirs = fixture("amt11.8-http401-digest-challenge.http");
    let emu = Emulator::start(&["--firmware", "11.8"]);
    let request = emu
        .client()
        .request_bytes(&envelope_get("AMT_GeneralSettings", "0"), None);
    let (ours, closed) = exchange(&emu, &request);
    assert_same_framing("401", &theirs, &ours);
    // The page is the firmware's, byte for byte.
    assert_eq!(ours.text(), theirs.text());
    assert!(closed, "firmware closes after a 401");
}

#[test]
fn a_get_is_framed_as_on_15_0_and_keeps_the_connection() {
    let theirs = fixture("amt15-http200-chunked-AMT_GeneralSettings-get.http");
    let emu = Emulator::start(&["--firmware", "15.0"]);
    let mut c = emu.client();
    for rps in [false, true] {
        let request = authorized_post(&mut c, &envelope_get("AMT_GeneralSettings", "0"), rps);
        let (ours, closed) = exchange(&emu, &request);
        assert_same_framing("200", &theirs, &ours);
        assert!(!closed, "a 200 keeps the connection (rps framing: {rps})");
        // The same properties, in the same order, as the captured instance.
        assert_eq!(
            element_names(&ours.text()),
            element_names(&theirs.text()),
            "AMT_GeneralSettings on 15.0"
        );
    }
}

/// The fixture's request: a Create that would duplicate an instance. A
/// provisioning hash the device already holds is one (MeshCommander's
/// Create body).
fn duplicate_hash_create() -> String {
    let uri = class_uri("AMT_ProvisioningCertificateHash");
    // The first factory root (DigiCert Global Root CA), SHA-256.
    let hash = "Q0ig6URMeMsmXgWNXolEtNhPlmK9Jtslf4k0pEPHAWE=";
    let body = format!(
        r#"<h:AMT_ProvisioningCertificateHash xmlns:h="{uri}"><h:Description>dup</h:Description><h:Enabled>true</h:Enabled><h:HashData>{hash}</h:HashData><h:HashType>2</h:HashType><h:InstanceID></h:InstanceID><h:IsDefault>false</h:IsDefault></h:AMT_ProvisioningCertificateHash>"#
    );
    envelope(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
        "AMT_ProvisioningCertificateHash",
        "31",
        "",
        &body,
    )
}

#[test]
fn a_fault_is_framed_as_on_15_0_and_closes() {
    let theirs = fixture("amt15-http400-chunked-fault-AlreadyExists.http");
    let emu = Emulator::start(&["--firmware", "15.0"]);
    let mut c = emu.client();
    let request = authorized_post(&mut c, &duplicate_hash_create(), false);
    let (ours, closed) = exchange(&emu, &request);
    assert_same_framing("400", &theirs, &ours);
    assert!(closed, "firmware closes after a fault");
    // The same fault, not only the same framing.
    assert_eq!(
        element_texts(&ours.text(), "Value"),
        element_texts(&theirs.text(), "Value")
    );
    assert_eq!(
        element_text(&ours.text(), "Text"),
        element_text(&theirs.text(), "Text")
    );
}

#[test]
fn the_root_redirect_is_framed_as_on_7() {
    let theirs = fixture("amt7-http303-root-redirect.http");
    let emu = Emulator::start(&["--firmware", "7.0"]);
    let (ours, closed) = exchange(&emu, b"GET / HTTP/1.1\r\nHost: amt\r\n\r\n");
    assert_same_framing("303", &theirs, &ours);
    assert!(ours.body.is_empty());
    assert!(!closed, "a redirect keeps the connection");
}

/// The local names of the elements inside the body's first instance, in
/// order (the envelope and header are left out).
fn element_names(xml: &str) -> Vec<String> {
    let body = xml.split("Body>").nth(1).unwrap_or("");
    body.split('<')
        .skip(2)
        .filter(|t| !t.starts_with('/'))
        .filter_map(|t| t.split(['>', ' ', '/']).next())
        .map(|n| n.rsplit(':').next().unwrap_or(n).to_string())
        .collect()
}
