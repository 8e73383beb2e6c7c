//! The WS-Man hot path without sockets: reading a request envelope, and the
//! whole engine answering a Get (class lookup, instance, envelope writing).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use amtemu_model::device::firmware::Firmware;
use amtemu_model::device::users::Caller;
use amtemu_model::device::{Device, DeviceConfig};
use amtemu_wire::wsman::client::get_general_settings as get_body;
use amtemu_wire::wsman::request;
use amtemu_wsman::{self as wsman, WsmanState};

fn envelope_parse(c: &mut Criterion) {
    let body = get_body(1);
    c.bench_function("wsman/parse get envelope", |b| {
        b.iter(|| request::parse(black_box(body.as_bytes())).expect("a valid Get"))
    });
}

fn response_write(c: &mut Criterion) {
    let firmware = Firmware::by_name("11.8").expect("the default profile");
    let device = Device::new(DeviceConfig::new("bench", firmware));
    let state = WsmanState::default();
    let body = get_body(1);
    c.bench_function("wsman/handle get AMT_GeneralSettings", |b| {
        b.iter(|| {
            let reply = wsman::handle(&device, &state, &Caller::Admin, black_box(body.as_bytes()));
            assert!(reply.fault.is_none());
            reply
        })
    });
}

criterion_group!(benches, envelope_parse, response_write);
criterion_main!(benches);
