//! [`Message`]s → bytes. Lives apart from decoding because it needs none
//! of its care: the values are ours, so there is nothing to distrust.

use crate::message::{AuthMethod, GlobalRequest, Message};

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A u32 length and the bytes. A field over 4 GiB cannot be framed; it is
/// cut to what the length can say so the stream stays self-consistent.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    put_u32(out, len);
    out.extend_from_slice(bytes.get(..len as usize).unwrap_or(bytes));
}

/// Appends `msg`'s wire form to `out`, reserved fields as firmware and the
/// MPSs write them (0 for DISCONNECT/USERAUTH_FAILURE/CHANNEL_OPEN_FAILURE/
/// PROTOCOLVERSION, 0xFFFFFFFF for CHANNEL_OPEN and its confirmation).
pub fn encode(msg: &Message, out: &mut Vec<u8>) {
    out.push(msg.code());
    match msg {
        Message::Disconnect { reason } => {
            put_u32(out, reason.code());
            out.extend_from_slice(&[0, 0]);
        }
        Message::ServiceRequest { service } | Message::ServiceAccept { service } => {
            put_bytes(out, service.as_bytes());
        }
        Message::UserauthRequest {
            username,
            service,
            method,
        } => {
            put_bytes(out, username.as_bytes());
            put_bytes(out, service.as_bytes());
            match method {
                AuthMethod::None => put_bytes(out, b"none"),
                AuthMethod::Password(password) => {
                    put_bytes(out, b"password");
                    out.push(0);
                    put_bytes(out, password.as_bytes());
                }
            }
        }
        Message::UserauthFailure { methods } => {
            put_bytes(out, methods.as_bytes());
            out.extend_from_slice(&[0, 0]);
        }
        Message::UserauthSuccess | Message::RequestFailure => {}
        Message::GlobalRequest {
            want_reply,
            request,
        } => {
            put_bytes(out, request.name().as_bytes());
            out.push(u8::from(*want_reply));
            match request {
                GlobalRequest::TcpipForward { address, port }
                | GlobalRequest::CancelTcpipForward { address, port } => {
                    put_bytes(out, address.as_bytes());
                    put_u32(out, *port);
                }
                GlobalRequest::UdpSendTo {
                    address,
                    port,
                    originator_address,
                    originator_port,
                    data,
                } => {
                    put_bytes(out, address.as_bytes());
                    put_u32(out, *port);
                    put_bytes(out, originator_address.as_bytes());
                    put_u32(out, *originator_port);
                    put_bytes(out, data);
                }
            }
        }
        Message::RequestSuccess { port } => {
            if let Some(port) = port {
                put_u32(out, *port);
            }
        }
        Message::ChannelOpen(open) => {
            put_bytes(out, open.channel_type.name().as_bytes());
            put_u32(out, open.sender_channel);
            put_u32(out, open.initial_window);
            put_u32(out, u32::MAX);
            put_bytes(out, open.connected_address.as_bytes());
            put_u32(out, open.connected_port);
            put_bytes(out, open.originator_address.as_bytes());
            put_u32(out, open.originator_port);
        }
        Message::ChannelOpenConfirmation {
            recipient_channel,
            sender_channel,
            initial_window,
        } => {
            put_u32(out, *recipient_channel);
            put_u32(out, *sender_channel);
            put_u32(out, *initial_window);
            put_u32(out, u32::MAX);
        }
        Message::ChannelOpenFailure {
            recipient_channel,
            reason,
        } => {
            put_u32(out, *recipient_channel);
            put_u32(out, reason.code());
            put_u32(out, 0);
            put_u32(out, 0);
        }
        Message::ChannelWindowAdjust {
            recipient_channel,
            bytes_to_add,
        } => {
            put_u32(out, *recipient_channel);
            put_u32(out, *bytes_to_add);
        }
        Message::ChannelData {
            recipient_channel,
            data,
        } => {
            put_u32(out, *recipient_channel);
            put_bytes(out, data);
        }
        Message::ChannelClose { recipient_channel } => put_u32(out, *recipient_channel),
        Message::ProtocolVersion(v) => {
            put_u32(out, v.major);
            put_u32(out, v.minor);
            put_u32(out, v.trigger.code());
            out.extend_from_slice(&v.uuid.0);
            out.extend_from_slice(&[0u8; 64]);
        }
        Message::KeepaliveRequest { cookie } | Message::KeepaliveReply { cookie } => {
            put_u32(out, *cookie);
        }
        Message::KeepaliveOptionsRequest { interval, timeout }
        | Message::KeepaliveOptionsReply { interval, timeout } => {
            put_u32(out, *interval);
            put_u32(out, *timeout);
        }
    }
}
