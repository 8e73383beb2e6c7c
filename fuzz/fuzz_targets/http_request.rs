//! A whole HTTP connection to a device's WS-Man port: hyper's request
//! parsing, our routing, digest checks, body limits and the engine, on
//! bytes that arrive and then end. One device serves every input.
#![no_main]

use std::sync::{Arc, LazyLock};

use amtemu_model::device::{Device, DeviceConfig, Firmware};
use amtemu_server::endpoint::Endpoint;
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
});

static ENDPOINT: LazyLock<Arc<Endpoint>> = LazyLock::new(|| {
    let fw = Firmware::by_name("11.8").expect("the default profile");
    Endpoint::new(Device::new(DeviceConfig::new("fuzz", fw)), None)
});

fuzz_target!(|data: &[u8]| {
    RUNTIME.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let serving = tokio::spawn(amtemu_server::http::serve_connection(
            server,
            ENDPOINT.clone(),
            "127.0.0.1:50000".parse().expect("an address"),
        ));
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        // Drain what the device answers so it never blocks on a full pipe.
        let mut sink = tokio::io::sink();
        let _ = tokio::io::copy(&mut client, &mut sink).await;
        let _ = serving.await;
    });
});
