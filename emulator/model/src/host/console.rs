//! The host's console side: keystrokes in, the line editor and login, and
//! what the host prints into its output ring.

use tokio::time::Instant;

use super::ider::Probe;
use super::line::Edit;
use super::{Action, Env, Host, LAST_WORDS, Phase, shell};

impl Host {
    /// Keystrokes from a console.
    pub fn input(&mut self, now: Instant, bytes: &[u8], env: &Env) {
        if self.suspended.is_some() {
            return;
        }
        for &byte in bytes {
            match self.phase.clone() {
                Phase::Off | Phase::Busy | Phase::Ider => return,
                Phase::BiosSetup => {
                    if matches!(byte, 0x1b | b'q' | b'Q') {
                        self.phase = Phase::Busy;
                        let script = self.script.clone();
                        self.queue_lines(now, &script.bios_setup_exit);
                        self.queue_at(now, Action::BootDisk);
                    }
                }
                phase => {
                    let visible = !matches!(phase, Phase::Password { .. });
                    let mut echo = Vec::new();
                    let edit = self.editor.feed(byte, visible, &mut echo);
                    self.push(&echo);
                    if let Some(edit) = edit {
                        self.edited(now, phase, edit, env);
                    }
                }
            }
        }
    }

    fn edited(&mut self, now: Instant, phase: Phase, edit: Edit, env: &Env) {
        let line = match edit {
            Edit::Enter(line) => line,
            Edit::Interrupt => {
                if let Phase::Password { .. } = phase {
                    self.phase = Phase::Login;
                }
                self.prompt(env);
                return;
            }
            // The shell exits; a login prompt does not care.
            Edit::EndOfInput => match phase {
                Phase::Shell { .. } => "exit".to_string(),
                _ => return,
            },
        };
        match phase {
            Phase::Login if line.trim().is_empty() => self.prompt(env),
            Phase::Login => {
                self.phase = Phase::Password {
                    user: line.trim().to_string(),
                };
                self.prompt(env);
            }
            Phase::Password { user } => {
                if user == self.script.user && line == self.script.password {
                    tracing::info!(%user, "console login");
                    self.phase = Phase::Shell { user };
                    let motd = self.script.motd.clone();
                    self.print(&motd, env);
                    self.prompt(env);
                } else {
                    tracing::info!(%user, "console login refused");
                    self.phase = Phase::Busy;
                    // As login(1) does, the answer comes after a pause.
                    self.tail = self.tail.max(now) + std::time::Duration::from_secs(1);
                    self.queue_at(now, Action::Print("Login incorrect\n".into()));
                    self.queue_at(now, Action::Login);
                }
            }
            Phase::Shell { user } => {
                // The host name comes from device settings, as in the
                // script's `{host}`: made harmless for a terminal the same way.
                let host_name = terminal_safe(env.host_name);
                let cx = shell::Context {
                    script: &self.script,
                    host_name: &host_name,
                    user: &user,
                    uptime: now.saturating_duration_since(self.os_started),
                };
                match shell::run(&line, &cx) {
                    shell::Outcome::Print(text) => {
                        self.print(&text, env);
                        self.prompt(env);
                    }
                    shell::Outcome::Mounts => {
                        let mut table = String::from("/dev/sda2 on / type ext4 (rw,relatime)\n");
                        if let Some((drive, label, fs)) = &self.mounted {
                            table.push_str(&format!(
                                "/dev/{} on /media/{label} type {} (ro)\n",
                                drive.device_name(),
                                fs.to_ascii_lowercase().replace(' ', "")
                            ));
                        }
                        self.print(&table, env);
                        self.prompt(env);
                    }
                    shell::Outcome::Mount if !self.ider.session => {
                        self.print("mount: /dev/cdrom: no medium found\n", env);
                        self.prompt(env);
                    }
                    shell::Outcome::Mount => {
                        self.phase = Phase::Ider;
                        self.ider.mounting = Some(user);
                        let (probe, next) = Probe::start();
                        self.ider.probe = Some(probe);
                        self.follow(now, next);
                    }
                    shell::Outcome::Umount => {
                        if self.mounted.take().is_none() {
                            self.print("umount: /media: not mounted\n", env);
                        }
                        self.prompt(env);
                    }
                    shell::Outcome::Logout => {
                        self.print("logout\n", env);
                        self.phase = Phase::Busy;
                        self.queue_at(now, Action::Login);
                    }
                    shell::Outcome::PowerOff => {
                        self.phase = Phase::Busy;
                        let script = self.script.clone();
                        self.queue_lines(now, &script.shutdown);
                        // The kernel's last words reach the UART before the
                        // power goes.
                        self.tail += LAST_WORDS;
                        self.queue_at(now, Action::PowerOff);
                    }
                    shell::Outcome::Reboot => {
                        self.phase = Phase::Busy;
                        let script = self.script.clone();
                        self.queue_lines(now, &script.reboot);
                        self.tail += LAST_WORDS;
                        self.queue_at(now, Action::Reboot);
                    }
                }
            }
            Phase::Off | Phase::Busy | Phase::BiosSetup | Phase::Ider => {}
        }
    }

    pub(super) fn prompt(&mut self, env: &Env) {
        let text = match &self.phase {
            Phase::Login => "{host} login: ".to_string(),
            Phase::Password { .. } => "Password: ".to_string(),
            Phase::Shell { .. } => self.script.prompt.clone(),
            _ => return,
        };
        self.print(&text, env);
    }

    pub(super) fn print(&mut self, text: &str, env: &Env) {
        let user = match &self.phase {
            Phase::Shell { user } => user.as_str(),
            _ => self.script.user.as_str(),
        };
        let rendered = text
            .replace("{host}", &terminal_safe(env.host_name))
            .replace("{user}", &terminal_safe(user))
            .replace("{label}", &self.label)
            .replace("{drive}", self.drive.name())
            .replace("{mac}", &env.identity.mac.replace('-', " ").to_uppercase())
            .replace("{uuid}", &env.identity.uuid_string().to_uppercase())
            .replace("{os}", &self.script.os_name)
            .replace("{kernel}", &self.script.kernel);
        let mut bytes = Vec::with_capacity(rendered.len() + 8);
        let mut previous = 0u8;
        for &b in rendered.as_bytes() {
            if b == b'\n' && previous != b'\r' {
                bytes.push(b'\r');
            }
            bytes.push(b);
            previous = b;
        }
        self.push(&bytes);
    }

    pub(super) fn push(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.out.push(bytes);
            self.changed = true;
        }
    }

    /// The oldest output position still held.
    pub fn cursor(&self) -> u64 {
        self.out.start()
    }

    pub fn read(&self, cursor: &mut u64) -> Vec<u8> {
        self.out.read(cursor)
    }

    /// Whether output was added or a request issued since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The label of the medium last booted over IDE-R.
    pub fn booted_label(&self) -> &str {
        &self.label
    }
}

/// A value from device settings, made harmless for a terminal.
fn terminal_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}
