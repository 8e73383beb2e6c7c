//! The host on a device, under paused time: each boot path, the login and
//! shell, power effects seen by the device, IDE-R against a fake console.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::*;
use crate::device::{
    BootSource, Device, DeviceConfig, DeviceEvent, Firmware, HostPower, PowerRequest,
};
use crate::host::atapi::op;
use crate::host::media::tests::iso_image;

fn device_with(script: Option<ConsoleScript>) -> Arc<Device> {
    let mut config = DeviceConfig::new("host-test", Firmware::by_name("11.8").unwrap());
    config.host_name = "pc-42".into();
    config.power = HostPower::S5;
    config.console = script.map(Arc::new);
    Device::new(config)
}

fn device() -> Arc<Device> {
    device_with(None)
}

/// A console reading from the oldest retained byte.
struct Screen {
    cursor: u64,
    text: String,
}

impl Screen {
    fn attach(device: &Device) -> Screen {
        Screen {
            cursor: device.console_cursor(),
            text: String::new(),
        }
    }

    fn pull(&mut self, device: &Device) -> &str {
        let bytes = device.console_read(&mut self.cursor);
        self.text.push_str(&String::from_utf8_lossy(&bytes));
        &self.text
    }

    /// Lets time pass until `needle` shows, or panics after `limit`.
    async fn wait_for(&mut self, device: &Device, needle: &str, limit: Duration) {
        let end = Instant::now() + limit;
        while !self.pull(device).contains(needle) {
            assert!(
                Instant::now() < end,
                "{needle:?} never came; screen:\n{}",
                self.text
            );
            sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn power_on(device: &Device) {
    device.request_power(PowerRequest::On).unwrap();
    sleep(Duration::from_secs(2)).await;
}

async fn log_in(device: &Device, screen: &mut Screen) {
    screen
        .wait_for(device, "login: ", Duration::from_secs(30))
        .await;
    device.console_input(b"root\r");
    screen
        .wait_for(device, "Password: ", Duration::from_secs(1))
        .await;
    device.console_input(b"amtemu\r");
    screen
        .wait_for(device, "root@pc-42:~# ", Duration::from_secs(1))
        .await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_device_has_no_host() {
    let device = device();
    device.with_state(|s| s.nvram.general.host_name = "x".parse().unwrap());
    assert_eq!(device.console_next_due(), None);
    assert_eq!(device.ider_next_request(), None);
    device.with_state(|s| assert!(s.host.is_none()));
}

#[tokio::test(start_paused = true)]
async fn a_disk_boot_shows_post_grub_and_the_login_prompt() {
    let device = device();
    power_on(&device).await;
    let mut screen = Screen::attach(&device);
    assert_eq!(screen.cursor, 0);
    screen
        .wait_for(&device, "login: ", Duration::from_secs(30))
        .await;
    let text = &screen.text;
    assert!(text.contains("AMTEMU BIOS"), "{text}");
    assert!(text.contains("GRUB"));
    assert!(text.contains("Amtemu Linux 1.0 pc-42 ttyS1"));
    assert!(text.ends_with("pc-42 login: "));
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "bare LF in {text:?}"
    );
    assert_eq!(device.console_next_due(), None, "waits for input");
}

#[tokio::test(start_paused = true)]
async fn login_commands_and_poweroff_reach_s5() {
    let device = device();
    let mut events = device.subscribe();
    power_on(&device).await;
    let mut screen = Screen::attach(&device);
    screen
        .wait_for(&device, "login: ", Duration::from_secs(30))
        .await;
    device.console_input(b"root\rwrong\r");
    screen
        .wait_for(&device, "Login incorrect", Duration::from_secs(3))
        .await;
    log_in(&device, &mut screen).await;
    let before = screen.text.len();
    device.console_input(b"hostnamx\x7fe\r");
    screen
        .wait_for(&device, "pc-42\r\nroot@pc-42", Duration::from_secs(1))
        .await;
    assert!(screen.text[before..].starts_with("hostnamx\x08 \x08e\r\n"));
    device.console_input(b"\x04");
    screen
        .wait_for(&device, "logout\r\n", Duration::from_secs(1))
        .await;
    log_in(&device, &mut screen).await;
    device.console_input(b"uname -a\r");
    screen
        .wait_for(&device, "Linux pc-42 6.6.0-amtemu", Duration::from_secs(1))
        .await;
    device.console_input(b"shutdown -h now\r");
    screen
        .wait_for(&device, "reboot: Power down", Duration::from_secs(5))
        .await;
    let state = device.with_state(|s| s.power.state());
    assert_eq!(state, HostPower::S0, "the last words come first");
    sleep(Duration::from_millis(250)).await;
    device.with_state(|s| assert_eq!(s.power.state(), HostPower::S5));
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert_eq!(
        seen.last(),
        Some(&DeviceEvent::PowerChanged {
            from: HostPower::S0,
            to: HostPower::S5
        })
    );
    device.console_input(b"ls\r");
    assert!(
        !screen.pull(&device).ends_with("ls\r\n"),
        "nobody reads keys"
    );
    assert_eq!(device.console_next_due(), None);
}

#[tokio::test(start_paused = true)]
async fn reboot_boots_again_and_consumes_boot_options() {
    let device = device();
    power_on(&device).await;
    let mut screen = Screen::attach(&device);
    log_in(&device, &mut screen).await;
    let mut events = device.subscribe();
    device.with_state(|s| {
        s.nvram.boot.boot_order = Some(BootSource::Pxe);
        s.nvram.boot.is_next = true;
    });
    device.console_input(b"reboot\r");
    screen
        .wait_for(&device, "PXE-E51", Duration::from_secs(20))
        .await;
    assert_eq!(
        events.try_recv().unwrap(),
        DeviceEvent::Booted(BootTarget::Pxe)
    );
    screen
        .wait_for(&device, "login: ", Duration::from_secs(30))
        .await;
    device.with_state(|s| assert_eq!(s.power.state(), HostPower::S0));
}

#[tokio::test(start_paused = true)]
async fn pxe_times_out_and_falls_back_to_the_disk() {
    let device = device();
    device.with_state(|s| {
        s.nvram.boot.boot_order = Some(BootSource::Pxe);
        s.nvram.boot.is_next = true;
    });
    power_on(&device).await;
    let mut screen = Screen::attach(&device);
    screen
        .wait_for(&device, "login: ", Duration::from_secs(60))
        .await;
    let text = &screen.text;
    let pxe = text.find("DHCP...").unwrap();
    let grub = text.find("GRUB").unwrap();
    assert!(text.contains("PXE-E51: No DHCP or proxyDHCP offers"));
    let mac = device.identity.mac.replace('-', " ").to_uppercase();
    assert!(
        text.contains(&format!("CLIENT MAC ADDR: {mac}  GUID: ")),
        "{text}"
    );
    assert!(text.contains(&device.identity.uuid_string().to_uppercase()));
    assert!(pxe < grub);
}

#[tokio::test(start_paused = true)]
async fn bios_setup_waits_for_a_key() {
    let device = device();
    device.with_state(|s| s.nvram.boot.bios_setup = true);
    power_on(&device).await;
    let mut screen = Screen::attach(&device);
    screen
        .wait_for(&device, "Setup Utility", Duration::from_secs(10))
        .await;
    assert!(screen.text.contains("\x1b[44;37m"), "blue setup screen");
    sleep(Duration::from_secs(120)).await;
    assert!(!screen.pull(&device).contains("login:"));
    assert_eq!(device.console_next_due(), None);
    device.console_input(b"\x1b");
    screen
        .wait_for(&device, "login: ", Duration::from_secs(30))
        .await;
    assert!(screen.text.contains("Exiting Setup"));
}

/// Waits as a redirection session loop does: for the host's next timed
/// output or a change it announces.
async fn wake(device: &Device, watch: &mut tokio::sync::watch::Receiver<u64>) {
    let due = device
        .console_next_due()
        .unwrap_or(Instant::now() + Duration::from_secs(5));
    tokio::select! {
        _ = tokio::time::sleep_until(due) => {}
        _ = watch.changed() => {}
    }
}

/// Answers the host's IDE-R commands from an image, as a console does;
/// the first TEST UNIT READY gets UNIT ATTENTION, as MeshCommander answers.
async fn serve_ider(device: &Device, image: &[u8]) -> Vec<u8> {
    serve_ider_as(device, IderDrive::Cd, image, 2048).await
}

/// As [`serve_ider`], with the image in `drive` and the other drive empty.
async fn serve_ider_as(device: &Device, drive: IderDrive, image: &[u8], block: usize) -> Vec<u8> {
    let mut opcodes = Vec::new();
    let mut watch = device.host_watch();
    for _ in 0..20 {
        let Some(request) = device.ider_next_request() else {
            wake(device, &mut watch).await;
            continue;
        };
        opcodes.push(request.cdb[0]);
        let (data, sense) = match request.cdb[0] {
            _ if request.drive != drive => (Vec::new(), atapi::NO_MEDIUM),
            op::TEST_UNIT_READY if opcodes.len() == 1 => (Vec::new(), atapi::MEDIUM_CHANGED),
            op::TEST_UNIT_READY => (Vec::new(), atapi::GOOD),
            op::READ_CAPACITY_10 => {
                let mut d = ((image.len() / block - 1) as u32).to_be_bytes().to_vec();
                d.extend((block as u32).to_be_bytes());
                (d, atapi::GOOD)
            }
            op::READ_10 => {
                let lba = u32::from_be_bytes(request.cdb[2..6].try_into().unwrap()) as usize;
                (image[lba * block..(lba + 1) * block].to_vec(), atapi::GOOD)
            }
            _ => (Vec::new(), atapi::INVALID_COMMAND),
        };
        assert!(data.len() <= request.transfer_len as usize);
        sleep(Duration::from_millis(5)).await;
        device.ider_complete(IderReply {
            id: request.id,
            data,
            sense,
        });
        if request.cdb[0] == op::READ_10 {
            break;
        }
    }
    opcodes
}

#[tokio::test(start_paused = true)]
async fn ider_reads_the_volume_label_of_the_consoles_iso() {
    let device = device();
    device.ider_session(true);
    device.with_state(|s| s.nvram.boot.use_ider = true);
    let mut screen = Screen::attach(&device);
    device.request_power(PowerRequest::On).unwrap();
    let opcodes = serve_ider(&device, &iso_image("AMTEMU_RESCUE")).await;
    assert_eq!(
        opcodes,
        vec![
            op::TEST_UNIT_READY,
            op::TEST_UNIT_READY,
            op::READ_CAPACITY_10,
            op::READ_10
        ]
    );
    screen
        .wait_for(
            &device,
            "Booting from IDE-R CD-ROM: AMTEMU_RESCUE",
            Duration::from_secs(5),
        )
        .await;
    assert!(screen.text.contains("IDE-R Slave : Intel Virtual CD-ROM"));
    screen
        .wait_for(&device, "login: ", Duration::from_secs(30))
        .await;
    assert!(screen.text.contains("AMTEMU_RESCUE installer"));
    assert!(!screen.text.contains("GRUB"), "the disk is not booted");
    device.with_state(|s| assert_eq!(s.host.as_ref().unwrap().booted_label(), "AMTEMU_RESCUE"));
}

#[tokio::test(start_paused = true)]
async fn ider_without_a_session_falls_back_to_the_disk() {
    let device = device();
    device.with_state(|s| s.nvram.boot.use_ider = true);
    power_on(&device).await;
    let mut screen = Screen::attach(&device);
    screen
        .wait_for(&device, "login: ", Duration::from_secs(60))
        .await;
    assert!(screen.text.contains("IDE-R: no redirection session."));
    assert!(screen.text.contains("Boot device not found"));
    assert!(screen.text.find("Boot device not found") < screen.text.find("GRUB"));
    assert_eq!(device.ider_next_request(), None);
}

#[tokio::test(start_paused = true)]
async fn ider_with_a_silent_console_times_out_and_ignores_late_answers() {
    let device = device();
    device.ider_session(true);
    device.with_state(|s| s.nvram.boot.use_ider = true);
    power_on(&device).await;
    let mut screen = Screen::attach(&device);
    let mut request = None;
    for _ in 0..50 {
        request = device.ider_next_request();
        if request.is_some() {
            break;
        }
        sleep(Duration::from_millis(100)).await;
    }
    let request = request.expect("a TEST UNIT READY");
    assert_eq!(device.ider_next_request(), None, "handed out once");
    screen
        .wait_for(&device, "did not answer", Duration::from_secs(11))
        .await;
    device.ider_complete(IderReply {
        id: request.id,
        data: Vec::new(),
        sense: atapi::GOOD,
    });
    screen
        .wait_for(&device, "login: ", Duration::from_secs(30))
        .await;
    assert_eq!(device.ider_next_request(), None);
}

#[tokio::test(start_paused = true)]
async fn a_session_ending_mid_probe_falls_back() {
    let device = device();
    device.ider_session(true);
    device.with_state(|s| s.nvram.boot.use_ider = true);
    power_on(&device).await;
    let mut screen = Screen::attach(&device);
    sleep(Duration::from_secs(2)).await;
    assert!(device.ider_next_request().is_some());
    device.ider_session(false);
    screen
        .wait_for(
            &device,
            "the redirection session ended",
            Duration::from_secs(1),
        )
        .await;
    screen
        .wait_for(&device, "login: ", Duration::from_secs(30))
        .await;
}

#[tokio::test(start_paused = true)]
async fn output_while_detached_is_kept_up_to_the_bound() {
    let mut script = ConsoleScript::default();
    script.post = (0..100)
        .map(|i| script::Line {
            after_ms: 10,
            text: format!("{i:03}{}\n", "x".repeat(1020)),
        })
        .collect();
    let device = device_with(Some(script));
    power_on(&device).await;
    sleep(Duration::from_secs(60)).await;
    let mut screen = Screen::attach(&device);
    assert!(screen.cursor > 0, "the oldest output was dropped");
    let text = screen.pull(&device).to_string();
    assert!(text.len() <= buffer::DEFAULT_CAPACITY);
    assert!(text.len() > buffer::DEFAULT_CAPACITY - 100);
    assert!(!text.contains("000xxx"));
    assert!(text.contains("099xxx"));
    assert!(text.ends_with("login: "));
    let mut stale = 0;
    assert_eq!(
        device.console_read(&mut stale).len(),
        text.len(),
        "skips ahead"
    );
}

#[tokio::test(start_paused = true)]
async fn sleep_pauses_the_os_and_resume_continues_it() {
    let device = device();
    power_on(&device).await;
    let mut screen = Screen::attach(&device);
    log_in(&device, &mut screen).await;
    device.request_power(PowerRequest::SleepDeep).unwrap();
    sleep(Duration::from_secs(2)).await;
    device.console_input(b"echo lost\r");
    assert!(!screen.pull(&device).contains("echo lost"));
    device.request_power(PowerRequest::On).unwrap();
    screen
        .wait_for(&device, "Resumed from suspend", Duration::from_secs(5))
        .await;
    screen.wait_for(&device, "# ", Duration::from_secs(1)).await;
    assert!(
        !screen
            .text
            .contains("GRUB version 2.12\r\n\r\n *Amtemu Linux 1.0 ")
            || screen.text.matches("GRUB").count() == 1
    );
    device.console_input(b"echo still here\r");
    screen
        .wait_for(&device, "still here\r\nroot@pc-42", Duration::from_secs(1))
        .await;
}

#[tokio::test(start_paused = true)]
async fn a_running_host_shows_a_login_prompt_when_first_read() {
    let mut config = DeviceConfig::new("running", Firmware::by_name("11.8").unwrap());
    config.host_name = "srv".into();
    let device = Device::new(config);
    let mut screen = Screen::attach(&device);
    assert!(screen.pull(&device).ends_with("srv login: "));
    device.force_power(HostPower::S5);
    device.console_input(b"root\r");
    assert!(!screen.pull(&device).contains("root"));
}

#[tokio::test(start_paused = true)]
async fn the_watch_wakes_a_console_on_output() {
    let device = device();
    let mut watch = device.host_watch();
    device.request_power(PowerRequest::On).unwrap();
    tokio::time::timeout(Duration::from_secs(5), watch.changed())
        .await
        .expect("woken by the POST screen")
        .unwrap();
    let due = device.console_next_due().expect("more POST output");
    assert!(due > Instant::now());
}

#[test]
fn the_host_is_not_part_of_nvram() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let device = device();
        power_on(&device).await;
        let json = serde_json::to_string(&device.nvram()).unwrap();
        assert!(!json.contains("GRUB") && !json.contains("host\":{"));
        let restored = device_with(None);
        restored.restore(device.nvram());
        restored.with_state(|s| assert!(s.host.is_none()));
    });
}

