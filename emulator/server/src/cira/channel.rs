//! A channel the MPS opened, joined to the same code that serves a direct
//! connection: each channel is one end of an in-memory duplex stream whose
//! other end goes to the HTTP (16992, 623), TLS + HTTP (16993, 664),
//! redirection (16994: SOL, IDE-R and KVMR), TLS + redirection (16995) or
//! port-5900 VNC server, exactly as an accepted socket would.
//!
//! 623 and 664 are AMT's DASH ports: the same web server as 16992 and
//! 16993 (Intel's manageability port list names 16992, 16993, 623 and 664
//! as the web server's ports, 664 and 16993 being the TLS ones, and
//! neither TLS port listens while TLS is off). Firmware forwards them
//! (spec §3.6), so a channel to one gets WS-Man, not a closed channel.
//!
//! Flow control: the session may hand a channel only as much as the MPS
//! sent, which its window bounds; the service's bytes are read one chunk at
//! a time and the next read waits until the session has fitted the chunk
//! into the MPS's window. So a channel holds at most one window and one
//! chunk whatever either side does.

use std::net::SocketAddr;
use std::sync::Arc;

use amtemu_apf::ChannelId;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::endpoint::Endpoint;
use crate::tls::TlsContext;

/// Bytes buffered inside each duplex stream.
const DUPLEX_BUFFER: usize = 16 * 1024;

/// What a channel's tasks tell the session.
#[derive(Debug)]
pub(crate) enum FromChannel {
    /// The service wrote these bytes.
    Data(ChannelId, Vec<u8>),
    /// The service closed its side.
    Eof(ChannelId),
    /// The service took this many bytes the MPS sent.
    Consumed(ChannelId, u32),
}

/// The session's handle on one channel.
pub(crate) struct Link {
    to_service: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// Service bytes not yet inside the MPS's window.
    pub(crate) pending: Vec<u8>,
    /// The service closed; close the channel once `pending` is sent.
    pub(crate) eof: bool,
    ready: Arc<Notify>,
    reader: JoinHandle<()>,
}

impl Link {
    /// Hands MPS bytes to the service; false when it is gone.
    pub(crate) fn deliver(&self, bytes: Vec<u8>) -> bool {
        self.to_service
            .as_ref()
            .is_some_and(|tx| tx.send(bytes).is_ok())
    }

    /// Everything pending was sent: let the reader take the next chunk.
    pub(crate) fn drained(&self) {
        self.ready.notify_one();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // The writer ends when its queue closes (the service then reads
        // EOF); the reader may be blocked on the service, so it is stopped.
        self.to_service = None;
        self.reader.abort();
    }
}

/// Which server a forwarded port is joined to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    Http,
    Https,
    Redirection,
    RedirectionTls,
    /// KVM as plain VNC with the RFB password, as on the LAN's 5900.
    Vnc,
}

impl Service {
    /// The server for a port, if the device serves it through the tunnel.
    /// 16992 is served even when the LAN side is TLS-only: MeshCentral and
    /// the DMT MPS always talk plain WS-Man inside the tunnel (spec §10).
    pub(crate) fn for_port(port: u16) -> Option<Service> {
        match port {
            16992 | 623 => Some(Service::Http),
            16993 | 664 => Some(Service::Https),
            16994 => Some(Service::Redirection),
            16995 => Some(Service::RedirectionTls),
            5900 => Some(Service::Vnc),
            _ => None,
        }
    }
}

/// Starts the service for a new channel and the two tasks that join it to
/// the session.
pub(crate) fn open(
    id: ChannelId,
    service: Service,
    endpoint: &Arc<Endpoint>,
    tls: &Arc<TlsContext>,
    peer: SocketAddr,
    max_chunk: usize,
    events: mpsc::UnboundedSender<FromChannel>,
) -> Link {
    let (ours, theirs) = tokio::io::duplex(DUPLEX_BUFFER);
    spawn_service(service, theirs, endpoint.clone(), tls.clone(), peer);
    let (mut read, mut write) = tokio::io::split(ours);
    let (to_service, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer_events = events.clone();
    tokio::spawn(async move {
        while let Some(bytes) = queue.recv().await {
            if write.write_all(&bytes).await.is_err() {
                break;
            }
            let n = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            if writer_events.send(FromChannel::Consumed(id, n)).is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    });
    let ready = Arc::new(Notify::new());
    let wait = ready.clone();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; max_chunk.max(1)];
        loop {
            match read.read(&mut buf).await {
                Ok(0) => break,
                Err(e) => {
                    tracing::debug!(channel = %id, error = %e, "CIRA channel read failed");
                    break;
                }
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or_default().to_vec();
                    if events.send(FromChannel::Data(id, chunk)).is_err() {
                        return;
                    }
                    wait.notified().await;
                }
            }
        }
        let _ = events.send(FromChannel::Eof(id));
    });
    Link {
        to_service: Some(to_service),
        pending: Vec::new(),
        eof: false,
        ready,
        reader,
    }
}

fn spawn_service(
    service: Service,
    io: DuplexStream,
    endpoint: Arc<Endpoint>,
    tls: Arc<TlsContext>,
    peer: SocketAddr,
) {
    tokio::spawn(async move {
        match service {
            Service::Http => crate::http::serve_connection(io, endpoint, peer).await,
            Service::Redirection => crate::redirect::serve(io, endpoint, peer).await,
            // The same checks as the LAN's 5900: switched off, KVM disabled
            // or no consent closes the channel at once.
            Service::Vnc => crate::redirect::kvm::serve_vnc(io, endpoint, peer).await,
            Service::Https | Service::RedirectionTls => {
                let stream = match crate::tls::accept(io, &endpoint.device, &endpoint.tls, &tls)
                    .await
                {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::info!(device = %endpoint.device.name, %peer, error = %e, "TLS inside a CIRA channel refused");
                        return;
                    }
                };
                if service == Service::Https {
                    crate::http::serve_connection(stream, endpoint, peer).await
                } else {
                    crate::redirect::serve(stream, endpoint, peer).await
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::Service;

    #[test]
    fn every_port_firmware_forwards_has_a_server() {
        for port in amtemu_apf::tunnel::FIRMWARE_PORT_ORDER {
            assert!(Service::for_port(port).is_some(), "{port}");
        }
        assert_eq!(Service::for_port(623), Some(Service::Http));
        assert_eq!(Service::for_port(664), Some(Service::Https));
        assert_eq!(Service::for_port(5900), Some(Service::Vnc));
        assert_eq!(Service::for_port(16994), Some(Service::Redirection));
        assert_eq!(Service::for_port(22), None);
    }
}
