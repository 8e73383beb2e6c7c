//! `amtemu ctl`: the control API's command-line client. A small blocking
//! HTTP/1.1 client over `std::net` (one request per connection), since the
//! API is plain JSON on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct CtlArgs {
    /// Where the control API listens (`--control` of `serve` or `fleet`).
    #[arg(long, default_value = "127.0.0.1:17000", env = "AMTEMU_CONTROL")]
    pub control: String,
    /// Allow a control address that is not on loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// The control API's token, when it has one (`--control-token`).
    #[arg(long, env = "AMTEMU_CONTROL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum CtlCommand {
    /// List the devices (all of them, page by page, unless --offset or
    /// --limit is given).
    Devices {
        #[arg(long)]
        offset: Option<usize>,
        #[arg(long)]
        limit: Option<usize>,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one device in detail (JSON).
    Device { name: String },
    /// Change a device's host power: on, off, cycle, reset, sleep,
    /// hibernate, button (a press of the power button) or os-shutdown.
    Power { name: String, action: String },
    /// Put a fault plan on a device, e.g. `--json '{"http_error": 503}'`
    /// (`@FILE` reads it from a file).
    Fault {
        name: String,
        #[arg(long = "json", value_name = "PLAN")]
        plan: String,
    },
    /// Clear a device's faults.
    Clear { name: String },
    /// Unplug a device from the network (its `offline` fault).
    Stop { name: String },
    /// Plug a stopped device back in.
    Start { name: String },
    /// Start remote configuration, as a local agent does: the device
    /// enters setup mode and sends hellos.
    SetupMode { name: String },
    /// Show a device's setup state and hello window (JSON).
    Hello { name: String },
    /// Print device events as they happen (one JSON object a line).
    Events {
        /// Only this device's events.
        #[arg(long)]
        device: Option<String>,
    },
    /// Print the Prometheus metrics.
    Metrics,
    /// Write a PNG of the device's screen as KVM shows it to stdout
    /// (`amtemu ctl screenshot amt-0001 > screen.png`).
    Screenshot { name: String },
}

