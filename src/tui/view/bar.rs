//! A meter bar in eighth-block characters with its label, and the short number formats the
//! GPU rows use. Bars stay readable without color: the filled part is solid, the rest shaded.

use super::text;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

const PARTIAL: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/// Draws `pct` (0–100, `None` = unknown) as a bar filling `area`'s first row, with `label`
/// right-aligned after it.
pub(super) fn render(
    buf: &mut Buffer,
    area: Rect,
    pct: Option<f64>,
    label: &str,
    fill: Style,
    empty: Style,
) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let label_w = label.chars().count() as u16;
    let bar_w = area.width.saturating_sub(label_w + 1);
    if bar_w >= 3 {
        let eighths = pct.map_or(0, |p| {
            (p.clamp(0.0, 100.0) / 100.0 * f64::from(bar_w) * 8.0).round() as u32
        });
        let full = (eighths / 8) as u16;
        let part = (eighths % 8) as usize;
        for i in 0..bar_w {
            let (sym, style) = if i < full {
                ("█", fill)
            } else if i == full && part > 0 {
                (PARTIAL[part], fill)
            } else if pct.is_none() {
                (" ", empty)
            } else {
                ("░", empty)
            };
            buf[(area.x + i, area.y)].set_symbol(sym).set_style(style);
        }
    }
    let x = area.x + area.width.saturating_sub(label_w);
    text::set_stringn(buf, x, area.y, label, area.width as usize, fill);
}

/// Bytes as GiB, as short as possible: `62.4`, `80`.
pub(super) fn gib_short(bytes: u64) -> String {
    let g = bytes as f64 / f64::from(1u32 << 30);
    if g >= 100.0 || (g - g.round()).abs() < 0.05 {
        format!("{g:.0}")
    } else {
        format!("{g:.1}")
    }
}

/// Bytes per second as `4.1 GB/s`, `850 MB/s`.
pub(super) fn rate(bytes_per_s: u64) -> String {
    let b = bytes_per_s as f64;
    if b >= 1e9 {
        format!("{:.1} GB/s", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.0} MB/s", b / 1e6)
    } else {
        format!("{:.0} kB/s", b / 1e3)
    }
}

/// Cuts `text` to `width` characters, ending in `…` when it was longer.
pub(super) fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut s: String = text.chars().take(width - 1).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::buffer::Buffer;

    #[test]
    fn bar_fills_proportionally_with_eighths() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 14, 1));
        render(
            &mut buf,
            Rect::new(0, 0, 14, 1),
            Some(45.0),
            "45%",
            Style::new(),
            Style::new(),
        );
        // 10 cells of bar: 4.5 cells filled.
        assert_eq!(buf, Buffer::with_lines(["████▌░░░░░ 45%"]));
    }

    #[test]
    fn unknown_value_leaves_the_bar_blank() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 8, 1));
        let style = Style::new();
        render(&mut buf, Rect::new(0, 0, 8, 1), None, "n/a", style, style);
        assert_eq!(buf, Buffer::with_lines(["     n/a"]));
    }

    #[test]
    fn short_formats() {
        assert_eq!(gib_short(80 << 30), "80");
        assert_eq!(gib_short((624 << 30) / 10), "62.4");
        assert_eq!(rate(4_100_000_000), "4.1 GB/s");
        assert_eq!(fit("python train.py", 8), "python …");
    }
}
