//! A frame's changed cells as escape sequences, written straight into the frame's buffer:
//! cursor moves only where the cells are not contiguous, SGR only where the style changes,
//! numbers written digit by digit. The same sequences crossterm's commands produce (ANSI
//! palette indices for named colors), without a formatting machinery per cell.

use ratatui::buffer::Cell;
use ratatui::style::{Color, Modifier};
use std::io::{self, Write};

/// Writes `content` (cells with their positions, in screen order) and resets the style at
/// the end, as ratatui's crossterm backend does.
pub fn write_cells<'a>(
    out: &mut impl Write,
    content: impl Iterator<Item = (u16, u16, &'a Cell)>,
) -> io::Result<()> {
    let mut fg = Color::Reset;
    let mut bg = Color::Reset;
    let mut underline = Color::Reset;
    let mut modifier = Modifier::empty();
    let mut last: Option<(u16, u16)> = None;
    let mut seq = Sequence::default();
    for (x, y, cell) in content {
        if !matches!(last, Some((lx, ly)) if ly == y && lx.checked_add(1) == Some(x)) {
            seq.start(b'[');
            seq.number(u32::from(y) + 1);
            seq.push(b";");
            seq.number(u32::from(x) + 1);
            seq.push(b"H");
        }
        last = Some((x, y));
        if cell.modifier != modifier {
            modifiers(&mut seq, modifier, cell.modifier);
            modifier = cell.modifier;
        }
        if cell.fg != fg || cell.bg != bg {
            seq.start(b'[');
            color(&mut seq, 38, 39, cell.fg);
            seq.push(b";");
            color(&mut seq, 48, 49, cell.bg);
            seq.push(b"m");
            fg = cell.fg;
            bg = cell.bg;
        }
        if cell.underline_color != underline {
            seq.start(b'[');
            color(&mut seq, 58, 59, cell.underline_color);
            seq.push(b"m");
            underline = cell.underline_color;
        }
        seq.push(cell.symbol().as_bytes());
        if seq.bytes.len() >= FLUSH_AT {
            out.write_all(&seq.bytes)?;
            seq.bytes.clear();
        }
    }
    seq.push(b"\x1b[39m\x1b[49m\x1b[59m\x1b[0m");
    out.write_all(&seq.bytes)
}

/// Bytes gathered before they go to the writer in one piece.
const FLUSH_AT: usize = 16 * 1024;

#[derive(Default)]
struct Sequence {
    bytes: Vec<u8>,
}

