//! The ATAPI answers the device gives by itself. Consoles implement only the
//! media commands; INQUIRY, REQUEST SENSE and the ATA IDENTIFY PACKET DEVICE
//! command are answered by the firmware from its own identity and the last
//! sense it saw, so they are built here and never sent to a console.

use crate::identity::Identity;

use super::IderDrive;

/// Sense key, additional sense code, qualifier; (0, 0, 0) is good status.
pub type Sense = (u8, u8, u8);

pub const GOOD: Sense = (0, 0, 0);
/// NOT READY, MEDIUM NOT PRESENT.
pub const NO_MEDIUM: Sense = (0x02, 0x3A, 0x00);
/// UNIT ATTENTION, NOT READY TO READY CHANGE (medium may have changed).
pub const MEDIUM_CHANGED: Sense = (0x06, 0x28, 0x00);
/// UNIT ATTENTION, POWER ON OR RESET OCCURRED.
pub const RESET_OCCURRED: Sense = (0x06, 0x29, 0x00);
/// ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE.
pub const INVALID_COMMAND: Sense = (0x05, 0x20, 0x00);
/// ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE.
pub const LBA_OUT_OF_RANGE: Sense = (0x05, 0x21, 0x00);

/// SCSI operation codes the host uses.
pub mod op {
    pub const TEST_UNIT_READY: u8 = 0x00;
    pub const REQUEST_SENSE: u8 = 0x03;
    pub const INQUIRY: u8 = 0x12;
    pub const READ_CAPACITY_10: u8 = 0x25;
    pub const READ_10: u8 = 0x28;
}

/// ATA command code of IDENTIFY PACKET DEVICE.
pub const IDENTIFY_PACKET_DEVICE: u8 = 0xA1;

const VENDOR: &str = "Intel";

fn product(drive: IderDrive) -> &'static str {
    match drive {
        IderDrive::Floppy => "Virtual Floppy",
        IderDrive::Cd => "Virtual CD-ROM",
    }
}

/// SCSI peripheral device type: CD/DVD, or a direct-access removable disk
/// for the LS-120 style floppy.
fn peripheral_type(drive: IderDrive) -> u8 {
    match drive {
        IderDrive::Floppy => 0x00,
        IderDrive::Cd => 0x05,
    }
}

/// `text` left-aligned in `width` bytes, space padded, cut if too long.
fn padded(text: &str, width: usize) -> Vec<u8> {
    let mut out: Vec<u8> = text.bytes().take(width).collect();
    out.resize(width, b' ');
    out
}

/// Standard INQUIRY data (36 bytes), cut to the CDB's allocation length.
pub fn inquiry(drive: IderDrive, revision: &str, allocation: usize) -> Vec<u8> {
    let mut data = vec![
        peripheral_type(drive),
        0x80, // removable medium
        0x00, // no SCSI version claimed, as ATAPI drives report
        0x32, // ATAPI transport, response data format 2
        31,   // additional length
        0,
        0,
        0,
    ];
    data.extend(padded(VENDOR, 8));
    data.extend(padded(product(drive), 16));
    data.extend(padded(revision, 4));
    data.truncate(allocation);
    data
}

/// Fixed-format sense data (18 bytes), cut to the allocation length.
pub fn request_sense(sense: Sense, allocation: usize) -> Vec<u8> {
    let mut data = vec![0u8; 18];
    data[0] = 0x70; // current error, fixed format
    data[2] = sense.0 & 0x0f;
    data[7] = 10; // additional sense length
    data[12] = sense.1;
    data[13] = sense.2;
    data.truncate(allocation);
    data
}

