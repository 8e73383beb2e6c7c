//! IPS_HTTPProxyService.AddProxyAccessPoint and IPS_HTTPProxyAccessPoint
//! (12.0+): stored proxies for reaching a management server. A thin
//! adapter over `amtemu_model::device::http_proxy`.

use super::{CLASS, Class, SERVICE_KEYS, method, output, service};
use amtemu_model::device::http_proxy::{ProxyAccessPoint, ProxyFormat, ProxyRefusal};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance};

const SERVICE: &str = "IPS_HTTPProxyService";
const SERVICE_NAME: &str = "Intel(r) AMT HTTP Proxy Service";
const ACCESS_POINT: &str = "IPS_HTTPProxyAccessPoint";
const AP_NAME: &str = "Intel(r) AMT:HTTP Proxy Access Point ";

pub static CLASSES: &[Class] = &[
    Class {
        name: SERVICE,
        requires: Some(Feature::HttpProxy),
        keys: SERVICE_KEYS,
        instances: proxy_service,
        methods: &[method("AddProxyAccessPoint", add_proxy_access_point)],
        ..CLASS
    },
    Class {
        name: ACCESS_POINT,
        requires: Some(Feature::HttpProxy),
        keys: SERVICE_KEYS,
        instances: access_points,
        delete: Some(delete_access_point),
        ..CLASS
    },
];

fn proxy_service(_: &Device) -> Vec<Instance> {
    vec![
        service(SERVICE, SERVICE_NAME)
            .with("ElementName", SERVICE_NAME)
            .with("EnabledState", 5)
            .with("RequestedState", 12)
            .with("SyncEnabled", false),
    ]
}

fn ap_epr(handle: u32) -> Epr {
    Epr::new(names::class_uri(ACCESS_POINT))
        .with("CreationClassName", ACCESS_POINT)
        .with("Name", format!("{AP_NAME}{handle}"))
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "Intel(r) AMT")
}

fn access_points(device: &Device) -> Vec<Instance> {
    device
        .http_proxies()
        .into_iter()
        .map(|p: ProxyAccessPoint| {
            let name = format!("{AP_NAME}{}", p.handle);
            Instance::new(ACCESS_POINT)
                .with("AccessInfo", p.access_info.as_str())
                .with("CreationClassName", ACCESS_POINT)
                .with("ElementName", name.as_str())
                .with("InfoFormat", i64::from(p.format.code()))
                .with("Name", name.as_str())
                .with("NetworkDnsSuffix", p.dns_suffix.as_str())
                .with("Port", i64::from(p.port))
                .with("SystemCreationClassName", "CIM_ComputerSystem")
                .with("SystemName", "Intel(r) AMT")
        })
        .collect()
}

fn status(refusal: ProxyRefusal) -> u32 {
    match refusal {
        ProxyRefusal::TooMany => PtStatus::MaxLimitReached,
        ProxyRefusal::Duplicate => PtStatus::Duplicate,
        ProxyRefusal::NotSupported => PtStatus::NotPermitted,
        ProxyRefusal::BadAddress | ProxyRefusal::BadSuffix | ProxyRefusal::NoSuchProxy => {
            PtStatus::InvalidParameter
        }
    }
    .into()
}

fn add_proxy_access_point(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const M: &str = "AddProxyAccessPoint";
    let args = (|| {
        let info = input.text("AccessInfo")?;
        let format = ProxyFormat::from_code(input.int("InfoFormat")?)?;
        let port = u16::try_from(input.int("Port")?).ok()?;
        let suffix = match input.get("NetworkDnsSuffix") {
            None => "",
            Some(v) => v.as_text()?,
        };
        Some((info, format, port, suffix))
    })();
    let Some((info, format, port, suffix)) = args else {
        tracing::info!(device = %device.name, "AddProxyAccessPoint: missing or malformed arguments");
        return Ok(output(M, PtStatus::InvalidParameter.into()));
    };
    Ok(match device.add_http_proxy(info, format, port, suffix) {
        Ok(handle) => output(M, PtStatus::Success.into()).with("ProxyAccessPoint", ap_epr(handle)),
        Err(refusal) => {
            tracing::info!(device = %device.name, ?refusal, "AddProxyAccessPoint refused");
            output(M, status(refusal))
        }
    })
}

fn delete_access_point(device: &Device, target: &Instance) -> Result<(), Fault> {
    let handle = target
        .text("Name")
        .and_then(|n| n.strip_prefix(AP_NAME))
        .and_then(|n| n.parse().ok())
        .ok_or(Fault::InvalidSelectors)?;
    device
        .delete_http_proxy(handle)
        .map_err(|_| Fault::InvalidSelectors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    fn add(d: &Device, info: &str, format: &str, port: &str) -> i64 {
        let input = Instance::new("AddProxyAccessPoint_INPUT")
            .with("AccessInfo", info)
            .with("InfoFormat", format)
            .with("Port", port)
            .with("NetworkDnsSuffix", "corp.example");
        add_proxy_access_point(d, &Instance::default(), &input)
            .unwrap()
            .int("ReturnValue")
            .unwrap()
    }

    #[test]
    fn proxies_are_added_listed_and_bad_ones_refused() {
        let d = device("16.1");
        assert_eq!(add(&d, "proxy.corp.example", "201", "3128"), 0);
        let listed = access_points(&d);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].int("Port"), Some(3128));
        for (info, format, port) in [
            ("proxy.corp.example", "201", "3128"),
            ("10.0.0.1", "three", "80"),
            ("10.0.0.1", "3", "http"),
            ("10.0.0.1", "3", "70000"),
            ("10.0.0.1", "5", "80"),
            ("not an address", "3", "80"),
        ] {
            assert_ne!(add(&d, info, format, port), 0, "{info} {format} {port}");
        }
        assert_eq!(access_points(&d).len(), 1);
        delete_access_point(&d, &listed[0]).unwrap();
        assert!(access_points(&d).is_empty());
        assert_eq!(
            delete_access_point(&d, &listed[0]),
            Err(Fault::InvalidSelectors)
        );
    }
}
