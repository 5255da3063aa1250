//! Text and boxes straight into the buffer, as ratatui draws them but cheaper for what the
//! dashboard mostly draws: plain ASCII is written byte by byte (ratatui splits every string
//! into grapheme clusters and measures each), anything else goes through ratatui's own
//! calls. [`Boxed`] is a `Block` with all borders and titles on its edges that does not
//! restyle every cell of its area first.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::border;
use ratatui::text::Line;
use ratatui::widgets::Widget;

/// [`Buffer::set_stringn`]: at most `max_width` columns of `text` from (`x`, `y`), control
/// characters left out; returns where the text ended.
pub(super) fn set_stringn(
    buf: &mut Buffer,
    x: u16,
    y: u16,
    text: impl AsRef<str>,
    max_width: usize,
    style: impl Into<Style>,
) -> (u16, u16) {
    let text = text.as_ref();
    let style = style.into();
    if !text.is_ascii() {
        return buf.set_stringn(x, y, text, max_width, style);
    }
    let room = buf
        .area
        .right()
        .saturating_sub(x)
        .min(u16::try_from(max_width).unwrap_or(u16::MAX));
    let mut end = x;
    for b in text.bytes().filter(|b| !b.is_ascii_control()) {
        if end - x == room {
            break;
        }
        buf[(end, y)].set_char(char::from(b)).set_style(style);
        end += 1;
    }
    (end, y)
}

/// [`Buffer::set_line`]: each span in the line's style patched with its own.
pub(super) fn set_line(
    buf: &mut Buffer,
    x: u16,
    y: u16,
    line: &Line<'_>,
    max_width: u16,
) -> (u16, u16) {
    let mut left = max_width;
    let mut x = x;
    for span in line {
        if left == 0 {
            break;
        }
        let (end, _) = set_stringn(
            buf,
            x,
            y,
            span.content.as_ref(),
            usize::from(left),
            line.style.patch(span.style),
        );
        left = left.saturating_sub(end.saturating_sub(x));
        x = end;
    }
    (x, y)
}

/// A box with all four borders, a title on the top edge and up to two on the bottom one
/// (left and right), the same cells as ratatui's `Block` with `Borders::ALL` draws.
pub(super) struct Boxed<'a> {
    pub title: Line<'a>,
    pub bottom_left: Option<Line<'a>>,
    pub bottom_right: Option<Line<'a>>,
    pub border: Style,
}

impl<'a> Boxed<'a> {
    pub fn new(title: Line<'a>, border: Style) -> Self {
        Boxed {
            title,
            bottom_left: None,
            bottom_right: None,
            border,
        }
    }

    /// The area inside the borders.
    pub fn inner(area: Rect) -> Rect {
        Rect {
            x: area.x.saturating_add(1).min(area.right()),
            y: area.y.saturating_add(1).min(area.bottom()),
            width: area.width.saturating_sub(2),
            height: area.height.saturating_sub(2),
        }
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        let set = border::PLAIN;
        let (left, top) = (area.left(), area.top());
        let (right, bottom) = (area.right() - 1, area.bottom() - 1);
        for x in left..=right {
            buf[(x, top)]
                .set_symbol(set.horizontal_top)
                .set_style(self.border);
            buf[(x, bottom)]
                .set_symbol(set.horizontal_bottom)
                .set_style(self.border);
        }
        for y in top..=bottom {
            buf[(left, y)]
                .set_symbol(set.vertical_left)
                .set_style(self.border);
            buf[(right, y)]
                .set_symbol(set.vertical_right)
                .set_style(self.border);
        }
        for (x, y, symbol) in [
            (right, bottom, set.bottom_right),
            (right, top, set.top_right),
            (left, bottom, set.bottom_left),
            (left, top, set.top_left),
        ] {
            buf[(x, y)].set_symbol(symbol).set_style(self.border);
        }
        let edge = |y| Rect {
            x: left + 1,
            y,
            width: area.width.saturating_sub(2),
            height: 1,
        };
        let bottom_edge = edge(bottom);
        title(&self.title, edge(top), false, buf);
        // As ratatui: the left title first, the right one over it where they meet.
        if let Some(line) = &self.bottom_left {
            title(line, bottom_edge, false, buf);
        }
        if let Some(line) = &self.bottom_right {
            title(line, bottom_edge, true, buf);
        }
    }
}