impl Sequence {
    fn push(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// ESC and the sequence's introducer.
    fn start(&mut self, introducer: u8) {
        self.bytes.extend_from_slice(&[0x1b, introducer]);
    }

    fn number(&mut self, n: u32) {
        self.push(crate::units::decimal(n, &mut [0; 10]).as_bytes());
    }

    fn sgr(&mut self, code: u32) {
        self.start(b'[');
        self.number(code);
        self.push(b"m");
    }
}

/// One color's SGR parameters: `base;5;index`, `base;2;r;g;b`, or `reset`.
fn color(seq: &mut Sequence, base: u32, reset: u32, color: Color) {
    let index = match color {
        Color::Reset => return seq.number(reset),
        Color::Rgb(r, g, b) => {
            seq.number(base);
            seq.push(b";2;");
            seq.number(r.into());
            seq.push(b";");
            seq.number(g.into());
            seq.push(b";");
            return seq.number(b.into());
        }
        Color::Indexed(i) => i,
        named => palette_index(named),
    };
    seq.number(base);
    seq.push(b";5;");
    seq.number(index.into());
}

/// The ANSI palette's index of a named color.
fn palette_index(color: Color) -> u8 {
    match color {
        Color::Black => 0,
        Color::Red => 1,
        Color::Green => 2,
        Color::Yellow => 3,
        Color::Blue => 4,
        Color::Magenta => 5,
        Color::Cyan => 6,
        Color::Gray => 7,
        Color::DarkGray => 8,
        Color::LightRed => 9,
        Color::LightGreen => 10,
        Color::LightYellow => 11,
        Color::LightBlue => 12,
        Color::LightMagenta => 13,
        Color::LightCyan => 14,
        _ => 15,
    }
}

/// From one set of attributes to another: what went is switched off (bold and dim share
/// one "normal intensity" switch, so the one that stays is switched on again), then what
/// came is switched on.
fn modifiers(seq: &mut Sequence, from: Modifier, to: Modifier) {
    let removed = from - to;
    if removed.contains(Modifier::REVERSED) {
        seq.sgr(27);
    }
    let intensity = removed.intersects(Modifier::BOLD | Modifier::DIM);
    if intensity {
        seq.sgr(22);
        if to.contains(Modifier::DIM) {
            seq.sgr(2);
        }
        if to.contains(Modifier::BOLD) {
            seq.sgr(1);
        }
    }
    for (m, off) in [
        (Modifier::ITALIC, 23),
        (Modifier::UNDERLINED, 24),
        (Modifier::CROSSED_OUT, 29),
        (Modifier::HIDDEN, 28),
    ] {
        if removed.contains(m) {
            seq.sgr(off);
        }
    }
    if removed.intersects(Modifier::SLOW_BLINK | Modifier::RAPID_BLINK) {
        seq.sgr(25);
    }
    let added = to - from;
    for (m, on) in [
        (Modifier::REVERSED, 7),
        (Modifier::BOLD, 1),
        (Modifier::ITALIC, 3),
        (Modifier::UNDERLINED, 4),
        (Modifier::DIM, 2),
        (Modifier::CROSSED_OUT, 9),
        (Modifier::HIDDEN, 8),
        (Modifier::SLOW_BLINK, 5),
        (Modifier::RAPID_BLINK, 6),
    ] {
        let again = intensity && (m == Modifier::BOLD || m == Modifier::DIM);
        if added.contains(m) && !again {
            seq.sgr(on);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ratatui::backend::{Backend, CrosstermBackend};

    const COLS: u16 = 24;
    const ROWS: u16 = 6;

    /// What a terminal shows after `bytes`: every cell's text and attributes.
    fn screen(bytes: &[u8]) -> Vec<String> {
        let mut parser = vt100::Parser::new(ROWS, COLS, 0);
        parser.process(bytes);
        let s = parser.screen();
        let mut out = Vec::new();
        for row in 0..ROWS {
            for col in 0..COLS {
                let c = s.cell(row, col).unwrap();
                out.push(format!(
                    "{row},{col} {:?} fg={:?} bg={:?} b={} d={} i={} u={} r={}",
                    c.contents(),
                    c.fgcolor(),
                    c.bgcolor(),
                    c.bold(),
                    c.dim(),
                    c.italic(),
                    c.underline(),
                    c.inverse()
                ));
            }
        }
        out
    }

    fn colors() -> impl Strategy<Value = Color> {
        prop_oneof![
            Just(Color::Reset),
            (0u8..16).prop_map(palette_color),
            any::<u8>().prop_map(Color::Indexed),
            any::<(u8, u8, u8)>().prop_map(|(r, g, b)| Color::Rgb(r, g, b)),
        ]
    }

    fn palette_color(i: u8) -> Color {
        [
            Color::Black,
            Color::Red,
            Color::Green,
            Color::Yellow,
            Color::Blue,
            Color::Magenta,
            Color::Cyan,
            Color::Gray,
            Color::DarkGray,
            Color::LightRed,
            Color::LightGreen,
            Color::LightYellow,
            Color::LightBlue,
            Color::LightMagenta,
            Color::LightCyan,
            Color::White,
        ][usize::from(i)]
    }

    fn cells() -> impl Strategy<Value = Vec<(u16, u16, Cell)>> {
        let cell = (
            prop::sample::select(vec!["a", "Z", " ", "█", "⣿", "▂", "%", "é"]),
            colors(),
            colors(),
            any::<u16>(),
        )
            .prop_map(|(symbol, fg, bg, bits)| {
                let mut c = Cell::new(symbol);
                c.fg = fg;
                c.bg = bg;
                c.modifier = Modifier::from_bits_truncate(bits);
                c
            });
        prop::collection::btree_map((0..ROWS, 0..COLS), cell, 0..60)
            .prop_map(|m| m.into_iter().map(|((y, x), c)| (x, y, c)).collect())
    }

    proptest! {
        /// The same screen as crossterm's commands give, for any changed cells in any style.
        #[test]
        fn a_frame_looks_as_crossterm_would_draw_it(cells in cells()) {
            let mut ours = Vec::new();
            write_cells(&mut ours, cells.iter().map(|(x, y, c)| (*x, *y, c))).unwrap();
            let mut theirs = Vec::new();
            CrosstermBackend::new(&mut theirs)
                .draw(cells.iter().map(|(x, y, c)| (*x, *y, c)))
                .unwrap();
            prop_assert_eq!(screen(&ours), screen(&theirs));
        }
    }

    #[test]
    fn contiguous_cells_move_the_cursor_once_and_style_once() {
        let mut bold = Cell::new("x");
        bold.modifier = Modifier::BOLD;
        bold.fg = Color::Red;
        let cells = [(3, 1, &bold), (4, 1, &bold), (0, 2, &bold)];
        let mut out = Vec::new();
        write_cells(&mut out, cells.into_iter()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\x1b[2;4H\x1b[1m\x1b[38;5;1;49mxx\x1b[3;1Hx\x1b[39m\x1b[49m\x1b[59m\x1b[0m"
        );
    }
}
