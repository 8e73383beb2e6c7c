//! Persistence of device NVRAM: one JSON file per device in a state
//! directory, written so that a killed process never leaves a torn file.

use std::io::Write;
use std::path::{Path, PathBuf};

use amtemu_model::device::Nvram;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a device state file amtemu can read: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// A directory of device state files.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a device, by its name made safe for a file system.
    pub fn path_of(&self, device: &str) -> PathBuf {
        let safe: String = device
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{safe}.json"))
    }

    /// A device's saved state, if it has one.
    pub fn load(&self, device: &str) -> Result<Option<Nvram>, StoreError> {
        let path = self.path_of(device);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StoreError::Format { path, source })
    }

    /// Serializes a device's state; `save_bytes` writes it. Split so callers
    /// can skip writing when nothing changed.
    pub fn encode(nvram: &Nvram) -> Vec<u8> {
        serde_json::to_vec_pretty(nvram).unwrap_or_default()
    }

    pub fn save_bytes(&self, device: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path_of(device);
        // Device state holds private keys and password hashes.
        write_atomically(&path, bytes, true).map_err(|source| StoreError::Io { path, source })
    }
}

/// Writes a file so that readers see the old or the new content, never a
/// mix: a temporary file in the same directory, flushed to disk, renamed
/// over the target, and the directory flushed.
pub fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = std::env::temp_dir().join(format!("amtemu-store-{}", std::process::id()));
        let store = Store::open(&dir).unwrap();
        assert!(store.load("dev/../x").unwrap().is_none());
        assert!(store.path_of("dev/../x").starts_with(&dir));
        store.save_bytes("a", b"{}").unwrap();
        assert!(matches!(store.load("a"), Err(StoreError::Format { .. })));
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
