//! A PNG of a rendered login screen, written to a temporary directory and
//! decoded again.

use amtemu_rfb::pixel::VGA_PALETTE;
use amtemu_rfb::screen::Screen;

#[test]
fn login_screen_png_round_trips() {
    let mut screen = Screen::new();
    screen.feed(b"\x1b[2J\x1b[H\x1b[1;37;44m Debian GNU/Linux 13 amt-host ttyS0 \x1b[0m\r\n\r\namt-host login: ");
    let png_bytes = screen.framebuffer().to_png().unwrap();
    let dir = std::env::temp_dir().join(format!("amtemu-rfb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("login.png");
    std::fs::write(&path, &png_bytes).unwrap();

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (720, 400));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let px = |x: usize, y: usize| {
        let i = (y * 720 + x) * 3;
        [buf[i], buf[i + 1], buf[i + 2]]
    };
    let blue = VGA_PALETTE[1];
    let black = VGA_PALETTE[0];
    // The banner's first cell is a blue-background space; row 3 is black.
    assert_eq!(px(0, 0), [blue.r, blue.g, blue.b]);
    assert_eq!(px(700, 40), [black.r, black.g, black.b]);
    // Some pixel of "Debian" (cells 1..7 of row 0) is bright white.
    assert!((9..63).any(|x| (0..16).any(|y| px(x, y) == [255, 255, 255])));
    std::fs::remove_dir_all(&dir).unwrap();
}
