//! Pixel formats (RFC 6143 §7.4) and the conversion of the framebuffer's RGB
//! colours into the bytes a client asked for.

/// A colour as the framebuffer holds it: 8 bits per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Rgb {
    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Rgb { r, g, b }
    }
}

/// Why a pixel format cannot be used.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormatError {
    /// Only 8, 16 and 32 bits per pixel exist in RFB.
    BitsPerPixel(u8),
    /// Depth 0 or deeper than the pixel.
    Depth { depth: u8, bits_per_pixel: u8 },
    /// A channel maximum that is not 2^n - 1.
    ChannelMax(u16),
    /// A channel that does not fit in the pixel at its shift.
    ChannelOverflow { max: u16, shift: u8 },
}

impl core::fmt::Display for PixelFormatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BitsPerPixel(b) => write!(f, "{b} bits per pixel (only 8, 16, 32)"),
            Self::Depth {
                depth,
                bits_per_pixel,
            } => write!(f, "depth {depth} with {bits_per_pixel} bits per pixel"),
            Self::ChannelMax(m) => write!(f, "channel maximum {m} is not 2^n-1"),
            Self::ChannelOverflow { max, shift } => {
                write!(
                    f,
                    "channel maximum {max} at shift {shift} overflows the pixel"
                )
            }
        }
    }
}

impl std::error::Error for PixelFormatError {}

/// The 16-byte PIXEL_FORMAT structure of RFB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PixelFormat {
    pub bits_per_pixel: u8,
    pub depth: u8,
    pub big_endian: bool,
    pub true_colour: bool,
    pub red_max: u16,
    pub green_max: u16,
    pub blue_max: u16,
    pub red_shift: u8,
    pub green_shift: u8,
    pub blue_shift: u8,
}

/// Wire length of a pixel format.
pub const PIXEL_FORMAT_LEN: usize = 16;

impl PixelFormat {
    /// AMT's default (ServerInit): 16 bpp, depth 16, little-endian RGB565.
    pub const RGB565: PixelFormat = PixelFormat {
        bits_per_pixel: 16,
        depth: 16,
        big_endian: false,
        true_colour: true,
        red_max: 31,
        green_max: 63,
        blue_max: 31,
        red_shift: 11,
        green_shift: 5,
        blue_shift: 0,
    };

    /// What MeshCommander asks for on low bandwidth: 8 bpp RGB332.
    pub const RGB332: PixelFormat = PixelFormat {
        bits_per_pixel: 8,
        depth: 8,
        big_endian: false,
        true_colour: true,
        red_max: 7,
        green_max: 7,
        blue_max: 3,
        red_shift: 5,
        green_shift: 2,
        blue_shift: 0,
    };

    /// The usual 32-bpp format of generic viewers (little-endian xRGB).
    pub const RGB888: PixelFormat = PixelFormat {
        bits_per_pixel: 32,
        depth: 24,
        big_endian: false,
        true_colour: true,
        red_max: 255,
        green_max: 255,
        blue_max: 255,
        red_shift: 16,
        green_shift: 8,
        blue_shift: 0,
    };

    /// Checks what RFC 6143 leaves to the server to check; a format that
    /// passes can be packed without overflow.
    pub fn validate(&self) -> Result<(), PixelFormatError> {
        let bpp = self.bits_per_pixel;
        if !matches!(bpp, 8 | 16 | 32) {
            return Err(PixelFormatError::BitsPerPixel(bpp));
        }
        if self.depth == 0 || self.depth > bpp {
            return Err(PixelFormatError::Depth {
                depth: self.depth,
                bits_per_pixel: bpp,
            });
        }
        if self.true_colour {
            for (max, shift) in [
                (self.red_max, self.red_shift),
                (self.green_max, self.green_shift),
                (self.blue_max, self.blue_shift),
            ] {
                // max + 1 must be a power of two; 0 is allowed (an absent
                // channel, as in MeshCommander's grey modes).
                if (u32::from(max) + 1).count_ones() != 1 {
                    return Err(PixelFormatError::ChannelMax(max));
                }
                let bits = 16 - max.leading_zeros();
                if u32::from(shift) + bits > u32::from(bpp) {
                    return Err(PixelFormatError::ChannelOverflow { max, shift });
                }
            }
        }
        Ok(())
    }

    /// Whether AMT firmware keeps a client that sets this format: firmware
    /// drops 32-bpp clients (vncdotool #168, noVNC #118) and serves 8 or 16.
    pub fn firmware_accepts(&self) -> bool {
        self.validate().is_ok() && matches!(self.bits_per_pixel, 8 | 16)
    }

    pub fn bytes_per_pixel(&self) -> usize {
        usize::from(self.bits_per_pixel / 8)
    }

    /// Grey modes as MeshCommander sets them (only the red channel, green
    /// and blue maxima 0): firmware sends luminance, so do we.
    fn is_grey(&self) -> bool {
        self.true_colour && self.green_max == 0 && self.blue_max == 0 && self.red_max > 0
    }

