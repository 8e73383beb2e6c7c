//! One run of the virtual machine: its command line, the process, and the
//! task that owns its QMP connection and serial port until it ends.
//!
//! amtemu owns the serial and QMP sockets: it listens on two unix sockets
//! in the device's runtime directory and QEMU connects to them as a client
//! (`-chardev socket,path=…`) when it starts, so a VM that cannot start
//! never leaves a half-open connection behind. The display is the other
//! way round: QEMU listens on a third socket there (`-vnc unix:…`), since
//! amtemu connects to it only while someone looks, and as often as that.
//! The directory is the emulator user's alone (0700), so nobody else
//! reaches the VM's display, which has no password.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use amtemu_model::host::BootTarget;

use super::config::QemuConfig;
use super::console::QemuConsole;
use super::qmp::{GuestPower, Message, Qmp, guest_power};

/// How long QEMU may take to connect to its sockets after starting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long QEMU may take to exit after QMP `quit` before it is killed.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The stderr lines kept for the reason a VM ended.
const STDERR_TAIL: usize = 2048;

/// What the driver asks of a running VM.
#[derive(Debug)]
pub enum VmCommand {
    /// A QMP command, sent as is.
    Qmp(&'static str, Value),
    /// QMP `quit`, then a kill if QEMU has not exited in time.
    Quit,
    /// A guest agent command (QEMU guest agent wire format) to the guest's
    /// second serial port, where an agent of the guest OS may listen.
    Agent(&'static str),
}

/// What a VM run tells its driver.
#[derive(Debug)]
pub enum VmNote {
    /// The guest's sleep changed (a QMP event).
    Sleep(GuestPower),
    /// The run ended, and why.
    Ended(String),
}

/// Where the VM is with sleep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sleep {
    Awake,
    /// The guest suspended itself to RAM (ACPI S3); `system_wakeup` wakes it.
    Suspended,
    /// Paused by QMP `stop` for an S3 the guest did not carry out; `cont`
    /// resumes it.
    Paused,
}

/// A running VM, as its driver holds it.
#[derive(Debug)]
pub struct Vm {
    /// Tells runs apart, so the end of an older one is not taken for this.
    pub generation: u64,
    /// The boot target it was started for.
    pub target: BootTarget,
    /// Asleep (S3), and how.
    pub sleep: Sleep,
    /// The node of the console's CD while it is in the VM's IDE-R drive.
    pub ider_node: Option<String>,
    commands: mpsc::UnboundedSender<VmCommand>,
}

impl Vm {
    pub fn send(&self, command: VmCommand) {
        let _ = self.commands.send(command);
    }
}

/// The qdev id of the VM's IDE-R CD drive: always there, empty until a
/// console's CD is inserted over QMP (`driver`).
pub const IDER_DRIVE: &str = "amtemu-ider-cd";

/// The QEMU arguments for a start toward `target`; `paused` starts the
/// CPUs stopped (`-S`), for the console's CD to be inserted before the
/// firmware looks for boot devices.
pub fn command_line(
    config: &QemuConfig,
    target: BootTarget,
    accel: &str,
    sockets: &Sockets,
    paused: bool,
) -> Vec<String> {
    let (serial, qmp) = (&sockets.serial, &sockets.qmp);
    let mut args: Vec<String> = [
        "-nodefaults",
        "-no-user-config",
        // No window: the screen is the VGA card's, served over VNC on a
        // unix socket for KVM (a documented -vnc form).
        "-display",
        "none",
        "-vga",
        "std",
        "-vnc",
        &format!("unix:{}", sockets.display.display()),
        "-machine",
        &format!("pc,accel={accel}"),
        "-m",
        &config.memory_mb.to_string(),
        "-chardev",
        &format!("socket,id=amtemu-serial,path={}", serial.display()),
        "-serial",
        "chardev:amtemu-serial",
        "-chardev",
        &format!("socket,id=amtemu-qmp,path={}", qmp.display()),
        "-mon",
        "chardev=amtemu-qmp,mode=control",
        // ttyS1: the channel an agent of the guest OS hears requests on
        // (AMT's S3 needs the OS's cooperation).
        "-chardev",
        &format!("socket,id=amtemu-agent,path={}", sockets.agent.display()),
        "-serial",
        "chardev:amtemu-agent",
        // ACPI S3 offered to the guest (PIIX4's _S3 object), stated rather
        // than left to the machine type's default.
        "-global",
        "PIIX4_PM.disable_s3=0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut push = |a: &str, b: String| {
        args.push(a.to_string());
        args.push(b);
    };
    if let Some(disk) = &config.disk {
        let format = match disk.extension().and_then(|e| e.to_str()) {
            Some("qcow2") => "qcow2",
            _ => "raw",
        };
        push(
            "-drive",
            format!(
                "file={},format={format},if=ide,index=0,media=disk",
                drive_path(disk)
            ),
        );
    }
    if let Some(cdrom) = &config.cdrom {
        push(
            "-drive",
            format!(
                "file={},format=raw,if=ide,index=2,media=cdrom,readonly=on",
                drive_path(cdrom)
            ),
        );
    }
    // A network only for a network boot, and one that reaches nothing
    // outside the VM (restrict=on).
    if target == BootTarget::Pxe {
        push("-nic", "user,restrict=on,model=e1000".into());
    } else {
        push("-nic", "none".into());
    }
    // The IDE-R CD is the secondary channel's slave (the local CD is its
    // master); a boot from IDE-R names it first (a bootindex outranks the
    // boot order), so a local CD does not win.
    let ider = format!("ide-cd,bus=ide.1,unit=1,id={IDER_DRIVE}");
    if target == BootTarget::IdeRedirection {
        push("-device", format!("{ider},bootindex=0"));
    } else {
        push("-device", ider);
    }
    let order = match target {
        BootTarget::Disk | BootTarget::Diagnostic => Some("order=c"),
        BootTarget::Pxe => Some("order=n"),
        BootTarget::CdDvd => Some("order=d"),
        BootTarget::IdeRedirection => None,
        // SeaBIOS has no setup screen; its boot menu is the nearest thing.
        BootTarget::BiosSetup => Some("order=c,menu=on,splash-time=5000"),
    };
    if let Some(order) = order {
        push("-boot", order.into());
    }

    // A direct kernel boot wins over any boot order, so it is the disk
    // boot only.
    if let (Some(kernel), BootTarget::Disk | BootTarget::Diagnostic) = (&config.kernel, target) {
        push("-kernel", kernel.display().to_string());
        if let Some(initrd) = &config.initrd {
            push("-initrd", initrd.display().to_string());
        }
        push("-append", config.append.clone());
    }
    if paused {
        args.push("-S".into());
    }
    args
}

/// The unix sockets of one VM run, in the device's runtime directory.
#[derive(Debug, Clone)]
pub struct Sockets {
    pub serial: PathBuf,
    pub qmp: PathBuf,
    /// The guest agent's serial port (ttyS1).
    pub agent: PathBuf,
    /// QEMU's VNC display (QEMU listens).
    pub display: PathBuf,
}

impl Sockets {
    pub fn in_dir(dir: &Path) -> Sockets {
        Sockets {
            serial: dir.join("serial.sock"),
            qmp: dir.join("qmp.sock"),
            agent: dir.join("agent.sock"),
            display: dir.join("display.sock"),
        }
    }
}

/// Creates the device's runtime directory, the emulator user's alone.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// A file name in a `-drive` option, whose commas QEMU reads doubled.
fn drive_path(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// Starts the VM toward `target` (its CPUs stopped when `paused`); Err
/// says why it did not start. `notes` hears (generation, note) of its
/// sleep, and once it has ended.
pub async fn start(
    config: &QemuConfig,
    target: BootTarget,
    paused: bool,
    dir: &Path,
    generation: u64,
    console: Arc<QemuConsole>,
    notes: mpsc::UnboundedSender<(u64, VmNote)>,
) -> Result<Vm, String> {
    let missing = config.missing_files();
    if !missing.is_empty() {
        return Err(missing.join("; "));
    }
    private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let sockets = Sockets::in_dir(dir);
    let (serial_path, qmp_path) = (&sockets.serial, &sockets.qmp);
    // QEMU makes its display socket anew; an old one would only mislead.
    let _ = std::fs::remove_file(&sockets.display);
    let bind = |path: &PathBuf| {
        let _ = std::fs::remove_file(path);
        UnixListener::bind(path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let serial_listener = bind(serial_path)?;
    let qmp_listener = bind(qmp_path)?;
    let agent_listener = bind(&sockets.agent)?;
    let accel = config.accel.resolve();
    let args = command_line(config, target, accel, &sockets, paused);
    tracing::info!(binary = %config.binary.display(), ?target, accel, "starting the VM");
    tracing::debug!(?args, "qemu command line");
    let mut child = Command::new(&config.binary)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", config.binary.display()))?;
    let stderr = Arc::new(Mutex::new(String::new()));
    if let Some(pipe) = child.stderr.take() {
        tokio::spawn(collect_stderr(pipe, stderr.clone()));
    }
    let connected = async {
        let (serial, qmp, agent) = tokio::try_join!(
            serial_listener.accept(),
            qmp_listener.accept(),
            agent_listener.accept()
        )?;
        let qmp = Qmp::open(qmp.0).await?;
        Ok::<_, std::io::Error>((serial.0, qmp, agent.0))
    };
    let (serial, qmp, agent) = tokio::select! {
        connected = tokio::time::timeout(CONNECT_TIMEOUT, connected) => match connected {
            Ok(Ok(both)) => both,
            // QEMU opens its sockets before it loads the guest, so a guest
            // it refuses shows as the connection dropping: say why it did.
            Ok(Err(e)) => match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
                Ok(status) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return Err(exit_reason(status, &stderr));
                }
                Err(_) => return Err(format!("QMP: {e}")),
            },
            Err(_) => return Err("QEMU did not connect to its sockets in time".into()),
        },
        status = child.wait() => {
            // Give the stderr reader a moment to take the last words.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Err(exit_reason(status, &stderr));
        }
    };
    let (commands, rx) = mpsc::unbounded_channel();
    // QEMU answered QMP, so its display listens already.
    console.set_display(Some(sockets.display.clone()));
    let channels = Channels { serial, agent };
    tokio::spawn(run(
        child,
        qmp,
        channels,
        rx,
        console,
        stderr,
        move |note| {
            let _ = notes.send((generation, note));
        },
    ));
    Ok(Vm {
        generation,
        target,
        sleep: Sleep::Awake,
        ider_node: None,
        commands,
    })
}

async fn collect_stderr(pipe: tokio::process::ChildStderr, tail: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::warn!("qemu: {line}");
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.push_str(&line);
        tail.push('\n');
        if tail.len() > STDERR_TAIL {
            let cut = tail.len() - STDERR_TAIL;
            let cut = (cut..tail.len())
                .find(|i| tail.is_char_boundary(*i))
                .unwrap_or(0);
            tail.drain(..cut);
        }
    }
}

fn exit_reason(
    status: std::io::Result<std::process::ExitStatus>,
    stderr: &Mutex<String>,
) -> String {
    let said = stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let said = said.trim();
    let status = match status {
        Ok(s) => s.to_string(),
        Err(e) => e.to_string(),
    };
    if said.is_empty() {
        format!("QEMU ended ({status})")
    } else {
        format!("QEMU ended ({status}): {said}")
    }
}

/// The VM's serial ports: SOL's (ttyS0) and the guest agent's (ttyS1).
struct Channels {
    serial: tokio::net::UnixStream,
    agent: tokio::net::UnixStream,
}

/// Owns the VM until it ends: serial both ways, QMP commands and events.
async fn run(
    mut child: Child,
    mut qmp: Qmp,
    channels: Channels,
    mut commands: mpsc::UnboundedReceiver<VmCommand>,
    console: Arc<QemuConsole>,
    stderr: Arc<Mutex<String>>,
    note: impl Fn(VmNote),
) {
    let (mut serial_in, mut serial_out) = channels.serial.into_split();
    let (mut agent_in, mut agent_out) = channels.agent.into_split();
    let mut agent_buf = vec![0u8; 512];
    let mut agent_open = true;
    let (input, mut keys) = mpsc::unbounded_channel::<Vec<u8>>();
    console.connect_input(Some(input));
    let mut buf = vec![0u8; 4096];
    let mut serial_open = true;
    let mut qmp_open = true;
    let mut driven = true;
    let mut kill_at: Option<tokio::time::Instant> = None;
    let mut shutdown_reason: Option<String> = None;
    let status = loop {
        let kill_due = async {
            match kill_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = child.wait() => break status,
            read = serial_in.read(&mut buf), if serial_open => match read {
                Ok(0) | Err(_) => serial_open = false,
                Ok(n) => console.output(&buf[..n]),
            },
            // What an agent answers is only logged: a suspend has no answer,
            // and the QMP events say what happened.
            read = agent_in.read(&mut agent_buf), if agent_open => match read {
                Ok(0) | Err(_) => agent_open = false,
                Ok(n) => tracing::debug!(said = %String::from_utf8_lossy(&agent_buf[..n]), "guest agent"),
            },
            Some(bytes) = keys.recv() => {
                if serial_out.write_all(&bytes).await.is_err() {
                    tracing::debug!("the VM's serial port is closed");
                }
            }
            command = commands.recv(), if driven => match command {
                Some(VmCommand::Qmp(name, arguments)) => {
                    tracing::info!(command = name, "QMP");
                    if let Err(e) = qmp.execute(name, arguments).await {
                        tracing::warn!(command = name, error = %e, "QMP write failed");
                    }
                }
                Some(VmCommand::Agent(command)) => {
                    tracing::info!(command, "guest agent");
                    let line = format!("{}\n", serde_json::json!({ "execute": command }));
                    if agent_out.write_all(line.as_bytes()).await.is_err() {
                        tracing::warn!(command, "the guest agent's port is closed");
                    }
                }
                Some(VmCommand::Quit) => {
                    tracing::info!(command = "quit", "QMP");
                    let _ = qmp.execute("quit", Value::Null).await;
                    kill_at.get_or_insert(tokio::time::Instant::now() + QUIT_TIMEOUT);
                }
                // The driver let go of the VM: stop it now.
                None => {
                    let _ = child.start_kill();
                    driven = false;
                }
            },
            line = qmp.lines.next_line(), if qmp_open => match line {
                Ok(Some(line)) => match super::qmp::parse(&line) {
                    Message::Event(name, data) => {
                        tracing::info!(event = %name, %data, "QMP event");
                        if let Some(power) = guest_power(&name) {
                            note(VmNote::Sleep(power));
                        }
                        if name == "SHUTDOWN" {
                            shutdown_reason = data
                                .get("reason")
                                .and_then(Value::as_str)
                                .map(str::to_string);
                        }
                    }
                    Message::Error(e) => tracing::warn!(error = %e, "QMP command failed"),
                    Message::Return | Message::Other(_) => {}
                },
                Ok(None) | Err(_) => {
                    tracing::info!("QMP connection closed");
                    qmp_open = false;
                }
            },
            () = kill_due => {
                tracing::warn!("QEMU did not quit in time; killing it");
                let _ = child.start_kill();
                kill_at = None;
            }
        }
    };
    console.connect_input(None);
    console.set_display(None);
    // The serial port's last bytes (the guest's final words) are kept.
    while serial_open {
        match tokio::time::timeout(Duration::from_millis(200), serial_in.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => console.output(&buf[..n]),
            _ => serial_open = false,
        }
    }
    let mut why = exit_reason(status, &stderr);
    if let Some(reason) = shutdown_reason {
        why.push_str(&format!(" after SHUTDOWN ({reason})"));
    }
    note(VmNote::Ended(why));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(config: &QemuConfig, target: BootTarget) -> String {
        command_line(
            config,
            target,
            "tcg",
            &Sockets::in_dir(Path::new("/r")),
            false,
        )
        .join(" ")
    }

    #[test]
    fn the_boot_target_picks_the_boot_order_and_the_kernel() {
        let config = QemuConfig {
            kernel: Some("/g/vmlinuz".into()),
            initrd: Some("/g/initrd.img".into()),
            disk: Some("/g/disk,1.qcow2".into()),
            ..QemuConfig::new()
        };
        let disk = line(&config, BootTarget::Disk);
        assert!(disk.contains("-boot order=c"), "{disk}");
        assert!(
            disk.contains("-kernel /g/vmlinuz -initrd /g/initrd.img -append console=ttyS0,115200")
        );
        assert!(
            disk.contains("file=/g/disk,,1.qcow2,format=qcow2"),
            "{disk}"
        );
        assert!(disk.contains("-nic none"));
        assert!(disk.contains("pc,accel=tcg"));
        assert!(disk.contains("socket,id=amtemu-serial,path=/r/serial.sock"));
        assert!(
            disk.contains("socket,id=amtemu-agent,path=/r/agent.sock -serial chardev:amtemu-agent"),
            "the guest agent's port is ttyS1: {disk}"
        );
        assert!(
            disk.contains("-global PIIX4_PM.disable_s3=0"),
            "the VM offers ACPI S3: {disk}"
        );
        assert!(
            disk.contains("-vga std -vnc unix:/r/display.sock"),
            "the display KVM shows: {disk}"
        );
        let cd = line(&config, BootTarget::CdDvd);
        assert!(
            cd.contains("-boot order=d") && !cd.contains("-kernel"),
            "{cd}"
        );
        let pxe = line(&config, BootTarget::Pxe);
        assert!(
            pxe.contains("-boot order=n") && pxe.contains("restrict=on"),
            "{pxe}"
        );
        assert!(line(&config, BootTarget::BiosSetup).contains("menu=on"));
        // The IDE-R drive is always there, and first only for IDE-R.
        assert!(disk.contains("-device ide-cd,bus=ide.1,unit=1,id=amtemu-ider-cd -"));
        let ider = line(&config, BootTarget::IdeRedirection);
        assert!(
            ider.contains("id=amtemu-ider-cd,bootindex=0") && !ider.contains("-boot"),
            "{ider}"
        );
        assert!(!ider.contains("-kernel") && !ider.contains(" -S"));
    }
}
