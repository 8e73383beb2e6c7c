//! Kerberos with real parts: a Samba AD domain controller on loopback
//! (`tests/clients/samba-ad.sh`) issues the tickets, MIT's `kinit` and
//! `curl --negotiate` present them to the real `amtemu` binary, configured
//! over WS-Man as a console does (AMT_KerberosSettingData, then
//! AddUserAclEntryEx with the user's SID). The device's key is derived from
//! the service account's password and salt, as Intel's tools configure it.
//! Skips without samba/kinit/curl unless AMTEMU_REQUIRE_CLIENTS=1.

mod support;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use support::*;

/// A Samba KDC of the test's own; stopped and removed on drop.
struct Kdc {
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl Kdc {
    fn start() -> Option<Kdc> {
        let found = ["samba", "samba-tool", "kinit", "curl"]
            .iter()
            .all(|t| which(t));
        if !client_available(found, "samba, samba-tool, kinit (krb5-user) and curl") {
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "amtemu-kdc-{}-{}",
            std::process::id(),
            unique_address()
        ));
        // Free loopback ports for the KDC and kpasswd (88 and 464 may be
        // taken, by another run or a system samba).
        let free = || {
            TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port().to_string())
                .unwrap()
        };
        let status = Command::new(repo().join("tests/clients/samba-ad.sh"))
            .args(["start", dir.to_str().unwrap(), &free(), &free()])
            .status()
            .expect("samba-ad.sh runs");
        // Stopped and removed on drop, even when it did not start.
        let mut kdc = Kdc {
            env: HashMap::new(),
            dir,
        };
        assert!(status.success(), "the Samba KDC did not start");
        let env = std::fs::read_to_string(kdc.dir.join("env")).unwrap();
        kdc.env = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        Some(kdc)
    }

    fn var(&self, name: &str) -> &str {
        &self.env[name]
    }

    /// A ticket cache with `user`'s TGT, from `kinit`.
    fn kinit(&self, user: &str, password: &str) -> PathBuf {
        let cache = self.dir.join(format!("cc-{user}"));
        let mut child = Command::new("kinit")
            .arg(format!("{user}@{}", self.var("REALM")))
            .env("KRB5_CONFIG", self.dir.join("krb5.conf"))
            .env("KRB5CCNAME", format!("FILE:{}", cache.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        assert!(child.wait().unwrap().success(), "kinit {user}");
        cache
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/clients/samba-ad.sh"))
            .args(["stop", self.dir.to_str().unwrap()])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `S-1-5-21-…` in AMT's KerberosUserSid form (the binary SID).
fn sid_bytes(text: &str) -> Vec<u8> {
    let parts: Vec<u64> = text
        .strip_prefix("S-")
        .unwrap()
        .split('-')
        .map(|p| p.parse().unwrap())
        .collect();
    let mut out = vec![parts[0] as u8, (parts.len() - 2) as u8];
    out.extend(&parts[1].to_be_bytes()[2..]);
    for sub in &parts[2..] {
        out.extend((*sub as u32).to_le_bytes());
    }
    out
}

/// Kerberos on, with the service account's key (passphrase and salt).
fn configure_kerberos(admin: &mut Client, kdc: &Kdc) {
    let class = "AMT_KerberosSettingData";
    let uri = class_uri(class);
    let host = kdc.var("HOST");
    let body = format!(
        r#"<r:{class} xmlns:r="{uri}"><r:ElementName>Intel(r) AMT: Kerberos Settings</r:ElementName><r:InstanceID>Intel(r) AMT: Kerberos Settings</r:InstanceID><r:RealmName>{realm}</r:RealmName><r:ServicePrincipalName>HTTP/{host}:16992</r:ServicePrincipalName><r:ServicePrincipalName>HTTP/{host}:16993</r:ServicePrincipalName><r:ServicePrincipalProtocol>0</r:ServicePrincipalProtocol><r:ServicePrincipalProtocol>1</r:ServicePrincipalProtocol><r:KeyVersion>{kvno}</r:KeyVersion><r:EncryptionAlgorithm>0</r:EncryptionAlgorithm><r:Passphrase>{pass}</r:Passphrase><r:Salt>{salt}</r:Salt><r:MaximumClockTolerance>5</r:MaximumClockTolerance><r:KrbEnabled>true</r:KrbEnabled></r:{class}>"#,
        realm = kdc.var("REALM"),
        kvno = kdc.var("SVC_KVNO"),
        pass = kdc.var("SVC_PASS"),
        salt = kdc.var("SVC_SALT"),
    );
    let id = admin.next_message_id();
    let r = admin.post(&envelope(ACTION_PUT, class, &id, "", &body));
    assert_eq!(r.status, 200, "{}", r.text());
    let settings = admin.get(class).text();
    assert_eq!(
        element_text(&settings, "KrbEnabled").as_deref(),
        Some("true")
    );
    // The key material is write-only.
    assert!(!settings.contains(kdc.var("SVC_PASS")));
}

/// AddUserAclEntryEx for a SID with realms; the handle.
fn add_kerberos_entry(admin: &mut Client, sid: &str, realms: &[u8]) -> String {
    let blob = base64::engine::general_purpose::STANDARD.encode(sid_bytes(sid));
    let realms: String = realms
        .iter()
        .map(|r| format!("<h:Realms>{r}</h:Realms>"))
        .collect();
    let r = admin.invoke(
        "AMT_AuthorizationService",
        "AddUserAclEntryEx",
        "",
        &format!(
            "<h:KerberosUserSid>{blob}</h:KerberosUserSid><h:AccessPermission>2</h:AccessPermission>{realms}"
        ),
    );
    let xml = r.text();
    assert_eq!(
        element_text(&xml, "ReturnValue").as_deref(),
        Some("0"),
        "{xml}"
    );
    element_text(&xml, "Handle").unwrap()
}

/// What curl saw: its exit status, the final HTTP status and body, and
/// its verbose log (headers).
struct CurlResult {
    exit: i32,
    status: u16,
    body: String,
    log: String,
}

/// `curl --negotiate -u :` with a ticket cache, a WS-Man request to the
/// device by its FQDN (resolved to its loopback address by curl itself).
fn curl_negotiate(kdc: &Kdc, cache: &Path, device: SocketAddr, body: &str) -> CurlResult {
    curl_negotiate_to(kdc, kdc.var("HOST"), cache, device, body)
}

fn curl_negotiate_to(
    kdc: &Kdc,
    host: &str,
    cache: &Path,
    device: SocketAddr,
    body: &str,
) -> CurlResult {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-v",
            "--negotiate",
            "-u",
            ":",
            "--resolve",
            &format!("{host}:{}:{}", device.port(), device.ip()),
            "-H",
            "Content-Type: application/soap+xml;charset=UTF-8",
            "--data-binary",
            body,
            "-w",
            "\n%{http_code}",
            &format!("http://{host}:{}/wsman", device.port()),
        ])
        .env("KRB5_CONFIG", kdc.dir.join("krb5.conf"))
        .env("KRB5CCNAME", format!("FILE:{}", cache.display()))
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    CurlResult {
        exit: out.status.code().unwrap_or(-1),
        status: status.trim().parse().unwrap_or(0),
        body: body.to_string(),
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A Kerberos GSS token for `spn` from a ticket cache (python-gssapi).
fn gss_token(kdc: &Kdc, cache: &Path, spn: &str) -> Vec<u8> {
    let out = Command::new(clients_prefix().join("venv/bin/python"))
        .arg(repo().join("tests/clients/gss_token.py"))
        .arg(spn)
        .env("KRB5_CONFIG", kdc.dir.join("krb5.conf"))
        .env("KRB5CCNAME", format!("FILE:{}", cache.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap()
}

/// StartRedirectionSession (SOL), the authentication query, then
/// AuthenticateSession type 2 with `token`: the methods offered and the
/// login's status (0 success, 1 failure).
fn redirection_login(addr: SocketAddr, token: &[u8]) -> (Vec<u8>, u8) {
    use std::io::{Read, Write};
    let read = |s: &mut std::net::TcpStream, n: usize| {
        let mut b = vec![0; n];
        s.read_exact(&mut b).unwrap();
        b
    };
    // The previous call's session may still be closing on the device (the
    // client only dropped its socket): busy (2) is the firmware's answer
    // then, so ask again for a while.
    let mut attempts = 0;
    let mut s = loop {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        s.write_all(b"\x10\0\0\0SOL ").unwrap();
        let status = read(&mut s, 13)[..2].to_vec();
        attempts += 1;
        if status == [0x11, 2] && attempts < 100 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        assert_eq!(status, [0x11, 0]);
        break s;
    };
    s.write_all(&[0x13, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    let head = read(&mut s, 9);
    let methods = read(&mut s, head[5] as usize);
    let mut msg = vec![0x13, 0, 0, 0, 2];
    msg.extend((token.len() as u32).to_le_bytes());
    msg.extend(token);
    s.write_all(&msg).unwrap();
    let reply = read(&mut s, 9);
    assert_eq!((reply[0], reply[4]), (0x14, 2));
    (methods, reply[1])
}

#[test]
fn ad_users_log_in_with_kerberos_by_the_sids_in_their_tickets() {
    let Some(kdc) = Kdc::start() else { return };
    let emu = Emulator::start(&[]);
    let mut admin = emu.client();

    // Before Kerberos is on, a 401 offers Digest only.
    let first = admin.challenge();
    assert_eq!(first.status, 401);
    let offers = |r: &Response| {
        r.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"))
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert!(!offers(&first).iter().any(|v| v.starts_with("Negotiate")));

    configure_kerberos(&mut admin, &kdc);
    // Bob's own SID may read general information, and so may the members
    // of the group amtops (Eve, by a group SID in her PAC), who may also
    // use redirection. Mallory is in no entry.
    add_kerberos_entry(&mut admin, kdc.var("BOB_SID"), &[13]);
    // The group may use redirection too (realm 2); Bob may not.
    add_kerberos_entry(&mut admin, kdc.var("AMTOPS_SID"), &[2, 13]);

    let mut fresh = Client::new(emu.addr, USER, PASSWORD);
    let challenge = fresh.challenge();
    let offered = offers(&challenge);
    assert!(offered[0].starts_with("Digest "), "{offered:?}");
    assert!(offered.iter().any(|v| v == "Negotiate"), "{offered:?}");

    // Bob: kinit, then curl asks the KDC for HTTP/amt.vpro.test and the
    // device accepts the ticket, maps his SIDs and answers the Get; the
    // 200 carries the AP-REP that curl checks (mutual authentication).
    let bob = kdc.kinit("bob", kdc.var("BOB_PASS"));
    let get = envelope_get("AMT_GeneralSettings", "1");
    let r = curl_negotiate(&kdc, &bob, emu.addr, &get);
    assert_eq!((r.exit, r.status), (0, 200), "{}\n{}", r.body, r.log);
    assert!(r.body.contains("AMT_GeneralSettings"), "{}", r.body);
    assert!(
        r.log.contains("< WWW-Authenticate: Negotiate "),
        "{}",
        r.log
    );

    // His realms are those of his entries: not PT Administration.
    let admin_only = envelope_get("AMT_KerberosSettingData", "2");
    let r = curl_negotiate(&kdc, &bob, emu.addr, &admin_only);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("AccessDenied"), "{}", r.body);

    // Eve logs in by her group's entry.
    let eve = kdc.kinit("eve", kdc.var("EVE_PASS"));
    let r = curl_negotiate(&kdc, &eve, emu.addr, &get);
    assert_eq!((r.exit, r.status), (0, 200), "{}\n{}", r.body, r.log);

    // pywinrm with its Kerberos transport (requests-kerberos, mutual
    // authentication required) as Bob.
    let python = clients_prefix().join("venv/bin/python");
    let has_pywinrm = Command::new(&python)
        .args(["-c", "import winrm, gssapi"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if client_available(has_pywinrm, "pywinrm[kerberos]") {
        let envelope = kdc.dir.join("get.xml");
        std::fs::write(&envelope, &get).unwrap();
        let mut cmd = Command::new(&python);
        cmd.arg(repo().join("tests/clients/pywinrm_kerberos.py"))
            .args([
                kdc.var("HOST"),
                &emu.addr.ip().to_string(),
                &emu.addr.port().to_string(),
            ])
            .arg(&envelope)
            .env("KRB5_CONFIG", kdc.dir.join("krb5.conf"))
            .env("KRB5CCNAME", format!("FILE:{}", bob.display()));
        let verdict = run_driver(cmd);
        assert_eq!(verdict["ok"], true, "{verdict}");
        assert!(
            verdict["reply"]
                .as_str()
                .unwrap()
                .contains("AMT_GeneralSettings")
        );
    }

    // Redirection (16994), authentication type 2: the query lists it, Eve's
    // ticket for HTTP/<host>:16994 opens a SOL session, the same token again
    // is a replay, and Bob's valid ticket lacks the redirection realm.
    if has_pywinrm {
        let redirection = SocketAddr::new(emu.addr.ip(), 16994);
        let spn = format!("HTTP/{}:16994@{}", kdc.var("HOST"), kdc.var("REALM"));
        let eve_token = gss_token(&kdc, &eve, &spn);
        let (methods, status) = redirection_login(redirection, &eve_token);
        assert!(methods.contains(&2), "{methods:?}");
        assert_eq!(status, 0, "Eve's SOL login");
        assert_eq!(redirection_login(redirection, &eve_token).1, 1, "a replay");
        let bob_token = gss_token(&kdc, &bob, &spn);
        assert_eq!(redirection_login(redirection, &bob_token).1, 1, "no realm");
    }

    // A device keyed the classic way, by MasterKey (the NT hash of the
    // service account's password): the KDC issues RC4-HMAC tickets for it.
    let rc4 = Emulator::start(&[]);
    let mut rc4_admin = rc4.client();
    let class = "AMT_KerberosSettingData";
    let master_key = base64::engine::general_purpose::STANDARD
        .encode(amtemu_server::kerberos::keys::nt_hash(kdc.var("RC4_PASS")));
    let body = format!(
        r#"<r:{class} xmlns:r="{}"><r:InstanceID>Intel(r) AMT: Kerberos Settings</r:InstanceID><r:RealmName>{}</r:RealmName><r:EncryptionAlgorithm>0</r:EncryptionAlgorithm><r:MasterKey>{master_key}</r:MasterKey><r:MaximumClockTolerance>5</r:MaximumClockTolerance><r:KrbEnabled>true</r:KrbEnabled></r:{class}>"#,
        class_uri(class),
        kdc.var("REALM"),
    );
    let id = rc4_admin.next_message_id();
    let r = rc4_admin.post(&envelope(ACTION_PUT, class, &id, "", &body));
    assert_eq!(r.status, 200, "{}", r.text());
    add_kerberos_entry(&mut rc4_admin, kdc.var("BOB_SID"), &[13]);
    let r = curl_negotiate_to(&kdc, kdc.var("RC4_HOST"), &bob, rc4.addr, &get);
    assert_eq!((r.exit, r.status), (0, 200), "{}\n{}", r.body, r.log);
    // The AES device does not take the RC4 device's tickets.
    let r = curl_negotiate_to(&kdc, kdc.var("RC4_HOST"), &bob, emu.addr, &get);
    assert_eq!(r.status, 401, "{}", r.body);

    // Mallory holds a valid ticket, but no SID of hers is in the ACL: 401,
    // offering Digest and Negotiate again.
    let mallory = kdc.kinit("mallory", kdc.var("MALLORY_PASS"));
    let r = curl_negotiate(&kdc, &mallory, emu.addr, &get);
    assert_eq!(r.status, 401, "{}\n{}", r.body, r.log);
    assert!(r.log.contains("< WWW-Authenticate: Digest "), "{}", r.log);

    // Digest keeps working beside Kerberos.
    assert_eq!(admin.get("AMT_GeneralSettings").status, 200);

    // Kerberos off: Bob's ticket no longer opens the device.
    let r = admin.put_edited(
        "AMT_KerberosSettingData",
        "<r:KrbEnabled>true</r:KrbEnabled>",
        "<r:KrbEnabled>false</r:KrbEnabled>",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = curl_negotiate(&kdc, &bob, emu.addr, &get);
    assert_eq!(r.status, 401, "{}", r.body);
}

#[test]
fn garbage_negotiate_tokens_get_401_and_the_device_keeps_serving() {
    let emu = Emulator::start(&[]);
    let mut admin = emu.client();
    // Kerberos on with some key; no KDC needed to refuse garbage.
    let class = "AMT_KerberosSettingData";
    let body = format!(
        r#"<r:{class} xmlns:r="{}"><r:InstanceID>Intel(r) AMT: Kerberos Settings</r:InstanceID><r:RealmName>VPRO.TEST</r:RealmName><r:Passphrase>x</r:Passphrase><r:Salt>VPRO.TESTx</r:Salt><r:MaximumClockTolerance>5</r:MaximumClockTolerance><r:KrbEnabled>true</r:KrbEnabled></r:{class}>"#,
        class_uri(class)
    );
    let id = admin.next_message_id();
    assert_eq!(
        admin
            .post(&envelope(ACTION_PUT, class, &id, "", &body))
            .status,
        200
    );
    let get = envelope_get("AMT_GeneralSettings", "1");
    for token in [
        "",
        "!!!not base64!!!",
        "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==",
        "YIIBAAYGKwYBBQUCoA",
        "YAYGBisGAQUFAg==",
        &"A".repeat(40_000),
    ] {
        let auth = format!("Negotiate {token}");
        let bytes = admin.request_bytes(&get, Some(&auth));
        let r = Client::raw(emu.addr, &bytes).unwrap();
        assert_eq!(r.status, 401, "token {token:.40}");
        let offers: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"))
            .collect();
        assert_eq!(offers.len(), 2, "Digest and Negotiate offered");
    }
    // The device and its digest users are unaffected.
    assert_eq!(admin.get("AMT_GeneralSettings").status, 200);
}
