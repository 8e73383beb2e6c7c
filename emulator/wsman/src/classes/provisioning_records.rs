//! IPS_ProvisioningRecordLog and its one record: how and when the device
//! was last activated (the model's `provisioning_record`). The log is as
//! the AMT capture in go-wsman-messages shows it (one record slot,
//! wrapping); the record is answered under the class that describes the
//! activation (TLS remote configuration, host-based admin or client
//! control mode, manual), and under their superclass
//! IPS_ProvisioningAuditRecord, with the properties of Intel's class
//! reference (MOF version 7.0.0). All read-only.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{CLASS, Class};
use amtemu_model::device::provisioning_record::{Activation, ChainSeen, ProvisioningRecord};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::wsman::cim_time::format_datetime;
use amtemu_wire::wsman::value::{Instance, Value};

const NAME: &str = "Intel(r) AMT Provisioning Record Log";
const LOG_ID: &str = "Intel(r) AMT: RecordLog 1";
/// The record's InstanceID and ElementName: no capture shows them; these
/// follow the log's own naming (observed).
const RECORD_ID: &str = "Intel(r) AMT: ProvisioningRecord 1";
const RECORD_NAME: &str = "Intel(r) AMT Provisioning Record";

/// ProvisioningTLSMode (Intel's ProvTLSMode_t: 1 PSK, 2 PKI).
const TLS_MODE_PSK: u8 = 1;
const TLS_MODE_PKI: u8 = 2;

const RECORD_CLASSES: &[&str] = &[
    "IPS_TLSProvisioningRecord",
    "IPS_AdminProvisioningRecord",
    "IPS_ClientProvisioningRecord",
    "IPS_ManualProvisioningRecord",
];

/// One record class: the record when it is of this class.
const fn record_class(name: &'static str, instances: fn(&Device) -> Vec<Instance>) -> Class {
    Class {
        name,
        requires: Some(Feature::HostBasedSetup),
        common: true,
        keys: &["InstanceID"],
        instances,
        ..CLASS
    }
}

pub static CLASSES: &[Class] = &[
    Class {
        name: "IPS_ProvisioningRecordLog",
        requires: Some(Feature::HostBasedSetup),
        keys: &["InstanceID"],
        instances: record_log,
        ..CLASS
    },
    // The superclass has no instances of its own: it enumerates the
    // record under its own class.
    Class {
        name: "IPS_ProvisioningAuditRecord",
        requires: Some(Feature::HostBasedSetup),
        common: true,
        keys: &["InstanceID"],
        instances: records,
        subclasses: RECORD_CLASSES,
        ..CLASS
    },
    record_class("IPS_TLSProvisioningRecord", |d| records_of(d, 0)),
    record_class("IPS_AdminProvisioningRecord", |d| records_of(d, 1)),
    record_class("IPS_ClientProvisioningRecord", |d| records_of(d, 2)),
    record_class("IPS_ManualProvisioningRecord", |d| records_of(d, 3)),
];

/// The record when it is of `RECORD_CLASSES[which]`.
fn records_of(device: &Device, which: usize) -> Vec<Instance> {
    let mut out = records(device);
    out.retain(|r| r.class == RECORD_CLASSES[which]);
    out
}

fn stored(device: &Device) -> Option<ProvisioningRecord> {
    device.with_state(|s| s.nvram.provisioning_record.as_deref().cloned())
}

fn record_log(device: &Device) -> Vec<Instance> {
    let records = u32::from(stored(device).is_some());
    vec![
        Instance::new("IPS_ProvisioningRecordLog")
            .with("CurrentNumberOfRecords", records)
            .with("ElementName", NAME)
            .with("EnabledState", 2)
            .with("HealthState", 0)
            .with("InstanceID", LOG_ID)
            // 4: not applicable (the log is written by activation only).
            .with("LogState", 4)
            .with("MaxNumberOfRecords", 1)
            .with("Name", NAME)
            // 2: wraps when full.
            .with("OverwritePolicy", 2)
            .with("RequestedState", 12),
    ]
}

/// The record, named as its own class (what the superclass enumerates).
fn records(device: &Device) -> Vec<Instance> {
    stored(device).map(|r| record(&r)).into_iter().collect()
}

fn record(r: &ProvisioningRecord) -> Instance {
    let base = Instance::new(r.class_name())
        .with(
            "CreationTimeStamp",
            Value::Datetime(format_datetime(u64::from(r.time))),
        )
        .with("ElementName", RECORD_NAME)
        .with("InstanceID", RECORD_ID)
        .with("LogInstanceID", LOG_ID)
        .with("LogName", NAME)
        .with("RecordID", "1");
    match &r.how {
        Activation::Tls(tls) => {
            let base = base
                .with("HostInitiated", tls.host_initiated)
                .with_opt("ProvServerIP", tls.server_address.map(|ip| ip.to_string()));
            match &tls.chain {
                Some(seen) => chain(base, seen)
                    .with("ProvisioningTLSMode", TLS_MODE_PKI)
                    .with("ProvServerFQDN", seen.common_name.as_str())
                    // The chain was checked against the ME clock and passed.
                    .with("IsTimeValid", true),
                // PSK shows no certificate: the chain properties are PKI's
                // only (Intel: SecureDNS "valid only if TLS-PKI").
                None => base.with("ProvisioningTLSMode", TLS_MODE_PSK),
            }
        }
        Activation::Admin(seen) => {
            chain(base, seen).with("CertificateCN", seen.common_name.as_str())
        }
        // Setup is not signed: Intel's reference has ProvCertificateHash
        // NULL then, so neither it nor its algorithm is sent.
        Activation::Client | Activation::Manual => base,
    }
}

