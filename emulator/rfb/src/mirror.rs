//! The host's screen when the host draws it itself (a virtual machine's
//! display, read with a [`Viewer`](crate::viewer::Viewer)): the pixels the
//! remote server sent, or "no signal" while there is no picture, with the
//! user-consent code on top while it is displayed, as the firmware draws
//! it over whatever the host shows.

use crate::framebuffer::Framebuffer;
use crate::messages::Rect;
use crate::overlay::{consent_box, consent_digits, draw_consent, draw_no_signal};
use crate::pixel::Rgb;
use crate::screen::{TEXT_HEIGHT, TEXT_WIDTH};
use crate::viewer::ViewerEvent;

#[derive(Debug, Clone)]
pub struct Mirror {
    fb: Framebuffer,
    signal: bool,
    consent: Option<[u8; 6]>,
}

impl Default for Mirror {
    fn default() -> Self {
        Self::new()
    }
}

impl Mirror {
    /// No picture yet: "no signal" at text mode's size.
    pub fn new() -> Mirror {
        let mut m = Mirror {
            fb: Framebuffer::new(TEXT_WIDTH, TEXT_HEIGHT),
            signal: false,
            consent: None,
        };
        draw_no_signal(&mut m.fb);
        m
    }

    pub fn framebuffer(&self) -> &Framebuffer {
        &self.fb
    }

    /// Whether the remote picture is shown.
    pub fn has_signal(&self) -> bool {
        self.signal
    }

    /// Applies what the remote server sent. While there is no signal,
    /// pixels are ignored (the next connection starts with a full update).
    pub fn apply(&mut self, event: &ViewerEvent) {
        match event {
            ViewerEvent::Ready { width, height, .. } | ViewerEvent::Resized { width, height } => {
                self.signal = true;
                self.fb.resize(*width, *height);
                self.draw_consent();
            }
            ViewerEvent::Pixels { rect, pixels } if self.signal => {
                let width = usize::from(rect.w);
                self.fb.paint(*rect, |x, y| {
                    let at = usize::from(y - rect.y) * width + usize::from(x - rect.x);
                    pixels.get(at).copied().unwrap_or_default()
                });
                self.redraw_consent_under(*rect);
            }
            ViewerEvent::Copy { rect, src_x, src_y } if self.signal => {
                // Read first: source and destination may overlap.
                let source: Vec<Rgb> = (0..rect.h)
                    .flat_map(|dy| (0..rect.w).map(move |dx| (dx, dy)))
                    .map(|(dx, dy)| {
                        self.fb
                            .pixel(src_x.saturating_add(dx), src_y.saturating_add(dy))
                    })
                    .collect();
                let width = usize::from(rect.w);
                self.fb.paint(*rect, |x, y| {
                    let at = usize::from(y - rect.y) * width + usize::from(x - rect.x);
                    source.get(at).copied().unwrap_or_default()
                });
                self.redraw_consent_under(*rect);
            }
            _ => {}
        }
    }

    /// The picture is gone (the host is off, its display closed): "no
    /// signal" at text mode's size until the next [`ViewerEvent::Ready`].
    pub fn lose_signal(&mut self) {
        if !self.signal {
            return;
        }
        self.signal = false;
        if (self.fb.width(), self.fb.height()) != (TEXT_WIDTH, TEXT_HEIGHT) {
            self.fb.resize(TEXT_WIDTH, TEXT_HEIGHT);
        }
        draw_no_signal(&mut self.fb);
        self.draw_consent();
    }

    /// Shows (`Some`) or removes (`None`) the user-consent code. Returns
    /// true when the remote picture under the box is needed again (the box
    /// went while there is a signal): the caller asks the remote server for
    /// a full update ([`Viewer::request_full`](crate::viewer::Viewer::request_full)).
    pub fn set_consent_code(&mut self, code: Option<u32>) -> bool {
        let digits = code.map(consent_digits);
        if digits == self.consent {
            return false;
        }
        let had = self.consent.is_some();
        self.consent = digits;
        if self.consent.is_some() {
            self.draw_consent();
            false
        } else if had && !self.signal {
            draw_no_signal(&mut self.fb);
            false
        } else {
            had
        }
    }

