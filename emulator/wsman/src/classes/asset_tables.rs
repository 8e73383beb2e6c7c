//! AMT_AssetTable: the SMBIOS OEM tables the BIOS hands the firmware for
//! asset management, the types AMT_AssetTableService lists (130 and 131).
//! Keys TableType and InstanceID, with TableTypeInfo and the raw TableData,
//! per Intel's AMT_AssetTable MOF (SDK CIM framework). The table contents
//! are the emulated BIOS's: an SMBIOS structure header and the signature
//! each OEM type carries ("$AMT" for 130, "vPro" for 131); the bytes past
//! the signature are zero (observed: no capture of real table data).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Access, CLASS, Class};
use amtemu_model::device::Device;
use amtemu_wire::wsman::value::Instance;

pub static CLASSES: &[Class] = &[Class {
    name: "AMT_AssetTable",
    common: true,
    keys: &["InstanceID", "TableType"],
    instances: tables,
    read: Access::HARDWARE_ASSET,
    ..CLASS
}];

/// An SMBIOS structure: type, length of the formatted part, handle, the
/// signature and zero padding, then the empty string set (two NULs).
fn structure(kind: u8, handle: u16, signature: &[u8; 4]) -> Vec<u8> {
    const FORMATTED: u8 = 20;
    let mut bytes = vec![kind, FORMATTED];
    bytes.extend(handle.to_le_bytes());
    bytes.extend(signature);
    bytes.resize(usize::from(FORMATTED), 0);
    bytes.extend([0, 0]);
    bytes
}

fn tables(_: &Device) -> Vec<Instance> {
    [(130u8, 0x0082u16, b"$AMT"), (131, 0x0083, b"vPro")]
        .into_iter()
        .map(|(kind, handle, signature)| {
            Instance::new("AMT_AssetTable")
                .with("InstanceID", "1")
                .with(
                    "TableData",
                    BASE64.encode(structure(kind, handle, signature)),
                )
                .with("TableType", kind)
                .with("TableTypeInfo", "SMbios")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    #[test]
    fn one_table_per_type_the_service_lists() {
        let list = tables(&device("11.8"));
        let types: Vec<_> = list.iter().map(|t| t.int("TableType").unwrap()).collect();
        assert_eq!(types, [130, 131]);
        let data = BASE64.decode(list[0].text("TableData").unwrap()).unwrap();
        assert_eq!(data[0], 130);
        assert_eq!(&data[4..8], b"$AMT");
    }
}
