//! What the simulated host prints and accepts: texts, delays and the login,
//! as data. A built-in default serves every device unless a scenario group
//! names its own script (TOML, inline or in a file).
//!
//! Texts may use `{host}` (the device's host name), `{user}`, `{label}`
//! (the redirected medium's volume label), `{drive}` (`CD-ROM` or
//! `floppy`), `{os}`, `{kernel}`, `{mac}` and `{uuid}` (the device's). A
//! lone `\n` is sent as CR LF, as a terminal expects.

use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use serde::Deserialize;

/// One timed piece of output: `text` appears `after_ms` after the previous one.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    #[serde(default)]
    pub after_ms: u64,
    pub text: String,
}

/// The longest delay a script may ask for; longer ones are cut to it so
/// no instant computed from a script can overflow.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

impl Line {
    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.after_ms).min(MAX_DELAY)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleScript {
    /// The firmware's power-on self test screen, on every boot.
    pub post: Vec<Line>,
    /// Disk boot: boot loader, kernel and init messages up to the login.
    pub disk: Vec<Line>,
    /// PXE attempt; it times out and the host falls back to the disk.
    pub pxe: Vec<Line>,
    /// The BIOS setup screen, shown until a key leaves it (Esc, F10 or q).
    pub bios_setup: Vec<Line>,
    /// Printed when the setup screen is left, before the disk boot.
    pub bios_setup_exit: Vec<Line>,
    /// IDE-R: printed before the host probes the redirected drives.
    pub ider_probe: Vec<Line>,
    /// IDE-R medium found: `{label}` is its volume label.
    pub ider_boot: Vec<Line>,
    /// IDE-R without a session or medium; the disk boot follows.
    pub ider_failed: Vec<Line>,
    /// What a CD-ROM boot (not redirected) prints before falling back.
    pub cd_failed: Vec<Line>,
    /// Shown above each login prompt.
    pub issue: String,
    pub user: String,
    pub password: String,
    /// After a successful login.
    pub motd: String,
    /// The shell prompt.
    pub prompt: String,
    pub os_name: String,
    pub kernel: String,
    /// `cat /etc/os-release`.
    pub os_release: String,
    /// `ls` in the home directory.
    pub files: Vec<String>,
    /// `poweroff`: then the host goes to S5.
    pub shutdown: Vec<Line>,
    /// `reboot`: then the host resets and boots again.
    pub reboot: Vec<Line>,
    /// Printed when the host wakes from S3.
    pub resume: Vec<Line>,
    /// How long the host waits for a redirected drive's answer.
    pub ider_timeout_ms: u64,
}

impl ConsoleScript {
    /// The script every device uses unless told otherwise.
    pub fn builtin() -> Arc<ConsoleScript> {
        static BUILTIN: LazyLock<Arc<ConsoleScript>> =
            LazyLock::new(|| Arc::new(ConsoleScript::default()));
        BUILTIN.clone()
    }

    pub fn from_toml(text: &str) -> Result<ConsoleScript, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn load(path: &Path) -> Result<ConsoleScript, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        ConsoleScript::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn ider_timeout(&self) -> Duration {
        Duration::from_millis(self.ider_timeout_ms).min(MAX_DELAY)
    }
}

fn lines(items: &[(u64, &str)]) -> Vec<Line> {
    items
        .iter()
        .map(|&(after_ms, text)| Line {
            after_ms,
            text: text.to_string(),
        })
        .collect()
}

