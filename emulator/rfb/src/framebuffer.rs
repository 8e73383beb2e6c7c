//! The pixels a KVM client sees, with change tracking per 64x64 tile.
//!
//! Why tiles: AMT clients accept rectangles of at most 64x64 (MeshCommander
//! drops larger ones), so the tile is the unit an update is made of anyway.
//! Each tile carries the generation at which a pixel in it last changed;
//! a session remembers per tile which generation its client has, so an
//! incremental update sends only tiles that changed since.
//!
//! Pixels are kept as indices into a palette of at most 256 colours: what
//! amtemu draws (VGA text, 16 colours, and its overlays) never needs more,
//! and a byte per pixel is a third of RGB's three (288 KB instead of
//! 864 KB for 720x400, per session). Encoders convert a tile's indices
//! through the palette packed once in the client's format.

use crate::messages::Rect;
use crate::pixel::Rgb;

/// Edge of a tile, the largest rectangle AMT clients accept.
pub const TILE: u16 = 64;

#[derive(Debug, Clone)]
pub struct Framebuffer {
    width: u16,
    height: u16,
    /// Palette indices, row by row.
    pixels: Vec<u8>,
    /// The colours indices name; index 0 is black (a new framebuffer).
    palette: Vec<Rgb>,
    tile_gen: Vec<u64>,
    generation: u64,
    size_generation: u64,
}

impl Framebuffer {
    /// A black framebuffer; every tile counts as changed at generation 1.
    pub fn new(width: u16, height: u16) -> Self {
        let mut fb = Framebuffer {
            width: 0,
            height: 0,
            pixels: Vec::new(),
            palette: vec![Rgb::default()],
            tile_gen: Vec::new(),
            generation: 0,
            size_generation: 0,
        };
        fb.resize(width, height);
        fb
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn height(&self) -> u16 {
        self.height
    }

    pub fn bounds(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }

    /// Changes the size (text 720x400 ↔ graphics modes); the content is
    /// cleared to black and every tile is new.
    pub fn resize(&mut self, width: u16, height: u16) {
        self.width = width;
        self.height = height;
        self.palette = vec![Rgb::default()];
        self.pixels = vec![0; usize::from(width) * usize::from(height)];
        self.generation += 1;
        self.size_generation = self.generation;
        self.tile_gen = vec![self.generation; self.tiles_x() * self.tiles_y()];
    }

    /// Generation of the last size change; a session that saw an older one
    /// owes its client a DesktopSize.
    pub fn size_generation(&self) -> u64 {
        self.size_generation
    }

    /// Generation of the last change of any kind.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn tiles_x(&self) -> usize {
        usize::from(self.width).div_ceil(usize::from(TILE))
    }

    pub fn tiles_y(&self) -> usize {
        usize::from(self.height).div_ceil(usize::from(TILE))
    }

    /// Generation at which tile `(tx, ty)` last changed (0 outside).
    pub fn tile_generation(&self, tx: usize, ty: usize) -> u64 {
        if tx >= self.tiles_x() {
            return 0;
        }
        self.tile_gen
            .get(ty * self.tiles_x() + tx)
            .copied()
            .unwrap_or(0)
    }

    /// The rectangle of tile `(tx, ty)`, clipped to the framebuffer.
    pub fn tile_rect(&self, tx: usize, ty: usize) -> Rect {
        let x = (tx * usize::from(TILE)).min(usize::from(u16::MAX)) as u16;
        let y = (ty * usize::from(TILE)).min(usize::from(u16::MAX)) as u16;
        Rect::new(x, y, TILE, TILE).intersect(&self.bounds())
    }

    /// Colour at `(x, y)`, black outside.
    pub fn pixel(&self, x: u16, y: u16) -> Rgb {
        if x >= self.width {
            return Rgb::default();
        }
        self.pixels
            .get(usize::from(y) * usize::from(self.width) + usize::from(x))
            .and_then(|&i| self.palette.get(usize::from(i)))
            .copied()
            .unwrap_or_default()
    }

    /// The colours the pixels' indices name ([`Framebuffer::row`]).
    pub fn palette(&self) -> &[Rgb] {
        &self.palette
    }

    /// The palette indices of row `y` from `x`, `w` long (clipped).
    pub fn row(&self, x: u16, y: u16, w: u16) -> &[u8] {
        let r = Rect::new(x, y, w, 1).intersect(&self.bounds());
        if r.is_empty() {
            return &[];
        }
        let start = usize::from(r.y) * usize::from(self.width) + usize::from(r.x);
        &self.pixels[start..start + usize::from(r.w)]
    }

