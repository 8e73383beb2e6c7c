//! WS-Eventing delivery: a device's power and boot events, POSTed as
//! firmware sends them (a WS-Man event envelope around a
//! CIM_AlertIndication) to each subscriber whose filter catches them.
//!
//! One task per device listens to its events; each delivery is a task of
//! its own with a short deadline, so a slow or dead subscriber delays
//! nobody, and the device never waits for a subscriber. Failures are
//! logged and counted (`amtemu_event_deliveries{outcome="failed"}`).
//! Delivery speaks HTTP/1.1 over plain TCP; an `https` subscriber (which
//! firmware 11+ accepts) is refused at delivery and counted as failed.
//! A 401 is answered once with the subscription's credentials (Digest,
//! or Basic when that is what the listener asks for).

use std::sync::Arc;
use std::time::Duration;

use amtemu_model::device::eventing::{DeliveryMode, Subscription};
use amtemu_model::device::{DeviceEvent, Feature};
use amtemu_wire::digest;
use amtemu_wire::wsman::writer::{self, EchoedParameter};
use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::RecvError;

use crate::endpoint::Endpoint;
use crate::metrics::METRICS;

/// How long one delivery may take, connection to answer. Firmware buffers
/// events for up to 30 seconds (Intel's WS-Eventing description); a
/// listener that has not answered in a few is treated as gone.
const DEADLINE: Duration = Duration::from_secs(5);
/// The most of a listener's answer read (its status line and headers).
const MAX_ANSWER: usize = 16 * 1024;

/// The task that delivers the endpoint's device events to its
/// subscribers, for firmware with WS-Eventing (the fleet runs it from the
/// device's first reach).
pub fn delivery(endpoint: Arc<Endpoint>) -> Option<impl Future<Output = ()> + Send + 'static> {
    if !endpoint.device.firmware.has(Feature::WsEventing) {
        return None;
    }
    let mut events = endpoint.device.subscribe();
    Some(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(device = %endpoint.device.name, missed, "events missed for subscribers");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            deliver(&endpoint, &event);
        }
    })
}

/// Sends one event to every subscriber that wants it, each on its own task.
fn deliver(endpoint: &Endpoint, event: &DeviceEvent) {
    // Most devices have no subscribers: ask before building anything.
    let subscriptions = endpoint.device.subscriptions();
    if subscriptions.is_empty() {
        return;
    }
    let Some(indication) = amtemu_wsman::indication(&endpoint.device, event) else {
        return;
    };
    for sub in subscriptions {
        if !indication.filters.contains(&sub.filter.as_str()) {
            continue;
        }
        let instance = indication
            .instance
            .clone()
            .with("IndicationFilterName", sub.filter.as_str());
        let echoed: Vec<EchoedParameter> = sub
            .reference_parameters
            .iter()
            .map(|p| EchoedParameter {
                name: &p.name,
                namespace: p.namespace.as_deref(),
                text: &p.text,
            })
            .collect();
        let body = writer::event_message(
            endpoint.wsman.next_message_id(),
            sub.mode == DeliveryMode::PushWithAck,
            &echoed,
            &instance,
        );
        let device = endpoint.device.name.clone();
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(DEADLINE, post(&sub, body)).await;
            match outcome {
                Ok(Ok(status)) if (200..300).contains(&status) => {
                    METRICS.event_delivery("delivered");
                    tracing::debug!(device, to = %sub.notify_to, status, "event delivered");
                }
                Ok(Ok(status)) => {
                    METRICS.event_delivery("failed");
                    tracing::info!(device, to = %sub.notify_to, status, "subscriber refused an event");
                }
                Ok(Err(error)) => {
                    METRICS.event_delivery("failed");
                    tracing::info!(device, to = %sub.notify_to, %error, "event delivery failed");
                }
                Err(_) => {
                    METRICS.event_delivery("failed");
                    tracing::info!(device, to = %sub.notify_to, "event delivery timed out");
                }
            }
        });
    }
}

#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("only http subscribers are delivered to")]
    NotHttp,
    #[error("the address has no host")]
    NoHost,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the listener's answer is not HTTP")]
    BadAnswer,
}

/// Host, port and path of an `http://` address.
fn split_url(url: &str) -> Result<(String, u16, String), DeliveryError> {
    let rest = url.strip_prefix("http://").ok_or(DeliveryError::NotHttp)?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let (host, port) = match authority.rsplit_once(':') {
        // A bracketed IPv6 address without a port has colons inside.
        Some((host, port)) if !port.contains(']') => {
            (host, port.parse().map_err(|_| DeliveryError::NoHost)?)
        }
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(DeliveryError::NoHost);
    }
    Ok((host.to_string(), port, path))
}

