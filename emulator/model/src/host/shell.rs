//! The few commands the simulated OS's shell knows.

use std::time::Duration;

use super::script::ConsoleScript;

/// What the shell needs to know about the machine it runs on.
pub struct Context<'a> {
    pub script: &'a ConsoleScript,
    pub host_name: &'a str,
    pub user: &'a str,
    pub uptime: Duration,
}

/// What a command line does; texts use `\n` line ends.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Print(String),
    Logout,
    /// List what is mounted.
    Mounts,
    /// Mount the IDE-R medium (the host reads it from the console).
    Mount,
    Umount,
    PowerOff,
    Reboot,
}

pub fn run(line: &str, cx: &Context) -> Outcome {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&command, args)) = words.split_first() else {
        return Outcome::Print(String::new());
    };
    let text = match command {
        "help" => "Commands: help, uname [-a], uptime, hostname, whoami, echo, ls, cat FILE, \
                   clear, mount [/dev/cdrom], umount, exit, poweroff, shutdown -h|-r now, \
                   reboot\n"
            .to_string(),
        "uname" if args.first() == Some(&"-a") => format!(
            "Linux {} {} #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux\n",
            cx.host_name, cx.script.kernel
        ),
        "uname" => "Linux\n".to_string(),
        "uptime" => {
            let minutes = cx.uptime.as_secs() / 60;
            format!(
                " up {}:{:02},  1 user,  load average: 0.00, 0.00, 0.00\n",
                minutes / 60,
                minutes % 60
            )
        }
        "hostname" => format!("{}\n", cx.host_name),
        "whoami" => format!("{}\n", cx.user),
        "echo" => format!("{}\n", args.join(" ")),
        "ls" => {
            if cx.script.files.is_empty() {
                String::new()
            } else {
                format!("{}\n", cx.script.files.join("  "))
            }
        }
        "cat" => match args.first() {
            None => String::new(),
            Some(&"/etc/os-release") => cx.script.os_release.clone(),
            Some(&"/etc/hostname") => format!("{}\n", cx.host_name),
            Some(file) => format!("cat: {file}: No such file or directory\n"),
        },
        "clear" => "\x1b[H\x1b[2J".to_string(),
        "exit" | "logout" => return Outcome::Logout,
        "mount" if args.is_empty() => return Outcome::Mounts,
        "mount" => return Outcome::Mount,
        "umount" | "eject" => return Outcome::Umount,
        "poweroff" | "halt" => return Outcome::PowerOff,
        "reboot" => return Outcome::Reboot,
        "shutdown" => {
            return match args {
                ["-h" | "-P", "now"] | ["now"] => Outcome::PowerOff,
                ["-r", "now"] => Outcome::Reboot,
                _ => Outcome::Print("shutdown: usage: shutdown -h now | shutdown -r now\n".into()),
            };
        }
        other => format!("-sh: {other}: command not found\n"),
    };
    Outcome::Print(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_line(line: &str) -> Outcome {
        let script = ConsoleScript::default();
        run(
            line,
            &Context {
                script: &script,
                host_name: "pc-7",
                user: "root",
                uptime: Duration::from_secs(3725),
            },
        )
    }

    fn printed(line: &str) -> String {
        match run_line(line) {
            Outcome::Print(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn commands() {
        assert_eq!(printed("hostname"), "pc-7\n");
        assert!(printed("uname -a").starts_with("Linux pc-7 6.6.0-amtemu"));
        assert!(printed("uptime").contains("up 1:02,"));
        assert_eq!(printed("echo  a   b"), "a b\n");
        assert!(printed("cat /etc/os-release").contains("ID=amtemu"));
        assert!(printed("cat /nope").contains("No such file"));
        assert_eq!(printed("frob"), "-sh: frob: command not found\n");
        assert_eq!(printed("   "), "");
        assert_eq!(run_line("shutdown -h now"), Outcome::PowerOff);
        assert_eq!(run_line("poweroff"), Outcome::PowerOff);
        assert_eq!(run_line("shutdown -r now"), Outcome::Reboot);
        assert_eq!(run_line("exit"), Outcome::Logout);
        assert_eq!(run_line("mount"), Outcome::Mounts);
        assert_eq!(run_line("mount /dev/cdrom /media"), Outcome::Mount);
        assert_eq!(run_line("umount /media"), Outcome::Umount);
        assert!(printed("shutdown").contains("usage"));
    }
}
