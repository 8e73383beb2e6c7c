//! The Kubernetes manifests in k8s/: valid against the Kubernetes schemas
//! (PyPI kubernetes-validate, which ships them: no network), their
//! scenarios load, the shard count matches the replicas, direct mode's
//! shards each fit the block its init container routes, and the image
//! they name is what the Dockerfile builds.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use amtemu_server::fleet::shard::Shard;
use amtemu_server::scenario;
use serde_json::Value;
use support::*;

fn venv_bin(name: &str) -> PathBuf {
    clients_prefix().join("venv/bin").join(name)
}

fn manifests() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo().join("k8s"), &mut out);
    out.sort();
    out
}

/// kubernetes-validate --strict on `files`, with any attempt to reach the
/// network sent to a closed loopback port.
fn validate(files: &[PathBuf]) -> std::process::Output {
    Command::new(venv_bin("kubernetes-validate"))
        .args(["--strict", "--quiet"])
        .args(files)
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "")
        .output()
        .expect("kubernetes-validate runs")
}

/// Every document of the manifests, as JSON (read by the venv's PyYAML).
fn documents(files: &[PathBuf]) -> Vec<Value> {
    let out = Command::new(venv_bin("python"))
        .args([
            "-c",
            "import json, sys, yaml\n\
             print(json.dumps([d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]))",
        ])
        .args(files)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
}

#[test]
fn the_manifests_are_valid_and_describe_the_shards_they_run() {
    if !client_available(
        venv_bin("kubernetes-validate").exists(),
        "kubernetes-validate (PyPI)",
    ) {
        return;
    }
    let files = manifests();
    assert!(files.len() >= 6, "{files:?}");
    let out = validate(&files);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The validator does reject what Kubernetes would.
    let dir = std::env::temp_dir().join(format!("amtemu-k8s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.yaml");
    let text = std::fs::read_to_string(repo().join("k8s/statefulset.yaml")).unwrap();
    assert!(text.contains("  replicas: 4\n"));
    std::fs::write(
        &broken,
        text.replace("  replicas: 4\n", "  replicas: four\n"),
    )
    .unwrap();
    assert!(!validate(std::slice::from_ref(&broken)).status.success());
    std::fs::write(
        &broken,
        text.replace(
            "  serviceName: amtemu\n",
            "  serviceName: amtemu\n  shards: 4\n",
        ),
    )
    .unwrap();
    assert!(!validate(&[broken]).status.success());
    std::fs::remove_dir_all(&dir).unwrap();

    let docs = documents(&files);
    let scenario_of = |configmap: &str| -> scenario::Scenario {
        let cm = docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == configmap)
            .unwrap_or_else(|| panic!("no ConfigMap {configmap}"));
        let text = cm["data"]["scenario.toml"].as_str().unwrap();
        scenario::parse(text, configmap).unwrap_or_else(|e| panic!("{e}"))
    };
    let mut sets = 0;
    for set in docs.iter().filter(|d| d["kind"] == "StatefulSet") {
        sets += 1;
        let name = set["metadata"]["name"].as_str().unwrap();
        let replicas = set["spec"]["replicas"].as_u64().unwrap() as u32;
        let pod = &set["spec"]["template"];
        assert_eq!(
            pod["metadata"]["annotations"]["prometheus.io/scrape"],
            "true"
        );
        let port = pod["metadata"]["annotations"]["prometheus.io/port"]
            .as_str()
            .unwrap();
        let container = &pod["spec"]["containers"][0];
        let args: Vec<&str> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        // The scraped port is the one --metrics listens on, off loopback.
        let metrics = args[args.iter().position(|a| *a == "--metrics").unwrap() + 1];
        assert_eq!(metrics, format!("0.0.0.0:{port}"), "{name}");
        assert_eq!(args[0], "fleet");
        // N of the shard is the replica count, K the pod's ordinal.
        assert_eq!(
            env_value(container, "AMTEMU_SHARD"),
            Some(format!("$(POD_NAME)/{replicas}").as_str()),
            "{name}"
        );
        for k in 0..replicas {
            let pod_name = format!("{name}-{k}/{replicas}");
            assert_eq!(pod_name.parse::<Shard>(), Shard::new(k, replicas));
        }
        assert!(container["resources"]["requests"]["memory"].is_string());
        let configmap = pod["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|v| v["configMap"]["name"].as_str())
            .unwrap();
        let s = scenario_of(configmap);
        for k in 0..replicas {
            let shard = s.clone().with_shard(Shard::new(k, replicas).unwrap());
            let specs = shard.device_specs().unwrap();
            assert!(!specs.is_empty(), "{name} shard {k}");
            if pod["spec"]["hostNetwork"] == true {
                // Direct mode: the init container makes 10.200.(32·K).0/19
                // local; every device of shard K must be inside it.
                let route = pod["spec"]["initContainers"][0]["command"][2]
                    .as_str()
                    .unwrap();
                assert!(route.contains("10.200.$(( ${POD_NAME##*-} * 32 )).0/19"));
                for spec in [&specs[0], &specs[specs.len() - 1]] {
                    let std::net::IpAddr::V4(a) = spec.address else {
                        panic!()
                    };
                    let [first, second, third, _] = a.octets();
                    assert_eq!((first, second), (10, 200), "{a}");
                    assert_eq!(u32::from(third) / 32, k, "{name} shard {k}: {a}");
                }
            }
        }
    }
    assert_eq!(sets, 2);
}

#[test]
fn the_dockerfile_builds_the_binary_the_manifests_run() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("cargo build --release --locked -p amtemu"));
    assert!(dockerfile.contains("/src/target/release/amtemu /usr/local/bin/amtemu"));
    assert!(dockerfile.contains("ENTRYPOINT [\"amtemu\"]"));
    // Direct mode's init container runs `ip route` from the same image.
    assert!(dockerfile.contains("iproute2"));
    // The package the Dockerfile builds is the one that makes `amtemu`.
    let manifest = std::fs::read_to_string(repo().join("emulator/Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"amtemu\""));
}