/// One title on an edge, against its left or right end, in the room ratatui gives it. Plain
/// text that fits is written directly; anything else (a title cut short, control or wide
/// characters) is drawn by ratatui itself.
fn title(line: &Line<'_>, edge: Rect, right: bool, buf: &mut Buffer) {
    if edge.is_empty() {
        return;
    }
    let width = u16::try_from(line.width()).unwrap_or(u16::MAX);
    let area = Rect {
        x: if right {
            edge.right().saturating_sub(width).max(edge.left())
        } else {
            edge.x
        },
        width: width.min(edge.width),
        ..edge
    };
    let plain = line.spans.iter().all(|s| {
        s.content
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_control())
    });
    if plain && width <= edge.width {
        set_line(buf, area.x, area.y, line, width);
    } else {
        line.render(area, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ratatui::style::{Color, Modifier};
    use ratatui::text::Span;
    use ratatui::widgets::{Block, Borders};

    fn texts() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "a", "Z", " ", "%", "\t", "\n", "\x1b", "é", "█", "中", "·",
            ]),
            0..30,
        )
        .prop_map(|v| v.concat())
    }

    fn styles() -> impl Strategy<Value = Style> {
        (0u8..4, any::<bool>()).prop_map(|(c, bold)| {
            let s = Style::default().fg(Color::Indexed(c));
            if bold {
                s.add_modifier(Modifier::BOLD)
            } else {
                s
            }
        })
    }

    fn lines() -> impl Strategy<Value = Line<'static>> {
        (prop::collection::vec((texts(), styles()), 0..3), styles()).prop_map(|(spans, style)| {
            Line::from(
                spans
                    .into_iter()
                    .map(|(t, s)| Span::styled(t, s))
                    .collect::<Vec<_>>(),
            )
            .style(style)
        })
    }

    proptest! {
        /// The same cells as ratatui's `set_stringn`, whatever the text and the room.
        #[test]
        fn text_lands_as_ratatui_puts_it(
            text in texts(), x in 0u16..24, y in 0u16..3, max in 0usize..40, style in styles()
        ) {
            let area = Rect::new(0, 0, 24, 3);
            let (mut ours, mut theirs) = (Buffer::empty(area), Buffer::empty(area));
            let a = set_stringn(&mut ours, x, y, &text, max, style);
            let b = theirs.set_stringn(x, y, &text, max, style);
            prop_assert_eq!(a, b);
            prop_assert_eq!(ours, theirs);
        }

        /// The same cells as ratatui's `Block` with all borders and these titles.
        #[test]
        fn a_box_looks_as_ratatuis_block(
            title in lines(), left in proptest::option::of(lines()),
            right in proptest::option::of(lines()),
            w in 0u16..30, h in 0u16..5, border in styles()
        ) {
            let area = Rect::new(1, 1, w, h);
            let screen = Rect::new(0, 0, 32, 7);
            let (mut ours, mut theirs) = (Buffer::empty(screen), Buffer::empty(screen));
            let mut block = Block::default()
                .borders(Borders::ALL)
                .border_style(border)
                .title(title.clone());
            if let Some(l) = &left {
                block = block.title_bottom(l.clone());
            }
            if let Some(r) = &right {
                block = block.title_bottom(r.clone().right_aligned());
            }
            prop_assert_eq!(Boxed::inner(area), block.inner(area));
            block.render(area, &mut theirs);
            Boxed {
                title,
                bottom_left: left,
                bottom_right: right.map(Line::right_aligned),
                border,
            }
            .render(area, &mut ours);
            prop_assert_eq!(ours, theirs);
        }
    }
}