    /// The consent code shown, as text.
    pub fn consent_code(&self) -> Option<&str> {
        self.consent
            .as_ref()
            .and_then(|d| std::str::from_utf8(d).ok())
    }

    fn redraw_consent_under(&mut self, painted: Rect) {
        if self.consent.is_some() && !consent_box(&self.fb).intersect(&painted).is_empty() {
            self.draw_consent();
        }
    }

    fn draw_consent(&mut self) {
        if let Some(digits) = &self.consent {
            draw_consent(&mut self.fb, digits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixel::VGA_PALETTE;

    fn pixels(rect: Rect, c: Rgb) -> ViewerEvent {
        ViewerEvent::Pixels {
            rect,
            pixels: vec![c; usize::from(rect.w) * usize::from(rect.h)],
        }
    }

    #[test]
    fn the_remote_picture_with_no_signal_around_it() {
        let mut m = Mirror::new();
        assert!(!m.has_signal());
        let grey = VGA_PALETTE[7];
        assert_eq!(m.framebuffer().pixel(200, 152), grey, "the no-signal box");
        m.apply(&pixels(Rect::new(0, 0, 10, 10), Rgb::new(1, 2, 3)));
        assert_eq!(m.framebuffer().pixel(0, 0), VGA_PALETTE[0], "ignored");

        m.apply(&ViewerEvent::Ready {
            width: 640,
            height: 480,
            name: String::new(),
        });
        assert!(m.has_signal());
        assert_eq!(m.framebuffer().width(), 640);
        let red = Rgb::new(0xAA, 0, 0);
        m.apply(&pixels(Rect::new(0, 0, 4, 2), red));
        m.apply(&ViewerEvent::Copy {
            rect: Rect::new(2, 1, 4, 2),
            src_x: 0,
            src_y: 0,
        });
        let fb = m.framebuffer();
        assert_eq!(fb.pixel(5, 2), red, "copied (overlapping)");
        assert_eq!(fb.pixel(5, 0), VGA_PALETTE[0]);
        assert_eq!(fb.pixel(2, 1), red);

        m.lose_signal();
        assert_eq!(
            (m.framebuffer().width(), m.framebuffer().height()),
            (720, 400)
        );
        assert_eq!(m.framebuffer().pixel(200, 152), grey);
    }

    #[test]
    fn the_consent_code_stays_on_top_of_the_remote_picture() {
        let mut m = Mirror::new();
        m.apply(&ViewerEvent::Ready {
            width: 720,
            height: 400,
            name: String::new(),
        });
        assert!(!m.set_consent_code(Some(123456)));
        assert_eq!(m.consent_code(), Some("123456"));
        let inside = (210, 140);
        assert_eq!(m.framebuffer().pixel(inside.0, inside.1), VGA_PALETTE[15]);
        // The VM repaints the whole screen: the box is drawn again on top.
        m.apply(&pixels(Rect::new(0, 0, 720, 400), Rgb::new(9, 9, 9)));
        assert_eq!(m.framebuffer().pixel(inside.0, inside.1), VGA_PALETTE[15]);
        assert_eq!(m.framebuffer().pixel(0, 0), Rgb::new(9, 9, 9));
        assert!(
            m.set_consent_code(None),
            "the picture under it is asked for"
        );
        m.apply(&pixels(Rect::new(0, 0, 720, 400), Rgb::new(9, 9, 9)));
        assert_eq!(m.framebuffer().pixel(inside.0, inside.1), Rgb::new(9, 9, 9));
        // Over "no signal" too, and gone with it.
        m.lose_signal();
        m.set_consent_code(Some(1));
        assert_eq!(m.framebuffer().pixel(inside.0, inside.1), VGA_PALETTE[15]);
        assert!(!m.set_consent_code(None), "no signal is drawn here");
        assert_ne!(m.framebuffer().pixel(inside.0, inside.1), VGA_PALETTE[15]);
    }
}