    pub fn to_bytes(&self) -> [u8; PIXEL_FORMAT_LEN] {
        let mut b = [0u8; PIXEL_FORMAT_LEN];
        b[0] = self.bits_per_pixel;
        b[1] = self.depth;
        b[2] = u8::from(self.big_endian);
        b[3] = u8::from(self.true_colour);
        b[4..6].copy_from_slice(&self.red_max.to_be_bytes());
        b[6..8].copy_from_slice(&self.green_max.to_be_bytes());
        b[8..10].copy_from_slice(&self.blue_max.to_be_bytes());
        b[10] = self.red_shift;
        b[11] = self.green_shift;
        b[12] = self.blue_shift;
        b
    }

    /// Reads the structure without judging it (see [`PixelFormat::validate`]).
    pub fn from_bytes(b: &[u8; PIXEL_FORMAT_LEN]) -> Self {
        PixelFormat {
            bits_per_pixel: b[0],
            depth: b[1],
            big_endian: b[2] != 0,
            true_colour: b[3] != 0,
            red_max: u16::from_be_bytes([b[4], b[5]]),
            green_max: u16::from_be_bytes([b[6], b[7]]),
            blue_max: u16::from_be_bytes([b[8], b[9]]),
            red_shift: b[10],
            green_shift: b[11],
            blue_shift: b[12],
        }
    }

    /// The pixel value for a colour. In colour-map mode the value is an
    /// index into [`COLOUR_MAP`] (the nearest of its 16 VGA colours).
    pub fn pack(&self, c: Rgb) -> u32 {
        if !self.true_colour {
            return u32::from(nearest_vga(c));
        }
        if self.is_grey() {
            // ITU-R 601 luma, integer.
            let y = (299 * u32::from(c.r) + 587 * u32::from(c.g) + 114 * u32::from(c.b)) / 1000;
            return scale(y as u8, self.red_max) << self.red_shift;
        }
        (scale(c.r, self.red_max) << self.red_shift)
            | (scale(c.g, self.green_max) << self.green_shift)
            | (scale(c.b, self.blue_max) << self.blue_shift)
    }

    /// The colour of a true-colour pixel value (each channel widened to 8
    /// bits); what a viewer does with the pixels a server sends. Colour-map
    /// values read as VGA palette indices, as [`PixelFormat::pack`] makes
    /// them.
    pub fn unpack(&self, v: u32) -> Rgb {
        if !self.true_colour {
            return VGA_PALETTE[(v & 0x0F) as usize];
        }
        let channel = |max: u16, shift: u8| {
            if max == 0 {
                return 0;
            }
            let c = v.checked_shr(u32::from(shift)).unwrap_or(0) & u32::from(max);
            ((c * 255 + u32::from(max) / 2) / u32::from(max)) as u8
        };
        Rgb::new(
            channel(self.red_max, self.red_shift),
            channel(self.green_max, self.green_shift),
            channel(self.blue_max, self.blue_shift),
        )
    }

    /// Appends a packed pixel value in this format's byte order and width.
    pub fn put(&self, v: u32, out: &mut Vec<u8>) {
        match (self.bits_per_pixel, self.big_endian) {
            (8, _) => out.push(v as u8),
            (16, false) => out.extend_from_slice(&(v as u16).to_le_bytes()),
            (16, true) => out.extend_from_slice(&(v as u16).to_be_bytes()),
            (_, false) => out.extend_from_slice(&v.to_le_bytes()),
            (_, true) => out.extend_from_slice(&v.to_be_bytes()),
        }
    }

    /// Reads one pixel value back (for clients and tests).
    pub fn get(&self, b: &[u8]) -> Option<u32> {
        Some(match (self.bits_per_pixel, self.big_endian) {
            (8, _) => u32::from(*b.first()?),
            (16, false) => u32::from(u16::from_le_bytes(b.get(..2)?.try_into().ok()?)),
            (16, true) => u32::from(u16::from_be_bytes(b.get(..2)?.try_into().ok()?)),
            (_, false) => u32::from_le_bytes(b.get(..4)?.try_into().ok()?),
            (_, true) => u32::from_be_bytes(b.get(..4)?.try_into().ok()?),
        })
    }
}

fn scale(c: u8, max: u16) -> u32 {
    (u32::from(c) * u32::from(max) + 127) / 255
}

/// The 16 colours of the VGA text-mode palette, in attribute order.
pub const VGA_PALETTE: [Rgb; 16] = [
    Rgb::new(0x00, 0x00, 0x00),
    Rgb::new(0x00, 0x00, 0xAA),
    Rgb::new(0x00, 0xAA, 0x00),
    Rgb::new(0x00, 0xAA, 0xAA),
    Rgb::new(0xAA, 0x00, 0x00),
    Rgb::new(0xAA, 0x00, 0xAA),
    Rgb::new(0xAA, 0x55, 0x00),
    Rgb::new(0xAA, 0xAA, 0xAA),
    Rgb::new(0x55, 0x55, 0x55),
    Rgb::new(0x55, 0x55, 0xFF),
    Rgb::new(0x55, 0xFF, 0x55),
    Rgb::new(0x55, 0xFF, 0xFF),
    Rgb::new(0xFF, 0x55, 0x55),
    Rgb::new(0xFF, 0x55, 0xFF),
    Rgb::new(0xFF, 0xFF, 0x55),
    Rgb::new(0xFF, 0xFF, 0xFF),
];

