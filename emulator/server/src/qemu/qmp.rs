//! The QEMU Machine Protocol, as much as amtemu uses: one JSON object per
//! line each way; a greeting, `qmp_capabilities`, then commands
//! (`{"execute": …}`) answered by `{"return": …}` or `{"error": …}`, with
//! `{"event": …}` lines in between. (The `qapi` crate covers every command
//! QEMU has, from generated schema; six commands sent without waiting for
//! their answers do not need it.)

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// What QEMU said, one line.
#[derive(Debug, PartialEq)]
pub enum Message {
    /// An asynchronous event (SHUTDOWN, POWERDOWN, RESET, STOP, …).
    Event(String, Value),
    /// A command failed.
    Error(String),
    /// A command's answer.
    Return,
    /// Not JSON, or JSON of no known shape.
    Other(String),
}

pub fn parse(line: &str) -> Message {
    let Ok(value) = serde_json::from_str::<Value>(line) else {
        return Message::Other(line.to_string());
    };
    if let Some(event) = value.get("event").and_then(Value::as_str) {
        let data = value.get("data").cloned().unwrap_or(Value::Null);
        return Message::Event(event.to_string(), data);
    }
    if let Some(error) = value.get("error") {
        let desc = error
            .get("desc")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        return Message::Error(desc.to_string());
    }
    if value.get("return").is_some() {
        return Message::Return;
    }
    Message::Other(line.to_string())
}

/// What a QMP event says of the guest's sleep, as firmware reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestPower {
    /// SUSPEND: the guest entered ACPI S3 (suspend to RAM).
    Suspended,
    /// WAKEUP: the guest left S3 (`system_wakeup`, or a wake-up source of
    /// its own).
    Woke,
}

/// The sleep an event reports; None for every other event. SUSPEND_DISK
/// (S4) is none: the guest writes its image and powers off, which QEMU
/// reports as SHUTDOWN, and firmware sees as the host going off.
pub fn guest_power(event: &str) -> Option<GuestPower> {
    match event {
        "SUSPEND" => Some(GuestPower::Suspended),
        "WAKEUP" => Some(GuestPower::Woke),
        _ => None,
    }
}

/// A QMP connection after capabilities negotiation.
pub struct Qmp {
    pub lines: Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
}

impl Qmp {
    /// Reads the greeting and leaves negotiation mode.
    pub async fn open(stream: UnixStream) -> std::io::Result<Qmp> {
        let (reader, writer) = stream.into_split();
        let mut qmp = Qmp {
            lines: BufReader::new(reader).lines(),
            writer,
        };
        let greeting = qmp.lines.next_line().await?.unwrap_or_default();
        if serde_json::from_str::<Value>(&greeting)
            .ok()
            .and_then(|v| v.get("QMP").cloned())
            .is_none()
        {
            return Err(std::io::Error::other(format!(
                "not a QMP greeting: {greeting:?}"
            )));
        }
        qmp.execute("qmp_capabilities", Value::Null).await?;
        loop {
            let line = qmp.lines.next_line().await?.unwrap_or_default();
            match parse(&line) {
                Message::Return => return Ok(qmp),
                Message::Error(e) => return Err(std::io::Error::other(e)),
                _ if line.is_empty() => {
                    return Err(std::io::Error::other("QMP closed while negotiating"));
                }
                _ => {}
            }
        }
    }

    /// Sends a command; its answer comes back as a line like any other.
    pub async fn execute(&mut self, command: &str, arguments: Value) -> std::io::Result<()> {
        let mut request = json!({ "execute": command });
        if !arguments.is_null() {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_told_apart() {
        assert_eq!(
            parse(
                r#"{"timestamp": {"seconds": 1}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}}"#
            ),
            Message::Event(
                "SHUTDOWN".into(),
                json!({"guest": true, "reason": "guest-shutdown"})
            )
        );
        assert_eq!(parse(r#"{"return": {}}"#), Message::Return);
        assert_eq!(
            parse(r#"{"error": {"class": "GenericError", "desc": "no"}}"#),
            Message::Error("no".into())
        );
        assert!(matches!(parse("garbage"), Message::Other(_)));
    }

    #[test]
    fn sleep_events_map_to_the_guests_sleep() {
        let event = |line: &str| match parse(line) {
            Message::Event(name, _) => guest_power(&name),
            other => panic!("not an event: {other:?}"),
        };
        assert_eq!(
            event(r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SUSPEND"}"#),
            Some(GuestPower::Suspended)
        );
        assert_eq!(
            event(r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "WAKEUP"}"#),
            Some(GuestPower::Woke)
        );
        for other in [
            "SUSPEND_DISK",
            "STOP",
            "RESUME",
            "SHUTDOWN",
            "POWERDOWN",
            "suspend",
        ] {
            assert_eq!(guest_power(other), None, "{other}");
        }
    }
}
