//! Helpers for black-box tests: start the real `amtemu` binary on a loopback
//! address of its own, and talk to it with a raw HTTP/1.1 + Digest client so
//! tests see exactly the bytes a real client would.

#![allow(dead_code)]

pub mod legacy_tls;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const USER: &str = "admin";
pub const PASSWORD: &str = "P@ssw0rd";

/// A loopback address no other test in this run uses: 127.<pid-derived>.<n>.
pub fn unique_address() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    Ipv4Addr::new(
        127,
        100 + (pid % 100) as u8,
        (pid / 100 % 250) as u8 + 1,
        (n % 250) as u8 + 1,
    )
}

/// A running emulator; killed on drop.
pub struct Emulator {
    child: Child,
    pub addr: SocketAddr,
}

impl Emulator {
    /// Starts `amtemu serve` on a fresh address with extra arguments and
    /// waits until it listens.
    pub fn start(extra: &[&str]) -> Emulator {
        Self::start_at(&unique_address().to_string(), extra)
    }

    /// Starts the emulator on a given loopback address (to restart a device
    /// where it was).
    pub fn start_at(ip: &str, extra: &[&str]) -> Emulator {
        let ip: Ipv4Addr = ip.parse().expect("an IPv4 address");
        let port = 16992;
        let mut args = vec![
            "serve".to_string(),
            "--bind".into(),
            ip.to_string(),
            "--http-port".into(),
            port.to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::launch(args, SocketAddr::from((ip, port)))
    }

    /// Runs `amtemu` with these arguments (plus the test CA) and waits until
    /// it says it is serving; `addr` is where its (first) device answers.
    pub fn launch(args: Vec<String>, addr: SocketAddr) -> Emulator {
        Self::launch_via(&[], args, addr)
    }

    /// [`Emulator::launch`] with the binary run by another program, e.g.
    /// `ip netns exec NS` (which execs it, so killing the child kills it).
    pub fn launch_via(wrapper: &[&str], mut args: Vec<String>, addr: SocketAddr) -> Emulator {
        // One CA for the whole test run, kept out of the user's home.
        args.extend([
            "--ca-dir".to_string(),
            concat!(env!("CARGO_TARGET_TMPDIR"), "/ca").to_string(),
        ]);
        // Faults the tests provoke on purpose are logged at info; keep the
        // test output to warnings unless asked for more.
        let log = std::env::var("AMTEMU_LOG").unwrap_or_else(|_| "amtemu=warn".into());
        let binary = env!("CARGO_BIN_EXE_amtemu");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(&args)
            .env("AMTEMU_LOG", log)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start amtemu");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut ready = false;
        while Instant::now() < deadline {
            match lines.next() {
                Some(Ok(line))
                    if line.contains("listening on")
                        || line.contains("nothing to serve")
                        || line.contains("ready in") =>
                {
                    ready = true;
                    break;
                }
                Some(_) => continue,
                None => break,
            }
        }
        assert!(ready, "amtemu did not start with {args:?}");
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Emulator { child, addr }
    }

    /// Kills the process without letting it save anything (SIGKILL).
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr, USER, PASSWORD)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One parsed HTTP response, with headers in the order they came.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Chunk sizes as written on the wire, for chunked bodies.
    pub chunk_sizes: Vec<String>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_names(&self) -> Vec<String> {
        self.headers
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn read_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Reads one response from a stream.
pub fn read_response(r: &mut impl BufRead) -> std::io::Result<Response> {
    let status_line = read_line(r)?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut head = status_line.clone() + "\r\n";
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        head.push_str(&line);
        head.push_str("\r\n");
        let (k, v) = line.split_once(':').unwrap_or((&line, ""));
        headers.push((k.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string()));
    }
    let mut resp = Response {
        status,
        head,
        headers,
        body: Vec::new(),
        chunk_sizes: Vec::new(),
    };
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let size_line = read_line(r)?;
            let size = usize::from_str_radix(size_line.trim(), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {size_line:?}")))?;
            resp.chunk_sizes.push(size_line);
            let mut chunk = vec![0; size];
            r.read_exact(&mut chunk)?;
            resp.body.extend_from_slice(&chunk);
            let _ = read_line(r); // the CRLF after the chunk (or the final one)
            if size == 0 {
                break;
            }
        }
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.trim().parse().unwrap_or(0);
        resp.body = vec![0; len];
        r.read_exact(&mut resp.body)?;
    }
    Ok(resp)
}