/// The colour map a colour-map (non-true-colour) client is sent: the VGA
/// palette, which is every colour this crate ever draws.
pub const COLOUR_MAP: &[Rgb; 16] = &VGA_PALETTE;

fn nearest_vga(c: Rgb) -> u8 {
    let mut best = (u32::MAX, 0u8);
    for (i, p) in VGA_PALETTE.iter().enumerate() {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).unsigned_abs().pow(2);
        let dist = d(c.r, p.r) + d(c.g, p.g) + d(c.b, p.b);
        if dist < best.0 {
            best = (dist, i as u8);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb565_layout_is_amts_default() {
        assert_eq!(
            PixelFormat::RGB565.to_bytes(),
            [16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0]
        );
        assert_eq!(
            PixelFormat::from_bytes(&PixelFormat::RGB565.to_bytes()),
            PixelFormat::RGB565
        );
    }

    #[test]
    fn packing_matches_meshcommanders_unpacking() {
        let v = PixelFormat::RGB565.pack(Rgb::new(0xFF, 0x55, 0xAA));
        // MeshCommander: r = (v >> 8) & 248, g = (v >> 3) & 252, b = (v & 31) << 3
        assert_eq!(
            ((v >> 8) & 248, (v >> 3) & 252, (v & 31) << 3),
            (248, 84, 168)
        );
        let v = PixelFormat::RGB332.pack(Rgb::new(0xFF, 0xFF, 0xFF));
        assert_eq!(v, 0xFF);
        let mut out = vec![];
        PixelFormat::RGB565.put(0x1234, &mut out);
        assert_eq!(out, [0x34, 0x12]);
    }

    #[test]
    fn validation() {
        assert!(PixelFormat::RGB565.validate().is_ok());
        assert!(PixelFormat::RGB332.validate().is_ok());
        assert!(PixelFormat::RGB888.validate().is_ok());
        assert!(PixelFormat::RGB565.firmware_accepts());
        assert!(!PixelFormat::RGB888.firmware_accepts());
        let bad = PixelFormat {
            bits_per_pixel: 24,
            ..PixelFormat::RGB888
        };
        assert_eq!(bad.validate(), Err(PixelFormatError::BitsPerPixel(24)));
        let bad = PixelFormat {
            red_max: 30,
            ..PixelFormat::RGB565
        };
        assert_eq!(bad.validate(), Err(PixelFormatError::ChannelMax(30)));
        let bad = PixelFormat {
            red_shift: 12,
            ..PixelFormat::RGB565
        };
        assert!(matches!(
            bad.validate(),
            Err(PixelFormatError::ChannelOverflow { .. })
        ));
        // MeshCommander's grey mode: 8 bpp, red max 255 only.
        let grey = PixelFormat {
            red_max: 255,
            green_max: 0,
            blue_max: 0,
            red_shift: 0,
            green_shift: 0,
            blue_shift: 0,
            ..PixelFormat::RGB332
        };
        assert!(grey.validate().is_ok());
        assert_eq!(grey.pack(Rgb::new(255, 255, 255)), 255);
    }

    #[test]
    fn unpacking_undoes_packing() {
        for c in VGA_PALETTE {
            assert_eq!(PixelFormat::RGB888.unpack(PixelFormat::RGB888.pack(c)), c);
        }
        let mut out = vec![];
        PixelFormat::RGB888.put(PixelFormat::RGB888.pack(Rgb::new(1, 2, 3)), &mut out);
        assert_eq!(out, [3, 2, 1, 0], "little-endian xRGB");
        let white = PixelFormat::RGB565.unpack(0xFFFF);
        assert_eq!(white, Rgb::new(255, 255, 255));
        assert_eq!(
            PixelFormat::RGB565.unpack(PixelFormat::RGB565.pack(VGA_PALETTE[4])),
            Rgb::new(0xAD, 0, 0),
            "five bits of red widened"
        );
        // A shift past the value's width reads as an absent channel.
        let odd = PixelFormat {
            red_shift: 40,
            ..PixelFormat::RGB888
        };
        assert_eq!(odd.unpack(u32::MAX).r, 0);
    }

    #[test]
    fn colour_map_mode_picks_vga_index() {
        let pf = PixelFormat {
            true_colour: false,
            ..PixelFormat::RGB332
        };
        assert_eq!(pf.pack(VGA_PALETTE[9]), 9);
        assert_eq!(pf.pack(Rgb::new(1, 1, 170)), 1);
    }
}
