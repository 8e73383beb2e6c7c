//! Persistence of device NVRAM: one embedded transactional database per
//! state directory (`devices.redb`, a table from device name to the JSON of
//! its `Nvram`), written by one thread that commits many devices' changes
//! in one transaction and one sync (group commit).
//!
//! The guarantee: [`Store::save`] resolves only once the device's state as
//! it was when `save` was called is on disk, so a reply that waits for it
//! acknowledges only what a `kill -9` cannot take back. redb (pure Rust,
//! copy-on-write B-trees, a checksummed commit slot) was chosen over SQLite
//! for that durability without a C build, and over a file per device
//! because a million devices must not mean a million files.
//!
//! State directories written before (one `<device>.json` per device) are
//! imported on open; a device's state also goes out and comes in as that
//! JSON for people ([`Store::export`], [`Store::import`]).

mod files;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use amtemu_model::device::{Device, Nvram};
pub use files::write_atomically;
use writer::Writer;

/// Device name → the JSON of its `Nvram`.
const DEVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("devices");

/// The database's file in a state directory.
const DATABASE_FILE: &str = "devices.redb";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a device state amtemu can read: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {source}")]
    Database { path: PathBuf, source: redb::Error },
    #[error("the state directory is closed")]
    WriterGone,
}

/// A state directory's database and the thread that writes it. Clones
/// share both. [`Store::close`] finishes what the writer was given and
/// closes the database, so the directory can be opened again at once
/// (an emulator restarted in the same process); after it, saves fail.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
    db: Arc<Mutex<Option<Arc<Database>>>>,
    writer: Arc<Writer>,
}

impl Store {
    /// Opens (or creates) the directory's database, importing the state
    /// files of older versions that it does not hold yet.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DATABASE_FILE);
        let db = Database::create(&path).map_err(|e| StoreError::Database {
            path: path.clone(),
            source: e.into(),
        })?;
        let db = Arc::new(db);
        let store = Store {
            dir: dir.to_path_buf(),
            writer: Arc::new(Writer::start(db.clone(), path)),
            db: Arc::new(Mutex::new(Some(db))),
        };
        store.import_legacy_files()?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Finishes the queued saves and closes the database.
    pub fn close(&self) {
        self.writer.close();
        self.db.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn database(&self) -> Result<Arc<Database>, StoreError> {
        self.db
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StoreError::WriterGone)
    }

    fn db_error(&self, e: impl Into<redb::Error>) -> StoreError {
        StoreError::Database {
            path: self.dir.join(DATABASE_FILE),
            source: e.into(),
        }
    }

    /// The JSON a device's state is kept as, if it has any.
    fn read(&self, device: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self
            .database()?
            .begin_read()
            .map_err(|e| self.db_error(e))?;
        let table = match tx.open_table(DEVICES) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.db_error(e)),
        };
        let value = table
            .get(key_of(device).as_str())
            .map_err(|e| self.db_error(e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// A device's saved state, if it has one.
    pub fn load(&self, device: &str) -> Result<Option<Nvram>, StoreError> {
        let Some(bytes) = self.read(device)? else {
            return Ok(None);
        };
        // A value an earlier version stored without checking it is dropped
        // with a warning as it is read (amtemu_model::values); the span
        // names the device in that warning.
        let _device = tracing::warn_span!("stored state", device).entered();
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StoreError::Format {
                path: self.dir.join(DATABASE_FILE).join(device),
                source,
            })
    }

    /// The keys (names made safe, see [`key_of`]) of the devices with
    /// saved state.
    pub fn devices(&self) -> Result<Vec<String>, StoreError> {
        let tx = self
            .database()?
            .begin_read()
            .map_err(|e| self.db_error(e))?;
        let table = match tx.open_table(DEVICES) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.db_error(e)),
        };
        let mut names = Vec::new();
        for entry in table.iter().map_err(|e| self.db_error(e))? {
            let (name, _) = entry.map_err(|e| self.db_error(e))?;
            names.push(name.value().to_string());
        }
        Ok(names)
    }

    /// A device's saved state as pretty JSON, for people.
    pub fn export(&self, device: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .load(device)?
            .map(|nvram| String::from_utf8_lossy(&encode(&nvram)).into_owned()))
    }

    /// Replaces a device's saved state with `json` (as [`Store::export`]
    /// writes it), durably; it is checked to be a device state first.
    pub fn import(&self, device: &str, json: &[u8]) -> Result<(), StoreError> {
        let nvram: Nvram = serde_json::from_slice(json).map_err(|source| StoreError::Format {
            path: PathBuf::from(device),
            source,
        })?;
        self.writer
            .write_blocking(vec![(key_of(device), encode(&nvram))])
    }

    /// Saves `device`'s state as it is now; resolves once it is on disk.
    /// Many devices' saves that arrive together share one commit.
    pub async fn save(&self, device: &Device) -> Result<(), StoreError> {
        let bytes = encode(&device.nvram());
        self.writer.write(key_of(&device.name), bytes).await
    }

    /// Saves every device in one transaction (at shutdown).
    pub fn save_all<'a>(
        &self,
        devices: impl Iterator<Item = &'a Device>,
    ) -> Result<(), StoreError> {
        let batch = devices
            .map(|d| (key_of(&d.name), encode(&d.nvram())))
            .collect();
        self.writer.write_blocking(batch)
    }

    /// Moves the `<device>.json` files of versions before the database into
    /// it (only devices it has no state for), in one transaction, and then
    /// out of the way into `imported-json/`.
    fn import_legacy_files(&self) -> Result<(), StoreError> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(());
        };
        let mut batch = Vec::new();
        let mut imported = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|n| !n.starts_with('.'))
            else {
                continue;
            };
            let bytes = std::fs::read(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
            let _file = tracing::warn_span!("state file", device = name).entered();
            let nvram: Nvram =
                serde_json::from_slice(&bytes).map_err(|source| StoreError::Format {
                    path: path.clone(),
                    source,
                })?;
            // A file names its device by the name made safe for a file
            // system; devices keep that name in the database.
            if self.read(name)?.is_none() {
                batch.push((name.to_string(), encode(&nvram)));
            }
            imported.push(path);
        }
        if imported.is_empty() {
            return Ok(());
        }
        self.writer.write_blocking(batch)?;
        let aside = self.dir.join("imported-json");
        std::fs::create_dir_all(&aside).map_err(|source| StoreError::Io {
            path: aside.clone(),
            source,
        })?;
        for path in imported {
            if let Some(name) = path.file_name() {
                let _ = std::fs::rename(&path, aside.join(name));
            }
        }
        tracing::info!(dir = %self.dir.display(), "imported device state files into {DATABASE_FILE}");
        Ok(())
    }
}

/// The JSON a device's state is kept as.
fn encode(nvram: &Nvram) -> Vec<u8> {
    serde_json::to_vec_pretty(nvram).unwrap_or_default()
}

/// The key a device is stored under: its name made safe for a file system,
/// as the state files of earlier versions were named, so imported files
/// and live devices meet.
pub fn key_of(device: &str) -> String {
    device
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