pub fn run(args: CtlArgs) -> anyhow::Result<()> {
    let addr = control_address(&args.control, args.allow_remote)?;
    let api = Api {
        addr,
        token: args.token.clone(),
    };
    match args.command {
        CtlCommand::Devices {
            offset,
            limit,
            json,
        } => devices(&api, offset, limit, json),
        CtlCommand::Device { name } => {
            print_json(&api.json("GET", &device_path(&name, ""), None)?);
            Ok(())
        }
        CtlCommand::Power { name, action } => {
            let body = serde_json::json!({ "action": action }).to_string();
            let v = api.json("POST", &device_path(&name, "/power"), Some(&body))?;
            println!(
                "{}: {} accepted; host {} → {}",
                name,
                action,
                v["power"].as_str().unwrap_or("?"),
                v["destination"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        CtlCommand::Fault { name, plan } => {
            let plan = match plan.strip_prefix('@') {
                Some(path) => {
                    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?
                }
                None => plan,
            };
            print_json(&api.json("PUT", &device_path(&name, "/faults"), Some(&plan))?);
            Ok(())
        }
        CtlCommand::Clear { name } => {
            print_json(&api.json("DELETE", &device_path(&name, "/faults"), None)?);
            Ok(())
        }
        CtlCommand::Stop { name } => {
            api.json("POST", &device_path(&name, "/stop"), None)?;
            println!("{name}: stopped (unplugged)");
            Ok(())
        }
        CtlCommand::Start { name } => {
            api.json("POST", &device_path(&name, "/start"), None)?;
            println!("{name}: started");
            Ok(())
        }
        CtlCommand::SetupMode { name } => {
            print_json(&api.json("POST", &device_path(&name, "/setup-mode"), None)?);
            Ok(())
        }
        CtlCommand::Hello { name } => {
            print_json(&api.json("GET", &device_path(&name, "/hello"), None)?);
            Ok(())
        }
        CtlCommand::Events { device } => {
            let path = match device {
                Some(d) => format!("/api/v1/events?device={}", encode(&d)),
                None => "/api/v1/events".to_string(),
            };
            api.stream_events(&path)
        }
        CtlCommand::Metrics => {
            let (status, body) = api.request("GET", "/metrics", None)?;
            check_status(status, &body)?;
            print!("{body}");
            Ok(())
        }
        CtlCommand::Screenshot { name } => {
            let path = device_path(&name, "/screenshot");
            let (status, png) = api.request_bytes("GET", &path, None)?;
            check_status(status, &String::from_utf8_lossy(&png))?;
            let mut out = std::io::stdout().lock();
            out.write_all(&png)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// Resolves the control address, refusing one off loopback unless allowed:
/// the API has no authentication of its own.
fn control_address(text: &str, allow_remote: bool) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .with_context(|| format!("the control address {text:?}"))?
        .collect();
    let Some(first) = addrs.first().copied() else {
        bail!("the control address {text:?} resolves to nothing");
    };
    if !allow_remote && addrs.iter().any(|a| !a.ip().is_loopback()) {
        bail!("the control address {text} is not on loopback (give --allow-remote if you mean it)");
    }
    Ok(first)
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

fn devices(
    api: &Api,
    offset: Option<usize>,
    limit: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    let all_pages = offset.is_none() && limit.is_none();
    let mut offset = offset.unwrap_or(0);
    let mut first = true;
    loop {
        let mut path = format!("/api/v1/devices?offset={offset}");
        if let Some(limit) = limit {
            path.push_str(&format!("&limit={limit}"));
        }
        let page = api.json("GET", &path, None)?;
        if json {
            print_json(&page);
        } else {
            if first {
                println!(
                    "{:<28} {:<16} {:<9} {:<6} {:<6} FAULTS",
                    "NAME", "ADDRESS", "FIRMWARE", "POWER", "PROV"
                );
            }
            for d in page["devices"].as_array().into_iter().flatten() {
                let s = |k: &str| d[k].as_str().unwrap_or("-").to_string();
                let faults = match &d["faults"] {
                    Value::Null => "-".to_string(),
                    f => f.to_string(),
                };
                println!(
                    "{:<28} {:<16} {:<9} {:<6} {:<6} {}",
                    s("name"),
                    s("address"),
                    s("firmware"),
                    s("power"),
                    s("provisioning"),
                    faults
                );
            }
        }
        first = false;
        match page["next_offset"].as_u64() {
            Some(next) if all_pages => offset = next as usize,
            _ => return Ok(()),
        }
    }
}

/// `/api/v1/devices/NAME` + `rest`, the name percent-encoded (fleet names
/// hold `/`).
fn device_path(name: &str, rest: &str) -> String {
    format!("/api/v1/devices/{}{rest}", encode(name))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An error answer's message: the API's `{"error": ...}`, else the body.
fn check_status(status: u16, body: &str) -> anyhow::Result<()> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string());
    bail!("{status}: {message}")
}

struct Api {
    addr: SocketAddr,
    token: Option<String>,
}

impl Api {
    fn connect(&self, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<TcpStream> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .with_context(|| format!("connecting to the control API on {}", self.addr))?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: */*\r\n",
            self.addr
        );
        if let Some(token) = &self.token {
            req.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(body) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        } else if method != "GET" {
            req.push_str("Content-Length: 0\r\n\r\n");
        } else {
            req.push_str("\r\n");
        }
        stream.write_all(req.as_bytes())?;
        Ok(stream)
    }

    /// One request; the status and the whole body as text.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> anyhow::Result<(u16, String)> {
        let (status, bytes) = self.request_bytes(method, path, body)?;
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// One request; the status and the whole body.
    fn request_bytes(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let stream = self.connect(method, path, body)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut reader = BufReader::new(stream);
        let head = read_head(&mut reader)?;
        let mut bytes = Vec::new();
        if head.chunked {
            ChunkedReader::new(&mut reader).read_to_end(&mut bytes)?;
        } else if let Some(len) = head.content_length {
            bytes.resize(len, 0);
            reader.read_exact(&mut bytes)?;
        } else {
            reader.read_to_end(&mut bytes)?;
        }
        Ok((head.status, bytes))
    }

    /// A request whose answer must be 2xx JSON.
    fn json(&self, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<Value> {
        let (status, text) = self.request(method, path, body)?;
        check_status(status, &text)?;
        serde_json::from_str(&text).context("the control API answered something other than JSON")
    }

    /// Prints each event's JSON on a line of its own until the server
    /// closes the stream (or the user interrupts).
    fn stream_events(&self, path: &str) -> anyhow::Result<()> {
        let stream = self.connect("GET", path, None)?;
        let mut reader = BufReader::new(stream);
        let head = read_head(&mut reader)?;
        if !(200..300).contains(&head.status) {
            let mut body = Vec::new();
            match head.content_length {
                Some(len) => {
                    body.resize(len, 0);
                    reader.read_exact(&mut body)?;
                }
                None if head.chunked => {
                    ChunkedReader::new(&mut reader).read_to_end(&mut body)?;
                }
                None => {
                    reader.read_to_end(&mut body)?;
                }
            }
            check_status(head.status, &String::from_utf8_lossy(&body))?;
        }
        let lines: Box<dyn BufRead> = if head.chunked {
            Box::new(BufReader::new(ChunkedReader::new(reader)))
        } else {
            Box::new(reader)
        };
        let stdout = std::io::stdout();
        let mut event_name = String::new();
        for line in lines.lines() {
            let line = line?;
            if let Some(data) = line.strip_prefix("data:") {
                let data = data.strip_prefix(' ').unwrap_or(data);
                if event_name == "lagged" {
                    eprintln!("amtemu: events missed: {data}");
                } else {
                    let mut out = stdout.lock();
                    writeln!(out, "{data}")?;
                    out.flush()?;
                }
            } else if let Some(name) = line.strip_prefix("event:") {
                event_name = name.trim().to_string();
            } else if line.is_empty() {
                event_name.clear();
            }
        }
        Ok(())
    }
}

struct Head {
    status: u16,
    chunked: bool,
    content_length: Option<usize>,
}

fn read_head(reader: &mut impl BufRead) -> anyhow::Result<Head> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.trim().parse().ok())
        .with_context(|| format!("not an HTTP answer: {:?}", line.trim_end()))?;
    let mut head = Head {
        status,
        chunked: false,
        content_length: None,
    };
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("the connection closed in the middle of an answer");
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Ok(head);
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            head.content_length = value.parse().ok();
        }
    }
}

/// Decodes a chunked body as it arrives.
pub(crate) struct ChunkedReader<R> {
    inner: R,
    /// Bytes left in the current chunk.
    left: usize,
    done: bool,
}

impl<R: BufRead> ChunkedReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        ChunkedReader {
            inner,
            left: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Read for ChunkedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            if self.inner.read_line(&mut line)? == 0 {
                return Ok(0);
            }
            let size = line.trim().split(';').next().unwrap_or("");
            self.left = usize::from_str_radix(size, 16).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad chunk size {size:?}"),
                )
            })?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n;
        if self.left == 0 {
            // The CRLF after the chunk's data.
            let mut crlf = String::new();
            self.inner.read_line(&mut crlf)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_and_names_are_encoded() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        let mut out = String::new();
        ChunkedReader::new(&wire[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello, world");
        assert_eq!(encode("amtemu/amt-00001"), "amtemu%2Famt-00001");
        assert_eq!(device_path("a b", "/power"), "/api/v1/devices/a%20b/power");
    }

    #[test]
    fn remote_control_addresses_need_consent() {
        assert!(control_address("127.0.0.1:17000", false).is_ok());
        assert!(control_address("[::1]:17000", false).is_ok());
        assert!(control_address("192.0.2.1:17000", false).is_err());
        assert!(control_address("192.0.2.1:17000", true).is_ok());
        assert!(control_address("nonsense", false).is_err());
    }
}