pub fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Pulls `name="value"` out of a challenge.
pub fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let end = challenge[start..].find('"')? + start;
    Some(challenge[start..end].to_string())
}

/// A WS-Man client that authenticates with Digest the way MeshCommander
/// does: one 401 round trip, then one nonce with an increasing nc on a
/// kept-alive connection.
pub struct Client {
    pub addr: SocketAddr,
    pub user: String,
    pub password: String,
    pub realm: Option<String>,
    pub nonce: Option<String>,
    pub nc: u32,
    conn: Option<BufReader<TcpStream>>,
    message_id: u32,
}

impl Client {
    pub fn new(addr: SocketAddr, user: &str, password: &str) -> Client {
        Client {
            addr,
            user: user.into(),
            password: password.into(),
            realm: None,
            nonce: None,
            nc: 0,
            conn: None,
            message_id: 0,
        }
    }

    pub fn connect(addr: SocketAddr) -> TcpStream {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s
    }

    /// Sends raw bytes on a fresh connection and reads one response.
    pub fn raw(addr: SocketAddr, bytes: &[u8]) -> std::io::Result<Response> {
        let mut s = Self::connect(addr);
        s.write_all(bytes)?;
        read_response(&mut BufReader::new(s))
    }

    pub fn authorization(&mut self, method: &str, uri: &str) -> String {
        self.nc += 1;
        let realm = self.realm.clone().unwrap_or_default();
        let nonce = self.nonce.clone().unwrap_or_default();
        self.authorization_with(method, uri, &realm, &nonce, self.nc, &self.password.clone())
    }

    pub fn authorization_with(
        &self,
        method: &str,
        uri: &str,
        realm: &str,
        nonce: &str,
        nc: u32,
        password: &str,
    ) -> String {
        let cnonce = "0a4f113b";
        let nc = format!("{nc:08x}");
        let ha1 = md5_hex(&format!("{}:{realm}:{password}", self.user));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
        format!(
            r#"Digest username="{}", realm="{realm}", nonce="{nonce}", uri="{uri}", qop=auth, nc={nc}, cnonce="{cnonce}", response="{response}""#,
            self.user
        )
    }

