//! The one thread that writes a store: it takes every save queued while
//! the previous commit was syncing and commits them together, so a burst
//! of changes across a fleet costs one sync, not one per device, and each
//! waiter hears back only once its bytes are durable.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use redb::Database;
use tokio::sync::oneshot;

use super::{DEVICES, StoreError};

/// One device's bytes and who waits for them to be durable.
struct Job {
    key: String,
    bytes: Vec<u8>,
    done: Option<Done>,
}

enum Done {
    Async(oneshot::Sender<Result<(), String>>),
    Blocking(mpsc::Sender<Result<(), String>>),
}

impl Done {
    fn send(self, result: Result<(), String>) {
        match self {
            Done::Async(tx) => {
                let _ = tx.send(result);
            }
            Done::Blocking(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

/// The handle callers queue saves on. Closing it (or dropping it) lets the
/// thread finish the queue and waits for it, so its hold on the database
/// ends there.
#[derive(Debug)]
pub(super) struct Writer {
    jobs: Mutex<Option<mpsc::Sender<Vec<Job>>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("key", &self.key).finish()
    }
}

impl Writer {
    pub(super) fn start(db: Arc<Database>, path: PathBuf) -> Writer {
        let (jobs, queue) = mpsc::channel::<Vec<Job>>();
        let thread = std::thread::Builder::new()
            .name("amtemu-store".into())
            .spawn(move || run(&db, &path, &queue))
            .inspect_err(|e| tracing::error!(error = %e, "the state writer did not start"))
            .ok();
        Writer {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(thread),
        }
    }

    /// Stops taking saves, and returns once the queued ones are committed
    /// and the thread has let go of the database.
    pub(super) fn close(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    fn send(&self, jobs: Vec<Job>) -> Result<(), StoreError> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .ok_or(StoreError::WriterGone)?
            .send(jobs)
            .map_err(|_| StoreError::WriterGone)
    }

    /// Queues one device's state; resolves once it is committed.
    pub(super) async fn write(&self, key: String, bytes: Vec<u8>) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        let job = Job {
            key,
            bytes,
            done: Some(Done::Async(tx)),
        };
        self.send(vec![job])?;
        rx.await
            .map_err(|_| StoreError::WriterGone)?
            .map_err(|message| StoreError::Io {
                path: PathBuf::from("devices.redb"),
                source: std::io::Error::other(message),
            })
    }

    /// Commits these devices' states together, from a thread that may
    /// block (start-up, shutdown, imports).
    pub(super) fn write_blocking(&self, batch: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (tx, rx) = mpsc::channel();
        let mut jobs: Vec<Job> = batch
            .into_iter()
            .map(|(key, bytes)| Job {
                key,
                bytes,
                done: None,
            })
            .collect();
        if let Some(last) = jobs.last_mut() {
            last.done = Some(Done::Blocking(tx));
        }
        self.send(jobs)?;
        rx.recv()
            .map_err(|_| StoreError::WriterGone)?
            .map_err(|message| StoreError::Io {
                path: PathBuf::from("devices.redb"),
                source: std::io::Error::other(message),
            })
    }
}

/// Waits for work, takes everything queued, commits it, tells the waiters;
/// until every handle is gone.
fn run(db: &Database, path: &std::path::Path, queue: &mpsc::Receiver<Vec<Job>>) {
    // What each device last committed, so an unchanged state costs no write
    // (persistence hears about every event, most change nothing saved).
    let mut committed: HashMap<String, u64> = HashMap::new();
    while let Ok(first) = queue.recv() {
        let mut jobs = first;
        while let Ok(more) = queue.try_recv() {
            jobs.extend(more);
        }
        // The last bytes queued for a device are the ones to keep.
        let mut latest: HashMap<&str, &[u8]> = HashMap::new();
        for job in &jobs {
            latest.insert(&job.key, &job.bytes);
        }
        let changed: Vec<(&str, &[u8], u64)> = latest
            .into_iter()
            .map(|(key, bytes)| (key, bytes, fingerprint(bytes)))
            .filter(|(key, _, print)| committed.get(*key) != Some(print))
            .collect();
        let result = commit(db, &changed).map_err(|e| {
            tracing::error!(path = %path.display(), error = %e, "saving device state failed");
            e.to_string()
        });
        if result.is_ok() {
            for (key, _, print) in &changed {
                committed.insert((*key).to_string(), *print);
            }
        }
        for job in jobs {
            if let Some(done) = job.done {
                done.send(result.clone());
            }
        }
    }
}

fn commit(db: &Database, changed: &[(&str, &[u8], u64)]) -> Result<(), redb::Error> {
    if changed.is_empty() {
        return Ok(());
    }
    let tx = db.begin_write()?;
    {
        let mut table = tx.open_table(DEVICES)?;
        for (key, bytes, _) in changed {
            table.insert(*key, *bytes)?;
        }
    }
    // Durability::Immediate (redb's default): committed means synced.
    tx.commit()?;
    Ok(())
}

/// A cheap fingerprint of a state's bytes (not for security: to skip
/// rewriting what is already there).
fn fingerprint(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}