/// The properties TLS and admin records share about the chain.
fn chain(instance: Instance, seen: &ChainSeen) -> Instance {
    let (serials, more) = seen.listed_serials();
    instance
        .with("SecureDNS", seen.secure_dns)
        .with("SelectedHashType", seen.hash_algorithm.code())
        .with("SelectedHashData", BASE64.encode(&seen.root_hash))
        .with_array(
            "CaCertificateSerials",
            serials.iter().map(|s| BASE64.encode(s)),
        )
        .with("AdditionalCaSerialNums", more)
        .with("HashIsOemDefault", seen.root_is_default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::device::HashAlgorithm;
    use amtemu_model::device::provisioning_record::TlsSetup;
    use amtemu_model::testing::device;

    fn seen(serials: usize) -> ChainSeen {
        ChainSeen {
            common_name: "prov.vpro.test".into(),
            hash_algorithm: HashAlgorithm::Sha256,
            root_hash: vec![0xAB; 32],
            root_is_default: false,
            ca_serials: (0..serials).map(|i| vec![i as u8 + 1]).collect(),
            secure_dns: true,
        }
    }

    fn store(d: &Device, how: Activation) {
        d.with_state(|s| {
            s.nvram.provisioning_record =
                Some(Box::new(ProvisioningRecord::new(1_700_000_000, how)))
        });
    }

    #[test]
    fn the_log_counts_the_record_the_device_has() {
        let d = device("11.8");
        assert_eq!(
            records(&d)[0].class,
            "IPS_ManualProvisioningRecord",
            "a device that starts in ACM was set up before"
        );
        assert_eq!(record_log(&d)[0].int("CurrentNumberOfRecords"), Some(1));
        d.with_state(|s| s.nvram.provisioning_record = None);
        assert_eq!(record_log(&d)[0].int("CurrentNumberOfRecords"), Some(0));
        assert!(records(&d).is_empty());
        assert!(records_of(&d, 0).is_empty());
    }

    #[test]
    fn a_tls_record_shows_the_chain_the_handshake_saw() {
        let d = device("11.8");
        store(
            &d,
            Activation::Tls(TlsSetup {
                chain: Some(seen(7)),
                started: 1_700_000_000,
                host_initiated: true,
                server_address: Some("192.0.2.7".parse().unwrap()),
            }),
        );
        let r = &records(&d)[0];
        assert_eq!(r.class, "IPS_TLSProvisioningRecord");
        assert_eq!(r.int("ProvisioningTLSMode"), Some(2));
        assert_eq!(r.text("ProvServerFQDN"), Some("prov.vpro.test"));
        assert_eq!(r.text("ProvServerIP"), Some("192.0.2.7"));
        assert_eq!(r.int("SelectedHashType"), Some(2));
        assert_eq!(
            r.text("SelectedHashData"),
            Some(BASE64.encode([0xAB; 32]).as_str())
        );
        assert_eq!(r.get("HostInitiated"), Some(&Value::Bool(true)));
        assert_eq!(r.get("SecureDNS"), Some(&Value::Bool(true)));
        let Some(Value::Array(serials)) = r.get("CaCertificateSerials") else {
            panic!("no serials: {r:?}");
        };
        assert_eq!(serials.len(), 5, "Intel's string[5]");
        assert_eq!(serials[0], Value::text(BASE64.encode([1])));
        assert_eq!(r.get("AdditionalCaSerialNums"), Some(&Value::Bool(true)));
    }

    #[test]
    fn a_psk_record_has_no_chain_properties() {
        let d = device("9.5");
        store(
            &d,
            Activation::Tls(TlsSetup {
                chain: None,
                started: 1_700_000_000,
                host_initiated: false,
                server_address: None,
            }),
        );
        let r = &records(&d)[0];
        assert_eq!(r.int("ProvisioningTLSMode"), Some(1));
        assert!(r.get("ProvServerIP").is_none(), "not known");
        assert!(r.get("SelectedHashData").is_none());
        assert!(r.get("SecureDNS").is_none());
    }

    #[test]
    fn admin_and_client_records_carry_their_own_properties() {
        let d = device("11.8");
        store(&d, Activation::Admin(seen(1)));
        let r = &records(&d)[0];
        assert_eq!(r.class, "IPS_AdminProvisioningRecord");
        assert_eq!(r.text("CertificateCN"), Some("prov.vpro.test"));
        assert_eq!(r.get("AdditionalCaSerialNums"), Some(&Value::Bool(false)));
        assert!(r.get("ProvServerFQDN").is_none());
        store(&d, Activation::Client);
        let r = &records(&d)[0];
        assert_eq!(r.class, "IPS_ClientProvisioningRecord");
        assert!(r.get("ProvCertificateHash").is_none(), "Setup is unsigned");
    }
}
