//! Things a scenario may name that the emulator does not model yet: refused
//! with a clear message rather than ignored.

use toml::de::{DeTable, DeValue};

use super::source::{Checked, KeyPath, Problem, problem};

const UNSUPPORTED_GROUP_KEYS: &[(&str, &str)] = &[
    (
        "console_script",
        "the key is `console`: a console script file's path or an inline table",
    ),
    (
        "tls",
        "TLS settings in scenarios; devices start with the firmware's TLS defaults (configure TLS over WS-Man)",
    ),
    (
        "hellos",
        "hellos start with the timeline action `enter-setup-mode` or `provisioning = \"in\"`",
    ),
    (
        "hello",
        "hellos start with the timeline action `enter-setup-mode` or `provisioning = \"in\"`",
    ),
    (
        "certificates",
        "certificates in scenarios; devices start with an empty certificate store",
    ),
    (
        "ca_key_bits",
        "the largest CA key a device accepts follows its firmware (`amtemu firmware list`)",
    ),
];

const UNSUPPORTED_EXPECT_KEYS: &[(&str, &str)] = &[
    ("hellos", "the key is `hellos_delivered`"),
    ("saw-hello", "the key is `hellos_delivered`"),
    ("sent-hello", "the key is `hellos_delivered`"),
];

pub(super) fn unsupported_action(action: &str) -> Option<&'static str> {
    let a = action.to_ascii_lowercase();
    if a.contains("hello") || a.contains("setup") {
        Some("the action is `enter-setup-mode`")
    } else if a.contains("cert") || a.contains("expire") {
        Some("the action is `cert-expire`")
    } else if a.contains("policy") {
        Some("the management engine's power policy is the group key `power_policy`")
    } else if a.contains("console") || a.contains("sol") {
        Some("a group's console script is the key `console`; SOL sessions come from clients")
    } else {
        None
    }
}

pub(super) fn check_unsupported_keys(root: &DeTable<'_>) -> Checked<()> {
    let lists: [(&str, &[(&str, &str)]); 2] = [
        ("groups", UNSUPPORTED_GROUP_KEYS),
        ("expect", UNSUPPORTED_EXPECT_KEYS),
    ];
    for (section, keys) in lists {
        let Some((_, v)) = root.iter().find(|(k, _)| k.get_ref() == section) else {
            continue;
        };
        let DeValue::Array(items) = v.get_ref() else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let DeValue::Table(t) = item.get_ref() else {
                continue;
            };
            for (k, _) in t.iter() {
                if let Some((_, why)) = keys.iter().find(|(name, _)| *name == k.get_ref()) {
                    return Err(Problem {
                        at: Some(k.span().start),
                        ..problem(
                            &KeyPath::root().k(section).i(i).k(k.get_ref()),
                            format!("not supported yet: {why}"),
                        )
                    });
                }
            }
        }
    }
    Ok(())
}
