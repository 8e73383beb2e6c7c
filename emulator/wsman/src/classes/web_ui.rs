//! AMT_WebUIService: switches the device's web UI on (2) and off (3) with
//! RequestStateChange. A thin adapter over `device::web_ui`; the HTTP
//! layer asks the device whether to serve the pages.

use super::{CLASS, Class, SERVICE_KEYS, method, output, service};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::Instance;

const NAME: &str = "Intel(r) AMT Web Browser UI Service";

pub static CLASSES: &[Class] = &[Class {
    name: "AMT_WebUIService",
    requires: Some(Feature::WebUiControl),
    keys: SERVICE_KEYS,
    instances: web_ui_service,
    methods: &[method("RequestStateChange", request_state_change)],
    ..CLASS
}];

const ENABLED: i64 = 2;
const DISABLED: i64 = 3;

fn web_ui_service(device: &Device) -> Vec<Instance> {
    let state = if device.web_ui_enabled() {
        ENABLED
    } else {
        DISABLED
    };
    vec![
        service("AMT_WebUIService", NAME)
            .with("ElementName", NAME)
            .with("EnabledState", state)
            .with("RequestedState", state),
    ]
}

/// CIM's RequestStateChange codes: 0 done, 5 invalid parameter (any
/// state but enabled and disabled, or not a number).
fn request_state_change(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const M: &str = "RequestStateChange";
    let enabled = match input.int("RequestedState") {
        Some(ENABLED) => true,
        Some(DISABLED) => false,
        other => {
            tracing::info!(device = %device.name, requested = ?other, "AMT_WebUIService: refused state");
            return Ok(output(M, 5));
        }
    };
    Ok(match device.set_web_ui_enabled(enabled) {
        Ok(()) => output(M, 0),
        Err(_) => output(M, 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    fn change(d: &Device, value: &str) -> i64 {
        let input = Instance::new("RequestStateChange_INPUT").with("RequestedState", value);
        request_state_change(d, &Instance::default(), &input)
            .unwrap()
            .int("ReturnValue")
            .unwrap()
    }

    #[test]
    fn states_switch_the_web_ui_and_bad_ones_change_nothing() {
        let d = device("15.0");
        assert_eq!(change(&d, "3"), 0);
        assert!(!d.web_ui_enabled());
        assert_eq!(web_ui_service(&d)[0].int("EnabledState"), Some(3));
        for bad in ["4", "32768", "-1", "off", ""] {
            assert_eq!(change(&d, bad), 5, "{bad}");
            assert!(!d.web_ui_enabled());
        }
        assert_eq!(change(&d, "2"), 0);
        assert!(d.web_ui_enabled());
    }
}