    /// The palette index of `c`, added if new. A 257th colour (amtemu
    /// draws 16) takes the nearest one there is rather than failing.
    fn index_of(&mut self, c: Rgb) -> u8 {
        if let Some(i) = self.palette.iter().position(|&p| p == c) {
            return i as u8;
        }
        if self.palette.len() < 256 {
            self.palette.push(c);
            return (self.palette.len() - 1) as u8;
        }
        let distance = |p: &Rgb| {
            let d = |a: u8, b: u8| u32::from(a.abs_diff(b)).pow(2);
            d(p.r, c.r) + d(p.g, c.g) + d(p.b, c.b)
        };
        (0..self.palette.len())
            .min_by_key(|&i| distance(&self.palette[i]))
            .unwrap_or(0) as u8
    }

    /// Sets every pixel of `rect` (clipped) to `f(x, y)`. Tiles in which a
    /// pixel really changed get a new generation; repainting the same
    /// content costs the client nothing.
    pub fn paint(&mut self, rect: Rect, mut f: impl FnMut(u16, u16) -> Rgb) {
        let r = rect.intersect(&self.bounds());
        if r.is_empty() {
            return;
        }
        let next = self.generation + 1;
        let mut changed = false;
        let tiles_x = self.tiles_x();
        // Painting runs of one colour is the common case: look it up once.
        let mut last: Option<(Rgb, u8)> = None;
        for y in r.y..r.y + r.h {
            let row_start = usize::from(y) * usize::from(self.width);
            for x in r.x..r.x + r.w {
                let c = f(x, y);
                let i = match last {
                    Some((l, i)) if l == c => i,
                    _ => {
                        let i = self.index_of(c);
                        last = Some((c, i));
                        i
                    }
                };
                let p = &mut self.pixels[row_start + usize::from(x)];
                if *p != i {
                    *p = i;
                    changed = true;
                    let t = usize::from(y / TILE) * tiles_x + usize::from(x / TILE);
                    self.tile_gen[t] = next;
                }
            }
        }
        if changed {
            self.generation = next;
        }
    }

    pub fn fill(&mut self, rect: Rect, c: Rgb) {
        self.paint(rect, |_, _| c);
    }

    /// The framebuffer as an 8-bit RGB PNG (for screenshots).
    pub fn to_png(&self) -> Result<Vec<u8>, png::EncodingError> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, u32::from(self.width), u32::from(self.height));
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header()?;
        let data: Vec<u8> = self
            .pixels
            .iter()
            .flat_map(|&i| {
                let p = self
                    .palette
                    .get(usize::from(i))
                    .copied()
                    .unwrap_or_default();
                [p.r, p.g, p.b]
            })
            .collect();
        w.write_image_data(&data)?;
        w.finish()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_touched_tiles_change() {
        let mut fb = Framebuffer::new(720, 400);
        assert_eq!((fb.tiles_x(), fb.tiles_y()), (12, 7));
        let g0 = fb.generation();
        fb.fill(Rect::new(60, 10, 9, 16), Rgb::new(1, 2, 3));
        let g1 = fb.generation();
        assert!(g1 > g0);
        let changed: Vec<_> = (0..7)
            .flat_map(|ty| (0..12).map(move |tx| (tx, ty)))
            .filter(|&(tx, ty)| fb.tile_generation(tx, ty) > g0)
            .collect();
        assert_eq!(changed, [(0, 0), (1, 0)]);
        // Same content again: nothing changes.
        fb.fill(Rect::new(60, 10, 9, 16), Rgb::new(1, 2, 3));
        assert_eq!(fb.generation(), g1);
        assert_eq!(fb.pixel(64, 10), Rgb::new(1, 2, 3));
        assert_eq!(fb.tile_rect(11, 6), Rect::new(704, 384, 16, 16));
        assert_eq!(fb.row(710, 10, 64).len(), 10);
    }

    #[test]
    fn pixels_are_palette_indices_and_a_full_palette_takes_the_nearest() {
        let mut fb = Framebuffer::new(300, 1);
        assert_eq!(fb.palette(), [Rgb::default()]);
        fb.paint(Rect::new(0, 0, 300, 1), |x, _| Rgb::new(x as u8, 0, 0));
        assert_eq!(fb.palette().len(), 256);
        assert_eq!(fb.pixel(255, 0), Rgb::new(255, 0, 0));
        // x = 256.. wrapped to (0..) red values already there.
        assert_eq!(fb.pixel(260, 0), Rgb::new(4, 0, 0));
        fb.fill(Rect::new(0, 0, 1, 1), Rgb::new(250, 3, 0));
        assert_eq!(fb.pixel(0, 0), Rgb::new(250, 0, 0), "nearest");
        assert_eq!(fb.row(0, 0, 2), [250, 1]);
        fb.resize(2, 2);
        assert_eq!(
            fb.palette(),
            [Rgb::default()],
            "a new screen, a new palette"
        );
    }

    #[test]
    fn resize_changes_everything() {
        let mut fb = Framebuffer::new(720, 400);
        let g = fb.generation();
        fb.resize(640, 480);
        assert!(fb.size_generation() > g);
        assert_eq!((fb.tiles_x(), fb.tiles_y()), (10, 8));
        assert!(fb.tile_generation(9, 7) > g);
    }
}