#[tokio::test(start_paused = true)]
async fn poweroff_lands_on_time_without_a_reader() {
    let device = device();
    power_on(&device).await;
    let mut screen = Screen::attach(&device);
    log_in(&device, &mut screen).await;
    let mut events = device.subscribe();
    device.console_input(b"poweroff\r");
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("the OS powers off by itself")
        .unwrap();
    assert_eq!(
        event,
        DeviceEvent::PowerChanged {
            from: HostPower::S0,
            to: HostPower::S5
        }
    );
}

#[tokio::test(start_paused = true)]
async fn ider_boots_a_floppy_when_the_cd_drive_is_empty() {
    let device = device();
    device.ider_session(true);
    device.with_state(|s| s.nvram.boot.use_ider = true);
    let mut screen = Screen::attach(&device);
    device.request_power(PowerRequest::On).unwrap();
    let mut image = crate::host::media::tests::floppy_sector("FREEDOS");
    image.resize(512 * 2880, 0);
    let opcodes = serve_ider_as(&device, IderDrive::Floppy, &image, 512).await;
    assert_eq!(opcodes.first(), Some(&op::TEST_UNIT_READY), "the CD first");
    screen
        .wait_for(
            &device,
            "Booting from IDE-R floppy: FREEDOS",
            Duration::from_secs(5),
        )
        .await;
}

