//! RFB from a hostile display: the viewer amtemu runs against a QEMU VM's
//! VNC socket fed any bytes, in pieces whose sizes the input chooses (a
//! message split across reads is the common case on a socket).
#![no_main]

use amtemu_rfb::viewer::Viewer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let piece = usize::from(split).max(1);
    let mut viewer = Viewer::new();
    let mut events = Vec::new();
    for chunk in bytes.chunks(piece) {
        let failed = viewer.receive(chunk, &mut events).is_err();
        // What a session does between reads: ask for more, pass input on.
        viewer.request_full();
        viewer.key(true, 0x61);
        let _ = viewer.take_output();
        events.clear();
        if failed {
            break;
        }
    }
});