/// POSTs the event; on a 401 with credentials, once more with them.
/// Returns the listener's final status.
async fn post(sub: &Subscription, body: String) -> Result<u16, DeliveryError> {
    let (host, port, path) = split_url(&sub.notify_to)?;
    let (status, challenge) = exchange(&host, port, &path, &body, None).await?;
    let (401, Some(challenge), Some((user, password))) = (status, challenge, &sub.credentials)
    else {
        return Ok(status);
    };
    let authorization =
        authorization(&challenge, user, password, &path).ok_or(DeliveryError::BadAnswer)?;
    let (status, _) = exchange(&host, port, &path, &body, Some(&authorization)).await?;
    Ok(status)
}

/// The Authorization header answering a challenge.
fn authorization(challenge: &str, user: &str, password: &str, uri: &str) -> Option<String> {
    let (scheme, _) = challenge.trim_start().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("Basic") {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        return Some(format!("Basic {token}"));
    }
    // A challenge has the parameters of a Digest Authorization header.
    let offered = digest::parse_authorization(challenge)?;
    let qop = offered
        .qop
        .as_deref()
        .is_some_and(|q| q.split(',').any(|q| q.trim() == "auth"));
    let cnonce = amtemu_wire::hex::hex_lower(&rand::random::<[u8; 8]>());
    let creds = digest::Credentials {
        username: user.into(),
        uri: uri.into(),
        qop: qop.then_some("auth".into()),
        nc: qop.then_some("00000001".into()),
        cnonce: qop.then_some(cnonce.into()),
        ..offered
    };
    let ha1 = amtemu_wire::hex::hex_lower(&digest::ha1(user, &creds.realm, password));
    let response = digest::expected_response(&creds, &ha1, "POST", b"")?;
    let mut header = format!(
        r#"Digest username="{}", realm="{}", nonce="{}", uri="{}", response="{response}""#,
        creds.username, creds.realm, creds.nonce, creds.uri
    );
    if let (Some(nc), Some(cnonce)) = (&creds.nc, &creds.cnonce) {
        header.push_str(&format!(r#", qop=auth, nc={nc}, cnonce="{cnonce}""#));
    }
    Some(header)
}

/// One request on its own connection: the status and any challenge.
async fn exchange(
    host: &str,
    port: u16,
    path: &str,
    body: &str,
    authorization: Option<&str>,
) -> Result<(u16, Option<String>), DeliveryError> {
    let mut stream = TcpStream::connect((host, port)).await?;
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(authorization) = authorization {
        head.push_str(&format!("Authorization: {authorization}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    let mut answer = Vec::with_capacity(1024);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&answer) {
            Ok(httparse::Status::Complete(_)) => {
                let status = response.code.ok_or(DeliveryError::BadAnswer)?;
                let challenge = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("WWW-Authenticate"))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .map(str::to_string);
                return Ok((status, challenge));
            }
            Ok(httparse::Status::Partial) if answer.len() < MAX_ANSWER => {}
            _ => return Err(DeliveryError::BadAnswer),
        }
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(DeliveryError::BadAnswer);
        }
        answer.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_port_and_path() {
        let split = |u| split_url(u).ok();
        assert_eq!(
            split("http://127.0.0.1:9000/events"),
            Some(("127.0.0.1".into(), 9000, "/events".into()))
        );
        assert_eq!(
            split("http://console.example"),
            Some(("console.example".into(), 80, "/".into()))
        );
        assert_eq!(
            split("http://[::1]:8080/x?y"),
            Some(("::1".into(), 8080, "/x?y".into()))
        );
        assert_eq!(split("http://[::1]/"), Some(("::1".into(), 80, "/".into())));
        assert!(split("https://127.0.0.1/").is_none());
        assert!(split("http://:80/").is_none());
        assert!(split("http://h:port/").is_none());
    }

    #[test]
    fn a_digest_challenge_is_answered_with_a_response_the_server_accepts() {
        let challenge = r#"Digest realm="listener", nonce="abc",qop="auth""#;
        let header = authorization(challenge, "u", "p", "/events").unwrap();
        let creds = digest::parse_authorization(&header).unwrap();
        let ha1 = amtemu_wire::hex::hex_lower(&digest::ha1("u", "listener", "p"));
        let expected = digest::expected_response(&creds, &ha1, "POST", b"").unwrap();
        assert!(digest::same_digest(&creds.response, &expected));
        assert_eq!(creds.uri, "/events");
        let basic = authorization(r#"Basic realm="x""#, "u", "p", "/").unwrap();
        assert_eq!(basic, "Basic dTpw");
        assert_eq!(authorization("garbage", "u", "p", "/"), None);
    }
}
