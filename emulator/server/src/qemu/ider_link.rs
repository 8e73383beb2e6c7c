//! The VM's side of an IDE-R session: the media commands the VM's reads
//! become, queued for the session to send to the console, and each
//! waiter's answer. A session's registers being active is what makes the
//! console's drives exist for the VM; when they go, every command queued or
//! under way fails at once, so a read never waits on a console that left.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::{oneshot, watch};

use amtemu_model::host::{IderDrive, IderReply, IderRequest};

/// The console's drives are not there (no session, or it ended before
/// answering).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoSession;

#[derive(Debug)]
pub struct IderLink {
    inner: Mutex<Inner>,
    /// Whether a session's registers are active; the driver watches it to
    /// put the console's CD into the VM and take it out.
    active: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    queue: VecDeque<IderRequest>,
    waiting: HashMap<u64, oneshot::Sender<IderReply>>,
}

impl Default for IderLink {
    fn default() -> Self {
        IderLink {
            inner: Mutex::default(),
            active: watch::channel(false).0,
        }
    }
}

impl IderLink {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A session's registers came or went. Going fails every command not
    /// yet answered (their waiters see [`NoSession`]).
    pub fn set_active(&self, active: bool) {
        // Under the lock `enqueue` checks the state under, so no command
        // is queued after the session has gone.
        let mut inner = self.lock();
        if !active {
            inner.queue.clear();
            inner.waiting.clear();
        }
        self.active.send_if_modified(|now| {
            let changed = *now != active;
            *now = active;
            changed
        });
    }

    pub fn is_active(&self) -> bool {
        *self.active.borrow()
    }

    pub fn watch_active(&self) -> watch::Receiver<bool> {
        self.active.subscribe()
    }

    /// Queues a command; the answer comes through the receiver, or it is
    /// dropped when the session ends first.
    pub fn enqueue(
        &self,
        drive: IderDrive,
        cdb: [u8; 12],
        transfer_len: u32,
    ) -> Result<oneshot::Receiver<IderReply>, NoSession> {
        let mut inner = self.lock();
        if !self.is_active() {
            return Err(NoSession);
        }
        inner.next_id += 1;
        let id = inner.next_id;
        let (tx, rx) = oneshot::channel();
        inner.queue.push_back(IderRequest {
            id,
            drive,
            cdb,
            transfer_len,
        });
        inner.waiting.insert(id, tx);
        Ok(rx)
    }

    /// The next command for the session to send.
    pub fn next_request(&self) -> Option<IderRequest> {
        self.lock().queue.pop_front()
    }

    /// The console's answer; one for no waiter (its reader gave up) is
    /// dropped.
    pub fn complete(&self, reply: IderReply) {
        if let Some(tx) = self.lock().waiting.remove(&reply.id) {
            let _ = tx.send(reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_reach_their_waiter_and_a_session_end_fails_the_rest() {
        let link = IderLink::default();
        assert_eq!(
            link.enqueue(IderDrive::Cd, [0; 12], 0).err(),
            Some(NoSession),
            "no session: no drive"
        );
        link.set_active(true);
        let first = link.enqueue(IderDrive::Cd, [0x25; 12], 8).unwrap();
        let second = link.enqueue(IderDrive::Cd, [0x28; 12], 2048).unwrap();
        let sent = link.next_request().unwrap();
        assert_eq!(sent.cdb[0], 0x25);
        link.complete(IderReply {
            id: sent.id,
            data: vec![1; 8],
            sense: (0, 0, 0),
        });
        assert_eq!(first.await.unwrap().data, vec![1; 8]);
        // A reply nobody waits for is harmless.
        link.complete(IderReply {
            id: 999,
            data: vec![],
            sense: (0, 0, 0),
        });
        link.set_active(false);
        assert!(second.await.is_err(), "the session ended mid-command");
        assert_eq!(link.next_request(), None, "nothing is left queued");
    }
}
