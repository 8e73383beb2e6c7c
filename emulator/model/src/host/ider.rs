//! How the booting host finds out what a console redirects: the command
//! sequence a BIOS runs against the IDE-R drives (spec §5.6), as a state
//! machine fed with the console's answers.

use super::IderDrive;
use super::atapi::{self, Sense, op};
use super::media::{self, Volume};

/// UNIT ATTENTION answers tolerated before a drive counts as broken.
const ATTENTION_RETRIES: u8 = 4;

/// A command for a drive, before it gets a request id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub drive: IderDrive,
    pub cdb: [u8; 12],
    pub transfer_len: u32,
}

/// What the probe wants next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    Send(Command),
    Found { drive: IderDrive, volume: Volume },
    Failed(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    TestUnitReady { attentions: u8 },
    ReadCapacity,
    ReadVolume { block: u32 },
}

#[derive(Clone, Debug)]
pub struct Probe {
    drive: IderDrive,
    stage: Stage,
}

impl Probe {
    /// The CD drive is tried first, as a BIOS boot menu lists it.
    pub fn start() -> (Probe, Next) {
        let probe = Probe {
            drive: IderDrive::Cd,
            stage: Stage::TestUnitReady { attentions: 0 },
        };
        let next = probe.command();
        (probe, next)
    }

    pub fn drive(&self) -> IderDrive {
        self.drive
    }

    fn command(&self) -> Next {
        let mut cdb = [0u8; 12];
        let transfer_len = match self.stage {
            Stage::TestUnitReady { .. } => {
                cdb[0] = op::TEST_UNIT_READY;
                0
            }
            Stage::ReadCapacity => {
                cdb[0] = op::READ_CAPACITY_10;
                8
            }
            Stage::ReadVolume { block } => {
                let lba = if block as usize == media::CD_BLOCK {
                    media::PVD_LBA
                } else {
                    0
                };
                cdb[0] = op::READ_10;
                cdb[2..6].copy_from_slice(&lba.to_be_bytes());
                cdb[7..9].copy_from_slice(&1u16.to_be_bytes());
                block
            }
        };
        Next::Send(Command {
            drive: self.drive,
            cdb,
            transfer_len,
        })
    }

    /// Takes the console's answer to the last command.
    pub fn answer(&mut self, data: &[u8], sense: Sense) -> Next {
        match self.stage {
            Stage::TestUnitReady { attentions } => match sense.0 {
                0 => self.stage = Stage::ReadCapacity,
                0x06 if attentions < ATTENTION_RETRIES => {
                    self.stage = Stage::TestUnitReady {
                        attentions: attentions + 1,
                    }
                }
                0x02 if self.drive == IderDrive::Cd => {
                    self.drive = IderDrive::Floppy;
                    self.stage = Stage::TestUnitReady { attentions: 0 };
                }
                0x02 => return Next::Failed("no medium in the redirected drives"),
                _ => return Next::Failed("the redirected drive is not ready"),
            },
            Stage::ReadCapacity => {
                if sense != atapi::GOOD || data.len() < 8 {
                    return Next::Failed("cannot read the medium's capacity");
                }
                let last_lba = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                let block = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
                let needed = match block as usize {
                    media::CD_BLOCK => media::PVD_LBA,
                    media::FLOPPY_BLOCK => 0,
                    _ => return Next::Failed("unsupported block size"),
                };
                if last_lba < needed {
                    return Next::Failed("the medium is too small to boot");
                }
                self.stage = Stage::ReadVolume { block };
            }
            Stage::ReadVolume { block } => {
                if sense != atapi::GOOD {
                    return Next::Failed("read error on the redirected medium");
                }
                let volume = if block as usize == media::CD_BLOCK {
                    media::iso9660_pvd(data)
                } else {
                    media::fat_boot_sector(data)
                };
                return match volume {
                    Some(volume) => Next::Found {
                        drive: self.drive,
                        volume,
                    },
                    None => Next::Failed("no bootable file system on the medium"),
                };
            }
        }
        self.command()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::media::tests::{floppy_sector, iso_image};

    /// Answers a command from an image as a console would.
    fn serve(image: &[u8], block: usize, cmd: &Command) -> (Vec<u8>, Sense) {
        match cmd.cdb[0] {
            op::TEST_UNIT_READY => (Vec::new(), atapi::GOOD),
            op::READ_CAPACITY_10 => {
                let last = (image.len() / block - 1) as u32;
                let mut d = last.to_be_bytes().to_vec();
                d.extend((block as u32).to_be_bytes());
                (d, atapi::GOOD)
            }
            op::READ_10 => {
                let lba = u32::from_be_bytes(cmd.cdb[2..6].try_into().unwrap()) as usize;
                let n = u16::from_be_bytes([cmd.cdb[7], cmd.cdb[8]]) as usize;
                (image[lba * block..(lba + n) * block].to_vec(), atapi::GOOD)
            }
            _ => (Vec::new(), atapi::INVALID_COMMAND),
        }
    }

    #[test]
    fn a_cd_is_read_after_a_unit_attention() {
        let image = iso_image("DEBIAN_13");
        let (mut probe, mut next) = Probe::start();
        let mut first = true;
        loop {
            match next {
                Next::Send(cmd) => {
                    let (data, sense) = if first {
                        first = false;
                        (Vec::new(), atapi::MEDIUM_CHANGED)
                    } else {
                        serve(&image, 2048, &cmd)
                    };
                    next = probe.answer(&data, sense);
                }
                Next::Found { drive, volume } => {
                    assert_eq!(drive, IderDrive::Cd);
                    assert_eq!(volume.label, "DEBIAN_13");
                    break;
                }
                Next::Failed(why) => panic!("{why}"),
            }
        }
    }

    #[test]
    fn an_empty_cd_drive_falls_back_to_the_floppy() {
        let (mut probe, _) = Probe::start();
        let next = probe.answer(&[], atapi::NO_MEDIUM);
        assert!(matches!(
            next,
            Next::Send(Command {
                drive: IderDrive::Floppy,
                ..
            })
        ));
        let sector = floppy_sector("FREEDOS");
        let mut image = sector.clone();
        image.resize(512 * 2880, 0);
        let mut next = probe.answer(&[], atapi::GOOD);
        while let Next::Send(cmd) = &next {
            let (data, sense) = serve(&image, 512, cmd);
            next = probe.answer(&data, sense);
        }
        assert!(
            matches!(next, Next::Found { drive: IderDrive::Floppy, ref volume } if volume.label == "FREEDOS")
        );
    }

    #[test]
    fn no_medium_anywhere_and_garbage_answers_fail() {
        let (mut probe, _) = Probe::start();
        probe.answer(&[], atapi::NO_MEDIUM);
        assert!(matches!(
            probe.answer(&[], atapi::NO_MEDIUM),
            Next::Failed(_)
        ));
        let (mut probe, _) = Probe::start();
        probe.answer(&[], atapi::GOOD);
        assert!(matches!(
            probe.answer(&[1, 2], atapi::GOOD),
            Next::Failed(_)
        ));
        let (mut probe, _) = Probe::start();
        for _ in 0..ATTENTION_RETRIES {
            assert!(matches!(
                probe.answer(&[], atapi::RESET_OCCURRED),
                Next::Send(_)
            ));
        }
        assert!(matches!(
            probe.answer(&[], atapi::RESET_OCCURRED),
            Next::Failed(_)
        ));
    }
}
