//! A filled area chart drawn straight into the buffer in braille: two samples per cell
//! column, four dot rows per cell row, filled from the bottom up to each value, newest on the
//! right; a gap (no value) is an empty column. A threshold is a dotted line across; the left
//! edge carries the top, middle and bottom of the scale, the bottom edge the time axis.
//! [`line`] draws a series as a braille line instead (one dot per sample), over what a plot
//! already holds, for the overlay of every GPU.
//!
//! Written by hand rather than with ratatui's `Chart` (which plots line segments on a
//! canvas and allocates per point): one pass over the cells, no allocation, so the four
//! charts of a frame cost a few microseconds.

use super::text;
use crate::history::Series;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

/// What one chart shows.
pub(super) struct AreaChart<'a> {
    pub series: &'a Series,
    /// The scale, bottom and top.
    pub lo: f64,
    pub hi: f64,
    /// A threshold drawn as a dotted line.
    pub limit: Option<f64>,
    pub fill: Style,
    pub limit_style: Style,
    pub label_style: Style,
}

/// Braille dot bits, by dot row from the top, for the left and the right dot column.
const LEFT: [u8; 4] = [0x01, 0x02, 0x04, 0x40];
const RIGHT: [u8; 4] = [0x08, 0x10, 0x20, 0x80];

impl AreaChart<'_> {
    /// The label column for a scale from `lo` to `hi`: its widest of top, middle and bottom,
    /// and a space.
    pub fn label_width(lo: f64, hi: f64) -> u16 {
        [lo, hi, (lo + hi) / 2.0]
            .map(|v| format!("{v:.0}").len())
            .into_iter()
            .max()
            .unwrap_or(0) as u16
            + 1
    }

    /// How many samples fit in `area` (two per plotted cell column).
    pub fn window(area: Rect, label_w: u16) -> usize {
        usize::from(area.width.saturating_sub(label_w)) * 2
    }

    /// Draws into `area` (the chart's inside): labels in the first `label_w` columns, the
    /// plot in the rest.
    pub fn render(&self, area: Rect, label_w: u16, buf: &mut Buffer) {
        if area.height == 0 || area.width <= label_w {
            return;
        }
        self.labels(area, label_w, buf);
        let plot = Rect {
            x: area.x + label_w,
            width: area.width - label_w,
            ..area
        };
        let dots_high = u32::from(plot.height) * 4;
        let span = (self.hi - self.lo).max(f64::EPSILON);
        // Dots filled from the bottom for a value: at least one for any value above the
        // bottom of the scale, so a small but nonzero reading is not mistaken for a gap.
        let height = |v: f64| -> u32 {
            let h = ((v - self.lo) / span * f64::from(dots_high)).round();
            let h = h.clamp(0.0, f64::from(dots_high)) as u32;
            if h == 0 && v > self.lo { 1 } else { h }
        };
        let limit_dot = self
            .limit
            .filter(|l| *l >= self.lo && *l <= self.hi)
            .map(|l| {
                // The dot row (from the bottom, 1-based) the threshold falls on.
                (((l - self.lo) / span * f64::from(dots_high)).round() as u32).clamp(1, dots_high)
            });
        // Newest sample in the rightmost dot column; older ones to the left.
        let mut newest_first = self.series.iter().rev();
        let mut values = [None::<u32>; 2];
        for cx in (0..plot.width).rev() {
            // Right dot column first (newer), then left.
            values[1] = newest_first.next().flatten().map(height);
            values[0] = newest_first.next().flatten().map(height);
            let dot_col = usize::from(cx) * 2;
            for row in 0..plot.height {
                // This cell's dot rows, from the bottom, are base+1 ..= base+4.
                let base = u32::from(plot.height - 1 - row) * 4;
                let mut bits = 0u8;
                for (col, h) in values.iter().enumerate() {
                    let Some(h) = *h else { continue };
                    let dots = if col == 0 { &LEFT } else { &RIGHT };
                    for (k, bit) in dots.iter().enumerate() {
                        // dot row k from the top is base + 4 - k from the bottom
                        if base + 4 - k as u32 <= h {
                            bits |= bit;
                        }
                    }
                }
                let cell = &mut buf[(plot.x + cx, plot.y + row)];
                if bits != 0 {
                    cell.set_char(braille(bits)).set_style(self.fill);
                    continue;
                }
                // The threshold, dotted: one dot every other dot column, in empty cells.
                match limit_dot {
                    Some(d) if d > base && d <= base + 4 && (dot_col / 2) % 2 == 0 => {
                        let k = (base + 4 - d) as usize;
                        cell.set_char(braille(LEFT[k])).set_style(self.limit_style);
                    }
                    _ => {
                        cell.set_char(' ');
                    }
                }
            }
        }
    }

    /// The top, middle and bottom of the scale, right-aligned in the label column.
    fn labels(&self, area: Rect, label_w: u16, buf: &mut Buffer) {
        let w = usize::from(label_w.saturating_sub(1));
        let mut put = |row: u16, v: f64| {
            let text = format!("{:>w$.0}", v);
            text::set_stringn(buf, area.x, area.y + row, &text, w, self.label_style);
        };
        put(0, self.hi);
        if area.height >= 5 {
            put(area.height / 2, (self.lo + self.hi) / 2.0);
        }
        if area.height >= 2 {
            put(area.height - 1, self.lo);
        }
    }
}