    pub fn request_bytes(&self, body: &str, authorization: Option<&str>) -> Vec<u8> {
        let mut req = format!(
            "POST /wsman HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(a) = authorization {
            req.push_str(&format!("Authorization: {a}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        req.into_bytes()
    }

    /// Learns realm and nonce from a 401 (on its own connection, which the
    /// device closes).
    pub fn challenge(&mut self) -> Response {
        let resp = Self::raw(
            self.addr,
            &self.request_bytes(&envelope_get("AMT_GeneralSettings", "0"), None),
        )
        .expect("challenge");
        assert_eq!(resp.status, 401);
        let www = resp
            .header("www-authenticate")
            .expect("challenge header")
            .to_string();
        self.realm = challenge_param(&www, "realm");
        self.nonce = challenge_param(&www, "nonce");
        self.nc = 0;
        resp
    }

    /// Sends one SOAP body with Digest on the kept-alive connection,
    /// authenticating first when needed.
    pub fn post(&mut self, body: &str) -> Response {
        if self.nonce.is_none() {
            self.challenge();
        }
        for _ in 0..3 {
            let auth = self.authorization("POST", "/wsman");
            let bytes = self.request_bytes(body, Some(&auth));
            let resp = self.send_on_connection(&bytes);
            match resp {
                Some(r) if r.status == 401 => {
                    let www = r.header("www-authenticate").unwrap_or_default().to_string();
                    self.nonce = challenge_param(&www, "nonce");
                    self.nc = 0;
                    self.conn = None;
                }
                Some(r) => {
                    if r.header("connection")
                        .is_some_and(|c| c.eq_ignore_ascii_case("close"))
                    {
                        self.conn = None;
                    }
                    return r;
                }
                None => self.conn = None,
            }
        }
        panic!("could not authenticate");
    }

    fn send_on_connection(&mut self, bytes: &[u8]) -> Option<Response> {
        if self.conn.is_none() {
            self.conn = Some(BufReader::new(Self::connect(self.addr)));
        }
        let conn = self.conn.as_mut()?;
        conn.get_mut().write_all(bytes).ok()?;
        read_response(conn).ok()
    }

    pub fn next_message_id(&mut self) -> String {
        self.message_id += 1;
        self.message_id.to_string()
    }

    pub fn get(&mut self, class: &str) -> Response {
        let id = self.next_message_id();
        self.post(&envelope_get(class, &id))
    }

    /// Enumerate + Pull until the end; returns the Pull bodies.
    pub fn enumerate(&mut self, class: &str) -> Vec<String> {
        let id = self.next_message_id();
        let r = self.post(&envelope(
            ACTION_ENUMERATE,
            class,
            &id,
            "",
            &format!(r#"<Enumerate xmlns="{ENUMERATION}" />"#),
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        let mut ctx = element_text(&r.text(), "EnumerationContext").expect("context");
        let mut pages = Vec::new();
        loop {
            let id = self.next_message_id();
            let r = self.post(&envelope(
                ACTION_PULL,
                class,
                &id,
                "",
                &format!(r#"<Pull xmlns="{ENUMERATION}"><EnumerationContext>{ctx}</EnumerationContext><MaxElements>999</MaxElements><MaxCharacters>99999</MaxCharacters></Pull>"#),
            ));
            assert_eq!(r.status, 200, "{}", r.text());
            let text = r.text();
            pages.push(text.clone());
            match element_text(&text, "EnumerationContext") {
                Some(next) => ctx = next,
                None => return pages,
            }
        }
    }

    /// The class's (single) instance as a Put body, round-tripped from a Get
    /// the way consoles do it: every property, in the client's own prefix.
    pub fn instance_for_put(&mut self, class: &str) -> String {
        let current = self.get(class).text();
        let start = current.find(&format!("<g:{class}>")).expect("the instance");
        let end = current.find("</a:Body>").expect("the body");
        current[start..end].replace("g:", "r:").replace(
            &format!("<r:{class}>"),
            &format!(r#"<r:{class} xmlns:r="{}">"#, class_uri(class)),
        )
    }

    /// Gets an instance, replaces `from` with `to` in it (both written with
    /// the `r:` prefix) and Puts it back.
    pub fn put_edited(&mut self, class: &str, from: &str, to: &str) -> Response {
        let body = self.instance_for_put(class).replace(from, to);
        let id = self.next_message_id();
        self.post(&envelope(ACTION_PUT, class, &id, "", &body))
    }

    pub fn invoke(&mut self, class: &str, method: &str, selectors: &str, args: &str) -> Response {
        let id = self.next_message_id();
        let uri = class_uri(class);
        self.post(&envelope(
            &format!("{uri}/{method}"),
            class,
            &id,
            selectors,
            &format!(r#"<h:{method}_INPUT xmlns:h="{uri}">{args}</h:{method}_INPUT>"#),
        ))
    }

    /// The host's power state as CIM_AssociatedPowerManagementService
    /// reports it (2 on, 8 soft-off, ...).
    pub fn power_state(&mut self) -> String {
        let r = self.get("CIM_AssociatedPowerManagementService");
        assert_eq!(r.status, 200, "{}", r.text());
        element_text(&r.text(), "PowerState").expect("PowerState")
    }

    /// CIM_PowerManagementService.RequestPowerStateChange for the managed
    /// system, as consoles send it.
    pub fn request_power(&mut self, state: u32) -> Response {
        self.invoke(
            "CIM_PowerManagementService",
            "RequestPowerStateChange",
            "",
            &format!("<h:PowerState>{state}</h:PowerState>{MANAGED_SYSTEM}"),
        )
    }
}

/// The managed system's reference, as RequestPowerStateChange takes it.
const MANAGED_SYSTEM: &str = r#"<h:ManagedElement><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="CreationClassName">CIM_ComputerSystem</Selector><Selector Name="Name">ManagedSystem</Selector></SelectorSet></ReferenceParameters></h:ManagedElement>"#;

/// The repository's root.
pub fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An OpenSSL configuration (for `OPENSSL_CONF`) that lets a real client
/// on this distribution speak TLS 1.0/1.1 and SHA-1 suites, as firmware up
/// to 11.x needs (tests/data/openssl-legacy.cnf says why).
pub fn legacy_openssl_conf() -> std::path::PathBuf {
    repo().join("tests/data/openssl-legacy.cnf")
}

/// Where `tests/clients/install.sh` puts the real clients.
pub fn clients_prefix() -> std::path::PathBuf {
    std::env::var_os("AMT_CLIENTS_PREFIX")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/amtemu-clients")
        })
}

/// Whether a real client is there; a missing one fails under
/// AMTEMU_REQUIRE_CLIENTS=1 (as `tests/run` sets) and skips otherwise.
pub fn client_available(found: bool, what: &str) -> bool {
    if !found && std::env::var("AMTEMU_REQUIRE_CLIENTS").as_deref() == Ok("1") {
        panic!("{what} is not installed (tests/clients/install.sh)");
    }
    if !found {
        eprintln!("skipping: {what} is not installed");
    }
    found
}

/// Runs a client driver; its last stdout line is its JSON verdict.
pub fn run_driver(mut cmd: Command) -> serde_json::Value {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("the driver runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

pub const ACTION_GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
pub const ACTION_PUT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put";
pub const ACTION_ENUMERATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
pub const ACTION_PULL: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
pub const ENUMERATION: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";

pub fn class_uri(class: &str) -> String {
    if class.starts_with("AMT_") {
        format!("http://intel.com/wbem/wscim/1/amt-schema/1/{class}")
    } else if class.starts_with("IPS_") {
        format!("http://intel.com/wbem/wscim/1/ips-schema/1/{class}")
    } else {
        format!("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/{class}")
    }
}

/// A request envelope in MeshCommander's form.
pub fn envelope(
    action: &str,
    class: &str,
    message_id: &str,
    header_extra: &str,
    body: &str,
) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope"><Header><a:Action>{action}</a:Action><a:To>/wsman</a:To><w:ResourceURI>{}</w:ResourceURI><a:MessageID>{message_id}</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout>{header_extra}</Header><Body>{body}</Body></Envelope>"#,
        class_uri(class)
    )
}

pub fn envelope_get(class: &str, message_id: &str) -> String {
    envelope(ACTION_GET, class, message_id, "", "")
}

/// The text of the first element with this local name (any prefix).
pub fn element_text(xml: &str, local: &str) -> Option<String> {
    let mut rest = xml;
    while let Some(pos) = rest.find('<') {
        rest = &rest[pos + 1..];
        let end = rest.find('>')?;
        let tag = &rest[..end];
        let name = tag.split_whitespace().next().unwrap_or("");
        let bare = name.rsplit(':').next().unwrap_or(name);
        if bare == local && !tag.starts_with('/') && !tag.ends_with('/') {
            let content = &rest[end + 1..];
            let close = content.find("</")?;
            return Some(content[..close].to_string());
        }
    }
    None
}

/// All texts of elements with this local name.
pub fn element_texts(xml: &str, local: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(pos) = rest.find('<') {
        rest = &rest[pos + 1..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        let name = tag.split_whitespace().next().unwrap_or("");
        let bare = name.rsplit(':').next().unwrap_or(name);
        if bare == local && !tag.starts_with('/') && !tag.ends_with('/') {
            let content = &rest[end + 1..];
            if let Some(close) = content.find("</") {
                out.push(content[..close].to_string());
            }
        }
    }
    out
}

/// Waits until `f` holds, polling; false if it never did within `limit`.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// An 11.8 device for an in-process emulator (`EmulatorBuilder`) on
/// `address`, on the default ports without the local interface.
pub fn device_spec(name: &str, address: std::net::IpAddr) -> amtemu_server::fleet::DeviceSpec {
    use amtemu_model::device::{DeviceConfig, Firmware};
    let mut config = DeviceConfig::new(name, Firmware::by_name("11.8").expect("a profile"));
    config.ip_address = address.to_string();
    amtemu_server::fleet::DeviceSpec {
        config,
        address,
        ports: amtemu_server::fleet::Ports {
            local: None,
            ..amtemu_server::fleet::Ports::default()
        },
        tls_identity: None,
    }
}
