//! What a QEMU-backed host is made of: the binary, the guest's kernel or
//! disk, and how the VM is accelerated. Paths come from flags or the
//! scenario; nothing is downloaded.

use std::path::PathBuf;
use std::time::Duration;

/// How the VM runs its CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM when /dev/kvm can be opened for reading and writing, else TCG.
    #[default]
    Auto,
    Kvm,
    Tcg,
}

impl Accel {
    /// The accelerator QEMU is given: `auto` decided now.
    pub fn resolve(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
            Accel::Auto => {
                let usable = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/kvm")
                    .is_ok();
                if usable { "kvm" } else { "tcg" }
            }
        }
    }

    pub fn parse(text: &str) -> Option<Accel> {
        match text {
            "auto" => Some(Accel::Auto),
            "kvm" => Some(Accel::Kvm),
            "tcg" => Some(Accel::Tcg),
            _ => None,
        }
    }
}

/// One device's virtual machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuConfig {
    /// The QEMU binary (found on PATH when it has no slash).
    pub binary: PathBuf,
    /// A kernel booted directly (`-kernel`) on disk boots; with none, disk
    /// boots are from `disk`.
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    /// The kernel command line.
    pub append: String,
    /// The VM's hard disk image (raw, or qcow2 by its extension).
    pub disk: Option<PathBuf>,
    /// A local CD image (the CD/DVD boot target).
    pub cdrom: Option<PathBuf>,
    pub memory_mb: u32,
    pub accel: Accel,
    /// How long a graceful off may take before the VM is stopped hard.
    pub shutdown_deadline: Duration,
}

impl QemuConfig {
    /// The defaults: `qemu-system-x86_64` from PATH, 256 MiB, the serial
    /// console at 115200, a minute for a graceful off.
    pub fn new() -> QemuConfig {
        QemuConfig {
            binary: PathBuf::from("qemu-system-x86_64"),
            kernel: None,
            initrd: None,
            append: DEFAULT_APPEND.to_string(),
            disk: None,
            cdrom: None,
            memory_mb: 256,
            accel: Accel::Auto,
            shutdown_deadline: Duration::from_secs(60),
        }
    }

    /// Files the VM needs that are not there, named, so a VM that cannot
    /// start says why (checked at each start: files may come and go).
    pub fn missing_files(&self) -> Vec<String> {
        [
            ("kernel", &self.kernel),
            ("initrd", &self.initrd),
            ("disk", &self.disk),
            ("cdrom", &self.cdrom),
        ]
        .into_iter()
        .filter_map(|(what, path)| {
            let path = path.as_ref()?;
            (!path.is_file()).then(|| format!("{what} {} does not exist", path.display()))
        })
        .collect()
    }
}

impl Default for QemuConfig {
    fn default() -> Self {
        QemuConfig::new()
    }
}

/// The kernel command line unless one is given: the console on the serial
/// port SOL carries, quiet (each line costs time at 115200 under TCG), and
/// a panic ends the VM rather than hanging it.
pub const DEFAULT_APPEND: &str = "console=ttyS0,115200 quiet panic=-1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_are_named() {
        let mut c = QemuConfig::new();
        assert!(c.missing_files().is_empty());
        c.disk = Some("/nonexistent/disk.img".into());
        assert_eq!(
            c.missing_files(),
            vec!["disk /nonexistent/disk.img does not exist".to_string()]
        );
        assert_eq!(Accel::parse("tcg"), Some(Accel::Tcg));
        assert_eq!(Accel::Tcg.resolve(), "tcg");
    }
}
