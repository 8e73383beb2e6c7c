//! What the simulated host reads on a redirected medium: the ISO 9660
//! primary volume descriptor of a CD image, or the boot sector of a floppy.
//! Both parsers take untrusted bytes (a console's image) and never panic.

/// Block size of a CD (ISO 9660 logical sector).
pub const CD_BLOCK: usize = 2048;
/// Logical block of the first volume descriptor.
pub const PVD_LBA: u32 = 16;
/// Block size of a floppy.
pub const FLOPPY_BLOCK: usize = 512;

/// What the host learned from a medium's first descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// The volume label, trimmed, safe to print on a terminal.
    pub label: String,
    /// File system, for the boot text.
    pub kind: &'static str,
}

/// Reads the primary volume descriptor (the block at LBA 16 of a CD).
pub fn iso9660_pvd(block: &[u8]) -> Option<Volume> {
    // Type 1 (primary), standard identifier, version 1.
    if block.len() < 72 || block[0] != 1 || &block[1..6] != b"CD001" || block[6] != 1 {
        return None;
    }
    Some(Volume {
        label: printable(&block[40..72]),
        kind: "ISO 9660",
    })
}

/// Reads a FAT boot sector (LBA 0 of a floppy image). The label comes from
/// the extended boot record, whose place differs between FAT12/16 and FAT32.
pub fn fat_boot_sector(sector: &[u8]) -> Option<Volume> {
    if sector.len() < FLOPPY_BLOCK || sector[510..512] != [0x55, 0xAA] {
        return None;
    }
    let (signature_at, label_at, kind) = if &sector[82..87] == b"FAT32" {
        (66, 71, "FAT32")
    } else {
        (38, 43, "FAT")
    };
    let label = if sector[signature_at] == 0x29 {
        printable(&sector[label_at..label_at + 11])
    } else {
        String::new()
    };
    Some(Volume { label, kind })
}

/// Trims padding and replaces anything a terminal would interpret.
fn printable(raw: &[u8]) -> String {
    let text: String = raw
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    text.trim_matches(|c: char| c == ' ' || c == '?')
        .to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A CD image of 20 blocks whose PVD names `label`.
    pub fn iso_image(label: &str) -> Vec<u8> {
        let mut image = vec![0u8; CD_BLOCK * 20];
        let pvd = &mut image[PVD_LBA as usize * CD_BLOCK..][..CD_BLOCK];
        pvd[0] = 1;
        pvd[1..6].copy_from_slice(b"CD001");
        pvd[6] = 1;
        pvd[8..40].fill(b' ');
        pvd[40..72].fill(b' ');
        pvd[40..40 + label.len()].copy_from_slice(label.as_bytes());
        // Volume space size, both-endian.
        pvd[80..84].copy_from_slice(&20u32.to_le_bytes());
        pvd[84..88].copy_from_slice(&20u32.to_be_bytes());
        let terminator = &mut image[17 * CD_BLOCK..][..7];
        terminator.copy_from_slice(&[255, b'C', b'D', b'0', b'0', b'1', 1]);
        image
    }

    /// A 1.44 MB FAT12 floppy's first sector labelled `label`.
    pub fn floppy_sector(label: &str) -> Vec<u8> {
        let mut s = vec![0u8; FLOPPY_BLOCK];
        s[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
        s[3..11].copy_from_slice(b"MSDOS5.0");
        s[38] = 0x29;
        s[43..54].fill(b' ');
        s[43..43 + label.len()].copy_from_slice(label.as_bytes());
        s[54..62].copy_from_slice(b"FAT12   ");
        s[510] = 0x55;
        s[511] = 0xAA;
        s
    }

    #[test]
    fn the_label_of_a_cd() {
        let image = iso_image("UBUNTU_24_04");
        let v = iso9660_pvd(&image[16 * CD_BLOCK..17 * CD_BLOCK]).unwrap();
        assert_eq!(v.label, "UBUNTU_24_04");
        assert_eq!(iso9660_pvd(&image[17 * CD_BLOCK..18 * CD_BLOCK]), None);
        assert_eq!(iso9660_pvd(&image[..CD_BLOCK]), None);
    }

    #[test]
    fn the_label_of_a_floppy() {
        let v = fat_boot_sector(&floppy_sector("RESCUE")).unwrap();
        assert_eq!((v.label.as_str(), v.kind), ("RESCUE", "FAT"));
        let mut no_signature = floppy_sector("RESCUE");
        no_signature[511] = 0;
        assert_eq!(fat_boot_sector(&no_signature), None);
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let mut image = iso_image("EVIL");
        image[16 * CD_BLOCK + 44] = 0x1b;
        let v = iso9660_pvd(&image[16 * CD_BLOCK..]).unwrap();
        assert_eq!(v.label, "EVIL");
        let mut image = iso_image("A\u{7}B");
        image[16 * CD_BLOCK + 41] = 0x07;
        assert_eq!(iso9660_pvd(&image[16 * CD_BLOCK..]).unwrap().label, "A?B");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2100)) {
            if let Some(v) = iso9660_pvd(&bytes) {
                prop_assert!(v.label.chars().all(|c| (' '..='~').contains(&c)));
            }
            if let Some(v) = fat_boot_sector(&bytes) {
                prop_assert!(v.label.chars().all(|c| (' '..='~').contains(&c)));
            }
        }

        #[test]
        fn descriptor_headers_with_random_bodies_parse(body in proptest::collection::vec(any::<u8>(), 2041..2042)) {
            let mut block = vec![1u8, b'C', b'D', b'0', b'0', b'1', 1];
            block.extend(body);
            prop_assert!(iso9660_pvd(&block).is_some());
        }
    }
}