/// The braille character with these dots (U+2800 + bits).
fn braille(bits: u8) -> char {
    char::from_u32(0x2800 + u32::from(bits)).unwrap_or(' ')
}

/// Draws `series` as a braille line over what `plot` already holds (an overlay of several
/// GPUs): one dot per sample at its height, two samples per cell column, newest on the right,
/// nothing for a gap. Dots join the braille already in a cell, which takes this line's style;
/// other symbols are replaced. No allocation.
pub(super) fn line(series: &Series, lo: f64, hi: f64, style: Style, plot: Rect, buf: &mut Buffer) {
    if plot.height == 0 || plot.width == 0 {
        return;
    }
    let dots_high = u32::from(plot.height) * 4;
    let span = (hi - lo).max(f64::EPSILON);
    let mut newest_first = series.iter().rev();
    for cx in (0..plot.width).rev() {
        // Right dot column first (newer), then left.
        for dots in [&RIGHT, &LEFT] {
            let Some(v) = newest_first.next() else {
                return;
            };
            let Some(v) = v else { continue };
            // The dot row from the bottom, 0-based: the bottom of the scale is the bottom row.
            let d = ((v - lo) / span * f64::from(dots_high - 1)).round();
            let d = d.clamp(0.0, f64::from(dots_high - 1)) as u32;
            let row = plot.height - 1 - (d / 4) as u16;
            let cell = &mut buf[(plot.x + cx, plot.y + row)];
            let had = cell
                .symbol()
                .chars()
                .next()
                .and_then(braille_bits)
                .unwrap_or(0);
            cell.set_char(braille(had | dots[3 - (d % 4) as usize]))
                .set_style(style);
        }
    }
}

/// The dots of a braille character, or `None` for any other character.
fn braille_bits(c: char) -> Option<u8> {
    u8::try_from(u32::from(c).checked_sub(0x2800)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: &Series, limit: Option<f64>) -> Buffer {
        let area = Rect::new(0, 0, 6, 2);
        let mut buf = Buffer::empty(area);
        AreaChart {
            series,
            lo: 0.0,
            hi: 100.0,
            limit,
            fill: Style::default(),
            limit_style: Style::default(),
            label_style: Style::default(),
        }
        .render(area, 4, &mut buf);
        buf
    }

    fn row(buf: &Buffer, y: u16) -> String {
        (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
    }

    #[test]
    fn fills_from_the_bottom_newest_on_the_right() {
        let mut s = Series::new(16);
        // 8 dots high; 100 % fills all of them, 50 % the bottom four, 0 % none.
        for v in [Some(100.0), Some(50.0), Some(0.0), None] {
            s.push(v);
        }
        let buf = chart(&s, None);
        // Plot: 2 cells = 4 samples: [100, 50] [0, gap]; the label column is 4 wide.
        assert_eq!(row(&buf, 0), "100 ⡇ ");
        assert_eq!(row(&buf, 1), "  0 ⣿ ");
        let mut s = Series::new(16);
        for v in [Some(50.0), Some(100.0)] {
            s.push(v);
        }
        let buf = chart(&s, None);
        // newest (100) in the right dot column, 50 in the left: top cell right half only
        assert_eq!(row(&buf, 0), "100  ⢸");
        assert_eq!(row(&buf, 1), "  0  ⣿");
    }

    #[test]
    fn a_small_value_is_one_dot_and_a_threshold_is_dotted() {
        let mut s = Series::new(16);
        s.push(Some(1.0));
        let buf = chart(&s, Some(75.0));
        assert_eq!(buf[(5, 1)].symbol(), "⢀", "one dot, right column");
        // 75 % of 8 dots = dot row 6 from the bottom: the top cell's third row from the top.
        assert_eq!(buf[(4, 0)].symbol(), "⠄");
        assert_eq!(buf[(5, 0)].symbol(), " ", "every other column only");
    }

    #[test]
    fn a_line_is_one_dot_per_sample_and_lines_share_cells() {
        let area = Rect::new(0, 0, 2, 2);
        let mut buf = Buffer::empty(area);
        let mut s = Series::new(16);
        // 8 dot rows: 0 % is the bottom row, 100 % the top one; the gap draws nothing.
        for v in [Some(0.0), None, Some(100.0), Some(50.0)] {
            s.push(v);
        }
        line(&s, 0.0, 100.0, Style::default(), area, &mut buf);
        // Right cell: 100 in the left dot column (top row), 50 in the right one (dot row
        // round(0.5 × 7) = 4 from the bottom: the top cell's lowest). Left cell: the gap on
        // the right, 0 on the left (the bottom row).
        assert_eq!(row(&buf, 0), " ⢁");
        assert_eq!(row(&buf, 1), "⡀ ");
        let mut other = Series::new(16);
        // round(0.85 × 7) = 6: the top cell's second row, right column.
        other.push(Some(85.0));
        line(&other, 0.0, 100.0, Style::default(), area, &mut buf);
        assert_eq!(row(&buf, 0), " ⢑", "a second line joins the first's cell");
    }
}
