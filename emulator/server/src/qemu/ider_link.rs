//! The VM's side of an IDE-R session: the media commands the VM's reads
//! become, queued for the session to send to the console, and each
//! waiter's answer. A session's registers being active is what makes the
//! console's drives exist for the VM; when they go, every command queued or
//! under way fails at once, so a read never waits on a console that left.
//! A console that stays but does not answer is given [`ANSWER_DEADLINE`]
//! per command; then the command fails and is withdrawn, so the VM's read
//! gets an I/O error rather than a hang.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use amtemu_model::host::{IderDrive, IderReply, IderRequest};

/// How long the console has to answer one media command (at most 16 CD
/// blocks, 32 KiB). A console on a slow link answers in well under a
/// second; past this it is taken as gone though its session stays.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(15);

/// Why a command got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unanswered {
    /// The console's drives are not there (no session, or it ended before
    /// answering).
    NoSession,
    /// The console did not answer within [`ANSWER_DEADLINE`].
    TimedOut,
}

/// A command sent (or queued), whose answer is awaited with
/// [`Answer::wait`]; dropping it withdraws the command.
#[derive(Debug)]
pub struct Answer<'a> {
    link: &'a IderLink,
    id: u64,
    rx: oneshot::Receiver<IderReply>,
}

impl Answer<'_> {
    /// The console's answer, or why there is none within `deadline`.
    pub async fn wait(mut self, deadline: Duration) -> Result<IderReply, Unanswered> {
        match tokio::time::timeout(deadline, &mut self.rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(Unanswered::NoSession),
            Err(_) => Err(Unanswered::TimedOut),
        }
    }
}

impl Drop for Answer<'_> {
    fn drop(&mut self) {
        self.link.withdraw(self.id);
    }
}

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

    /// Queues a command; its answer comes through the returned
    /// [`Answer`], or it fails when the session ends first.
    pub fn enqueue(
        &self,
        drive: IderDrive,
        cdb: [u8; 12],
        transfer_len: u32,
    ) -> Result<Answer<'_>, Unanswered> {
        let mut inner = self.lock();
        if !self.is_active() {
            return Err(Unanswered::NoSession);
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
        Ok(Answer { link: self, id, rx })
    }

    /// Forgets command `id`: not sent if still queued, its answer dropped
    /// if one comes.
    fn withdraw(&self, id: u64) {
        let mut inner = self.lock();
        if inner.waiting.remove(&id).is_some() {
            inner.queue.retain(|r| r.id != id);
        }
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
            Some(Unanswered::NoSession),
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
        assert_eq!(first.wait(ANSWER_DEADLINE).await.unwrap().data, vec![1; 8]);
        // A reply nobody waits for is harmless.
        link.complete(IderReply {
            id: 999,
            data: vec![],
            sense: (0, 0, 0),
        });
        link.set_active(false);
        assert_eq!(
            second.wait(ANSWER_DEADLINE).await.err(),
            Some(Unanswered::NoSession),
            "the session ended mid-command"
        );
        assert_eq!(link.next_request(), None, "nothing is left queued");
    }

    /// A console that keeps its session but never answers: each command
    /// fails at the deadline and is withdrawn, queued or sent.
    #[tokio::test(start_paused = true)]
    async fn an_unanswered_command_times_out_and_is_withdrawn() {
        let link = IderLink::default();
        link.set_active(true);
        let sent = link.enqueue(IderDrive::Cd, [0x28; 12], 2048).unwrap();
        let queued = link.enqueue(IderDrive::Cd, [0x25; 12], 8).unwrap();
        let request = link.next_request().unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(
            sent.wait(ANSWER_DEADLINE).await.err(),
            Some(Unanswered::TimedOut)
        );
        assert_eq!(started.elapsed(), ANSWER_DEADLINE);
        // A late answer finds nobody and harms nothing.
        link.complete(IderReply {
            id: request.id,
            data: vec![0; 2048],
            sense: (0, 0, 0),
        });
        drop(queued);
        assert_eq!(link.next_request(), None, "the queued one is withdrawn");
        assert!(link.lock().waiting.is_empty());
        // The session goes on serving new commands.
        let next = link.enqueue(IderDrive::Cd, [0; 12], 0).unwrap();
        let request = link.next_request().unwrap();
        link.complete(IderReply {
            id: request.id,
            data: vec![],
            sense: (0, 0, 0),
        });
        assert!(next.wait(ANSWER_DEADLINE).await.is_ok());
    }
}