#[tokio::test(start_paused = true)]
async fn absurd_delays_in_a_script_are_cut_to_an_hour() {
    let mut script = ConsoleScript::default();
    script.post = vec![script::Line {
        after_ms: u64::MAX,
        text: "LATE\n".into(),
    }];
    script.ider_timeout_ms = u64::MAX;
    let device = device_with(Some(script));
    device.ider_session(true);
    device.with_state(|s| s.nvram.boot.use_ider = true);
    power_on(&device).await;
    let due = device.console_next_due().expect("the late line");
    assert!(due <= Instant::now() + script::MAX_DELAY);
    let mut screen = Screen::attach(&device);
    sleep(script::MAX_DELAY).await;
    screen
        .wait_for(&device, "LATE", Duration::from_secs(1))
        .await;
    sleep(Duration::from_secs(1)).await;
    assert!(device.ider_next_request().is_some());
    assert!(device.console_next_due().unwrap() <= Instant::now() + script::MAX_DELAY);
}

#[tokio::test(start_paused = true)]
async fn the_running_os_mounts_the_consoles_medium() {
    let device = device();
    power_on(&device).await;
    let mut screen = Screen::attach(&device);
    log_in(&device, &mut screen).await;
    device.console_input(b"mount /dev/cdrom\r");
    screen
        .wait_for(&device, "no medium found", Duration::from_secs(1))
        .await;
    device.ider_session(true);
    device.console_input(b"mount /dev/cdrom\r");
    let opcodes = serve_ider(&device, &iso_image("DATA DISC")).await;
    assert_eq!(opcodes.last(), Some(&op::READ_10));
    screen
        .wait_for(
            &device,
            "mount: /dev/sr0 (ISO 9660) mounted read-only on /media/DATA_DISC\r\nroot@pc-42:~# ",
            Duration::from_secs(1),
        )
        .await;
    device.console_input(b"mount\r");
    screen
        .wait_for(
            &device,
            "/dev/sr0 on /media/DATA_DISC type iso9660 (ro)",
            Duration::from_secs(1),
        )
        .await;
    device.ider_session(false);
    device.console_input(b"umount\r");
    screen
        .wait_for(
            &device,
            "umount: /media: not mounted",
            Duration::from_secs(1),
        )
        .await;
    device.ider_session(true);
    device.console_input(b"mount /dev/cdrom\r");
    sleep(Duration::from_secs(1)).await;
    assert!(device.ider_next_request().is_some());
    device.ider_session(false);
    screen
        .wait_for(
            &device,
            "mount: /dev/cdrom: the redirection session ended",
            Duration::from_secs(1),
        )
        .await;
    screen
        .wait_for(&device, "root@pc-42:~# ", Duration::from_secs(1))
        .await;
    device.with_state(|s| assert_eq!(s.power.state(), HostPower::S0, "no reboot"));
}

#[test]
fn a_host_name_with_control_characters_never_reaches_the_terminal() {
    // The device cannot hold such a name (`values::HostName`), so the
    // console's `hostname` has none to print: one given in the device's
    // configuration is dropped.
    assert!("pc\x1b[2J-42".parse::<crate::values::HostName>().is_err());
    let mut config = DeviceConfig::new("host-test", Firmware::by_name("11.8").unwrap());
    config.host_name = "pc\x1b[2J-42".into();
    let device = Device::new(config);
    assert_eq!(device.general_settings().host_name, "");
}