impl Default for ConsoleScript {
    fn default() -> Self {
        ConsoleScript {
            post: lines(&[
                (0, "\x1b[0m\x1b[2J\x1b[H\x1b[1;37mAMTEMU BIOS v2.14.1\x1b[0m  (virtual vPro platform)\n"),
                (100, "Copyright (C) the amtemu authors\n\n"),
                (200, "CPU: Virtual Core i7 @ 3.00GHz, 8 cores\n"),
                (300, "Memory Test: 16384 MB OK\n"),
                (200, "Intel(R) Active Management Technology\n"),
                (100, "Press <F2> to enter Setup, <F12> for Network Boot, <Ctrl-P> for MEBx\n\n"),
            ]),
            disk: lines(&[
                (500, "Booting from Hard Disk...\n"),
                (300, "\x1b[2J\x1b[H                       GRUB version 2.12\n\n"),
                (100, " \x1b[7m*{os}                                              \x1b[0m\n"),
                (100, "  Advanced options for {os}\n\n"),
                (1000, "Loading Linux {kernel} ...\nLoading initial ramdisk ...\n"),
                (500, "[    0.000000] Linux version {kernel} (builder@amtemu) #1 SMP PREEMPT_DYNAMIC\n"),
                (100, "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=/dev/sda2 ro console=ttyS1,115200n8\n"),
                (200, "[    0.412345] serial8250: ttyS1 at I/O 0xf0e0 (irq = 19) is a 16550A\n"),
                (300, "[    1.204518] EXT4-fs (sda2): mounted filesystem with ordered data mode\n"),
                (300, "[  \x1b[32m OK \x1b[0m] Reached target \x1b[1mMulti-User System\x1b[0m.\n"),
            ]),
            pxe: lines(&[
                (300, "\nIntel(R) Boot Agent GE v1.5.88\nCopyright (C) 1997-2024, Intel Corporation\n\n"),
                (500, "CLIENT MAC ADDR: {mac}  GUID: {uuid}\n"),
                (1000, "DHCP.../"),
                (1000, "\x08-"),
                (1000, "\x08\\"),
                (1000, "\x08|\n"),
                (200, "PXE-E51: No DHCP or proxyDHCP offers were received.\n\n"),
                (200, "PXE-M0F: Exiting Intel Boot Agent.\n"),
            ]),
            bios_setup: lines(&[(
                300,
                "\x1b[0m\x1b[44;37m\x1b[2J\x1b[H\x1b[1m                       AMTEMU Setup Utility                       \x1b[0m\x1b[44;37m\n\
                 \n  \x1b[1mMain\x1b[0m\x1b[44;37m   Advanced   Security   Boot   Exit\n\
                 \n  System Time              [12:00:00]\n  System Date              [01/01/2025]\
                 \n  BIOS Version             2.14.1\n  Processor                Virtual Core i7\
                 \n  Total Memory             16384 MB\n  Intel AMT                [Enabled]\n\
                 \n  F10: Save and Exit    Esc: Exit    q: Quit\x1b[0m",
            )]),
            bios_setup_exit: lines(&[(200, "\x1b[0m\x1b[2J\x1b[HExiting Setup...\n")]),
            ider_probe: lines(&[(300, "Booting from IDE-R...\n")]),
            ider_boot: lines(&[
                (200, "Booting from IDE-R {drive}: {label}\n"),
                (500, "ISOLINUX 6.04  Copyright (C) 1994-2015 H. Peter Anvin et al\n"),
                (800, "Loading installer from {label} ...\n"),
                (1000, "[  \x1b[32m OK \x1b[0m] Started \x1b[1mInstaller\x1b[0m.\n"),
                (300, "\nWelcome to the {label} installer (live system).\n"),
            ]),
            ider_failed: lines(&[
                (200, "IDE-R: no redirected boot medium present.\n"),
                (2000, "Boot device not found, trying the next boot device...\n"),
            ]),
            cd_failed: lines(&[
                (300, "Booting from CD-ROM...\n"),
                (1000, "No bootable CD-ROM found, trying the next boot device...\n"),
            ]),
            issue: "\n{os} {host} ttyS1\n\n".into(),
            user: "root".into(),
            password: "amtemu".into(),
            motd: "Welcome to {os}. Type 'help' for the commands this shell knows.\n".into(),
            prompt: "{user}@{host}:~# ".into(),
            os_name: "Amtemu Linux 1.0".into(),
            kernel: "6.6.0-amtemu".into(),
            os_release: "PRETTY_NAME=\"Amtemu Linux 1.0\"\nNAME=\"Amtemu Linux\"\nVERSION_ID=\"1.0\"\nID=amtemu\n".into(),
            files: vec!["notes.txt".into(), "scripts".into()],
            shutdown: lines(&[
                (0, "[  \x1b[32m OK \x1b[0m] Stopped target \x1b[1mMulti-User System\x1b[0m.\n"),
                (300, "[  \x1b[32m OK \x1b[0m] Unmounted /home.\n"),
                (300, "[   12.345678] reboot: Power down\n"),
            ]),
            reboot: lines(&[
                (0, "[  \x1b[32m OK \x1b[0m] Stopped target \x1b[1mMulti-User System\x1b[0m.\n"),
                (300, "[   12.345678] reboot: Restarting system\n"),
            ]),
            resume: lines(&[(300, "[  \x1b[32m OK \x1b[0m] Resumed from suspend.\n")]),
            ider_timeout_ms: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_overrides_only_what_it_names() {
        let s = ConsoleScript::from_toml(
            "user = \"ops\"\npassword = \"pw\"\npost = [{ after_ms = 5, text = \"HI\\n\" }]\n",
        )
        .unwrap();
        assert_eq!((s.user.as_str(), s.password.as_str()), ("ops", "pw"));
        assert_eq!(
            s.post,
            vec![Line {
                after_ms: 5,
                text: "HI\n".into()
            }]
        );
        assert_eq!(s.disk, ConsoleScript::default().disk);
        assert!(
            ConsoleScript::from_toml("usr = \"x\"")
                .unwrap_err()
                .contains("usr")
        );
    }
}
