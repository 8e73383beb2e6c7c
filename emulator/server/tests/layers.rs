//! Inside a crate the compiler lets modules import each other in circles;
//! these tests keep the server's and the model's modules pointing one way
//! (docs/ARCHITECTURE.md lists the order). Each module may use modules
//! listed before it, never one after it. Test code (`tests.rs` files and
//! whatever follows `#[cfg(test)]`) may look anywhere.

use std::path::Path;

/// The server crate's modules, lowest first.
const SERVER: &[&str] = &[
    "address",
    "faults",
    "metrics",
    "store",
    "tls",
    "host_port",
    "kerberos",
    "endpoint",
    "eventing",
    "http",
    "redirect",
    "cira",
    "provision",
    "qemu",
    "fleet",
    "control",
    "scenario",
    "emulator",
];

/// The model crate's modules, lowest first.
const MODEL: &[&str] = &["values", "identity", "pki", "host", "device", "testing"];

/// Every `crate::<module>` a module's non-test source names.
fn uses(src: &Path, module: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let file = src.join(format!("{module}.rs"));
    if file.exists() {
        files.push(file);
    }
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                files.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push((path.display().to_string(), name));
        }
    }
    found
}

fn check(crate_dir: &str, order: &[&str]) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("src");
    let mut wrong = Vec::new();
    for (i, module) in order.iter().enumerate() {
        for (file, used) in uses(&src, module) {
            match order.iter().position(|m| *m == used) {
                Some(j) if j <= i => {}
                Some(_) => wrong.push(format!(
                    "{file}: {module} uses {used}, which comes after it"
                )),
                None => wrong.push(format!(
                    "{file}: {module} uses crate::{used}, which the order does not list"
                )),
            }
        }
    }
    // Every module of the crate is in the order.
    for entry in std::fs::read_dir(&src).expect("the crate's src").flatten() {
        let name = entry
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if name != "lib" && !order.contains(&name.as_str()) {
            wrong.push(format!("module {name} is missing from the order"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn server_modules_point_one_way() {
    check("server", SERVER);
}

#[test]
fn model_modules_point_one_way() {
    check("model", MODEL);
}
