//! The tasks of built devices (persistence, CIRA, the event log): started
//! by the fleet's build hooks whenever a device is built, owned by the
//! emulator, so stopping or dropping it stops them.

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};

use tokio::runtime::Handle;
use tokio::task::JoinSet;

/// The owner's end: holds the tasks; dropping it aborts them.
#[derive(Debug, Default)]
pub struct TaskOwner(Arc<Mutex<JoinSet<()>>>);

impl TaskOwner {
    /// A handle for hooks that spawns on the current runtime.
    pub fn handle(&self) -> DeviceTasks {
        DeviceTasks {
            set: Arc::downgrade(&self.0),
            runtime: Handle::current(),
        }
    }

    /// Stops every task and waits until they are gone.
    pub async fn shutdown(&self) {
        let mut set = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        set.shutdown().await;
    }
}

/// Where a hook starts a device's task; does nothing once the owner is
/// gone.
#[derive(Clone, Debug)]
pub struct DeviceTasks {
    set: Weak<Mutex<JoinSet<()>>>,
    runtime: Handle,
}

impl DeviceTasks {
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        if let Some(set) = self.set.upgrade() {
            let mut set = set.lock().unwrap_or_else(|e| e.into_inner());
            // Finished tasks' results are not wanted; reap them as we go.
            while set.try_join_next().is_some() {}
            set.spawn_on(task, &self.runtime);
        }
    }
}