/// The 512-byte IDENTIFY PACKET DEVICE block (ATA-8 ACS layout).
pub fn identify_packet_device(drive: IderDrive, identity: &Identity, revision: &str) -> Vec<u8> {
    let mut words = [0u16; 256];
    // ATAPI device, its command set, removable, 50 us DRQ, 12-byte packets.
    words[0] = 0x8000 | (u16::from(peripheral_type(drive)) << 8) | 0x0080 | 0x0040;
    put_string(&mut words[10..20], &identity.serial_number);
    put_string(&mut words[23..27], revision);
    put_string(&mut words[27..47], &format!("{VENDOR} {}", product(drive)));
    words[49] = 0x0300; // LBA and DMA supported
    words[53] = 0x0006; // words 64-70 and 88 are valid
    words[63] = 0x0007; // multiword DMA 0-2
    words[64] = 0x0003; // PIO 3 and 4
    words[80] = 0x00F0; // ATA/ATAPI-4 to -7
    words[88] = 0x003F; // Ultra DMA 0-5
    let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    // Integrity word: signature A5h, then a checksum making the block sum 0.
    bytes[510] = 0xA5;
    let sum = bytes[..511].iter().fold(0u8, |a, &b| a.wrapping_add(b));
    bytes[511] = sum.wrapping_neg();
    bytes
}

/// ATA strings hold two characters per word, the first in the high byte.
fn put_string(words: &mut [u16], text: &str) {
    let bytes = padded(text, words.len() * 2);
    for (w, pair) in words.iter_mut().zip(bytes.chunks(2)) {
        *w = u16::from_be_bytes([pair[0], pair[1]]);
    }
}

/// The device's own answer to a CDB it never forwards to a console, or None
/// when the console must answer (the medium's commands).
pub fn local_answer(
    drive: IderDrive,
    cdb: &[u8; 12],
    last_sense: Sense,
    revision: &str,
) -> Option<Vec<u8>> {
    let allocation = usize::from(cdb[4]);
    match cdb[0] {
        op::INQUIRY => Some(inquiry(drive, revision, allocation)),
        op::REQUEST_SENSE => Some(request_sense(last_sense, allocation)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inquiry_names_the_drive() {
        let data = inquiry(IderDrive::Cd, "11.8", 96);
        assert_eq!(data.len(), 36);
        assert_eq!(data[0], 5);
        assert_eq!(&data[8..16], b"Intel   ");
        assert_eq!(&data[16..32], b"Virtual CD-ROM  ");
        assert_eq!(&data[32..36], b"11.8");
        assert_eq!(
            inquiry(IderDrive::Floppy, "1", 5),
            vec![0, 0x80, 0, 0x32, 31]
        );
    }

    #[test]
    fn sense_data_carries_the_last_sense() {
        let data = request_sense(NO_MEDIUM, 18);
        assert_eq!((data[0], data[2], data[12], data[13]), (0x70, 2, 0x3A, 0));
        let mut cdb = [0u8; 12];
        cdb[0] = op::REQUEST_SENSE;
        cdb[4] = 8;
        assert_eq!(
            local_answer(IderDrive::Cd, &cdb, NO_MEDIUM, "1")
                .unwrap()
                .len(),
            8
        );
        cdb[0] = op::READ_10;
        assert_eq!(local_answer(IderDrive::Cd, &cdb, GOOD, "1"), None);
    }

    #[test]
    fn identify_is_a_valid_atapi_block() {
        let identity = Identity::from_seed("dev");
        let block = identify_packet_device(IderDrive::Cd, &identity, "11.8");
        assert_eq!(block.len(), 512);
        assert_eq!(u16::from_le_bytes([block[0], block[1]]) >> 14, 0b10);
        assert_eq!((block[1] & 0x1f), 5, "CD-ROM command set");
        // Model string: first character in the high byte of word 27.
        assert_eq!(&block[54..58], b"nIet");
        assert_eq!(block[510], 0xA5);
        assert_eq!(block.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        let serial: Vec<u8> = block[20..40].chunks(2).flat_map(|p| [p[1], p[0]]).collect();
        assert!(
            String::from_utf8(serial)
                .unwrap()
                .starts_with(&identity.serial_number)
        );
    }
}
