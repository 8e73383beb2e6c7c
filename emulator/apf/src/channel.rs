//! The device's channel table: ids, both flow-control windows, and the
//! close handshake. [`crate::Tunnel`] is its only user; it turns the
//! outcomes here into messages and events.

use std::collections::BTreeMap;
use std::fmt;

use crate::tunnel::{ProtocolError, UsageError};

/// The device's own id for a channel (the MPS addresses it as "recipient").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(pub u32);

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// We sent CHANNEL_CLOSE and wait for the peer's.
    CloseSent,
}

#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) peer_id: u32,
    pub(crate) port: u16,
    state: State,
    /// Bytes we may still send before the peer grants more.
    send_window: u32,
    /// Bytes the peer may still send before we grant more.
    recv_window: u32,
    /// Delivered to the caller, not yet consumed.
    held: u32,
    /// Consumed by the caller, not yet granted back to the peer.
    unacked: u32,
}

/// What the tunnel must do after the peer's CHANNEL_CLOSE.
pub(crate) enum Closed {
    /// The peer closed first: answer with our own CHANNEL_CLOSE to `peer_id`.
    AnswerTo(u32),
    /// It answered ours; nothing more to send.
    Done,
}

#[derive(Debug)]
pub(crate) struct Channels {
    table: BTreeMap<u32, Channel>,
    /// Ids below this were issued. Ids are never reused, which is what lets
    /// a message for a closed channel be told from one for an id never
    /// opened without keeping a record of every closed channel.
    next_id: u32,
    initial_window: u32,
    max: usize,
}

impl Channels {
    pub(crate) fn new(initial_window: u32, max: usize) -> Channels {
        Channels {
            table: BTreeMap::new(),
            next_id: 1,
            initial_window,
            max,
        }
    }

    /// A new open channel, or `None` when the table is full or ids ran out.
    pub(crate) fn open(&mut self, peer_id: u32, port: u16, peer_window: u32) -> Option<ChannelId> {
        if self.table.len() >= self.max {
            return None;
        }
        let id = self.next_id;
        self.next_id = id.checked_add(1)?;
        self.table.insert(
            id,
            Channel {
                peer_id,
                port,
                state: State::Open,
                send_window: peer_window,
                recv_window: self.initial_window,
                held: 0,
                unacked: 0,
            },
        );
        Some(ChannelId(id))
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn clear(&mut self) {
        self.table.clear();
    }

    /// The error for a peer message naming an id not in the table.
    fn missing(&self, id: u32) -> ProtocolError {
        if id != 0 && id < self.next_id {
            ProtocolError::ClosedChannel(id)
        } else {
            ProtocolError::UnknownChannel(id)
        }
    }

    fn peer_get(&mut self, id: u32) -> Result<&mut Channel, ProtocolError> {
        if self.table.contains_key(&id) {
            self.table
                .get_mut(&id)
                .ok_or(ProtocolError::UnknownChannel(id))
        } else {
            Err(self.missing(id))
        }
    }

    fn user_get(&mut self, id: ChannelId) -> Result<&mut Channel, UsageError> {
        self.table
            .get_mut(&id.0)
            .ok_or(UsageError::UnknownChannel(id))
    }

    /// Peer data: whether to deliver it (false when it was in flight as we
    /// closed, which SSH allows and which is dropped).
    pub(crate) fn receive(&mut self, id: u32, len: usize) -> Result<bool, ProtocolError> {
        let ch = self.peer_get(id)?;
        if ch.state == State::CloseSent {
            return Ok(false);
        }
        let window = ch.recv_window;
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        if len > window {
            return Err(ProtocolError::WindowExceeded {
                channel: id,
                len,
                window,
            });
        }
        ch.recv_window = window - len;
        ch.held = ch.held.saturating_add(len);
        Ok(true)
    }

    /// Peer window grant. Saturates: a peer granting past 4 GiB loses
    /// nothing it could use. Returns the new send window while open.
    pub(crate) fn grant(&mut self, id: u32, bytes: u32) -> Result<Option<u32>, ProtocolError> {
        let ch = self.peer_get(id)?;
        if ch.state == State::CloseSent {
            return Ok(None);
        }
        ch.send_window = ch.send_window.saturating_add(bytes);
        Ok(Some(ch.send_window))
    }

    pub(crate) fn close_received(&mut self, id: u32) -> Result<Closed, ProtocolError> {
        let state = self.peer_get(id)?.state;
        let ch = self
            .table
            .remove(&id)
            .ok_or(ProtocolError::UnknownChannel(id))?;
        Ok(match state {
            State::Open => Closed::AnswerTo(ch.peer_id),
            State::CloseSent => Closed::Done,
        })
    }

    /// Marks a channel closing; the peer id to send CHANNEL_CLOSE to, or
    /// `None` when it was already closing.
    pub(crate) fn close(&mut self, id: ChannelId) -> Result<Option<u32>, UsageError> {
        let ch = self.user_get(id)?;
        if ch.state == State::CloseSent {
            return Ok(None);
        }
        ch.state = State::CloseSent;
        Ok(Some(ch.peer_id))
    }

    /// The open channel's peer id and how much may be sent on it now.
    pub(crate) fn capacity(&mut self, id: ChannelId) -> Result<(u32, u32), UsageError> {
        let ch = self.user_get(id)?;
        if ch.state == State::CloseSent {
            return Err(UsageError::ChannelClosing(id));
        }
        Ok((ch.peer_id, ch.send_window))
    }

    pub(crate) fn spend(&mut self, id: ChannelId, n: u32) {
        if let Some(ch) = self.table.get_mut(&id.0) {
            ch.send_window = ch.send_window.saturating_sub(n);
        }
    }

    /// The caller consumed `n` delivered bytes. Returns a window adjust to
    /// send (peer id, bytes) once more than half the window awaits one,
    /// which is when both MPSs adjust theirs: fewer messages than per-read
    /// adjusts, and the peer never stalls while half a window is free.
    pub(crate) fn consume(
        &mut self,
        id: ChannelId,
        n: u32,
    ) -> Result<Option<(u32, u32)>, UsageError> {
        let half = self.initial_window / 2;
        let ch = self.user_get(id)?;
        if n > ch.held {
            return Err(UsageError::OverConsumed {
                channel: id,
                consumed: n,
                held: ch.held,
            });
        }
        ch.held -= n;
        ch.unacked = ch.unacked.saturating_add(n);
        if ch.state == State::Open && ch.unacked > half {
            let grant = ch.unacked;
            ch.unacked = 0;
            ch.recv_window = ch.recv_window.saturating_add(grant);
            return Ok(Some((ch.peer_id, grant)));
        }
        Ok(None)
    }

    pub(crate) fn port(&self, id: ChannelId) -> Option<u16> {
        self.table.get(&id.0).map(|ch| ch.port)
    }
}
