//! Colors and emphasis, and the thresholds that pick them.
//!
//! Every style the view uses comes from [`Theme`], so `--no-color` / `NO_COLOR` is one switch:
//! without color the theme hands out only bold, reverse and dim, and the view stays readable
//! because levels are also spelled out with symbols (`!` warm, `!!` hot) and numbers.

use ratatui::style::{Color, Modifier, Style};

/// When a value turns from normal to warning to critical. The watchdog's config feeds the
/// critical levels later; the defaults match its defaults (85 °C, 85 % memory).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Temperature at which a GPU is hot, °C.
    pub temperature_c: f64,
    /// Memory used at which a GPU is nearly full, percent.
    pub memory_pct: f64,
    /// Power draw at which a GPU is at its limit, percent of the enforced limit (a warning).
    pub power_pct: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            temperature_c: 85.0,
            memory_pct: 85.0,
            power_pct: 95.0,
        }
    }
}

impl Thresholds {
    pub fn temperature(&self, c: f64) -> Level {
        Level::of(c, self.temperature_c, self.temperature_c - 10.0)
    }
    pub fn memory(&self, pct: f64) -> Level {
        Level::of(pct, self.memory_pct, self.memory_pct - 5.0)
    }
    /// Power at the limit is a warning, never critical: a busy card is meant to reach its cap
    /// (the `sw-power-cap` reason says when the cap holds it back).
    pub fn power(&self, pct: f64) -> Level {
        Level::of(pct, self.power_pct, self.power_pct - 10.0).min(Level::Warning)
    }
}

/// How worrying a value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Normal,
    Warning,
    Critical,
}

impl Level {
    fn of(v: f64, critical: f64, warning: f64) -> Level {
        if v >= critical {
            Level::Critical
        } else if v >= warning {
            Level::Warning
        } else {
            Level::Normal
        }
    }

    /// The symbol written next to a value, so levels survive without color.
    pub fn mark(self) -> &'static str {
        match self {
            Level::Normal => "",
            Level::Warning => "!",
            Level::Critical => "!!",
        }
    }
}

// The 256-color palette: fixed values look the same in every terminal theme (and in the
// screenshots), where the 16 base colors vary from terminal to terminal.
const ACCENT: Color = Color::Indexed(38);
const GREEN: Color = Color::Indexed(71);
const YELLOW: Color = Color::Indexed(178);
const ORANGE: Color = Color::Indexed(209);
const RED: Color = Color::Indexed(203);
const MAGENTA: Color = Color::Indexed(170);
const LABEL: Color = Color::Indexed(249);
const DIM: Color = Color::Indexed(243);
const BORDER: Color = Color::Indexed(240);
const BAR_EMPTY: Color = Color::Indexed(237);
const SELECTED_BG: Color = Color::Indexed(237);
const ALARM_BG: Color = Color::Indexed(160);
const FROZEN_BG: Color = Color::Indexed(117);

/// How many GPUs the overlay charts tell apart by color.
pub const GPU_LINES: usize = 8;

/// The dashboard's styles, with or without color.
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Self {
        Theme { color }
    }

    fn pick(&self, colored: Style, plain: Style) -> Style {
        if self.color { colored } else { plain }
    }

    pub fn text(&self) -> Style {
        Style::new()
    }
    pub fn dim(&self) -> Style {
        self.pick(Style::new().fg(DIM), Style::new())
    }
    pub fn label(&self) -> Style {
        self.pick(Style::new().fg(LABEL), Style::new())
    }
    pub fn title(&self) -> Style {
        self.pick(
            Style::new().fg(ACCENT).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
    pub fn brand(&self) -> Style {
        self.pick(
            Style::new()
                .fg(Color::Indexed(16))
                .bg(ACCENT)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        )
    }
    pub fn border(&self) -> Style {
        self.pick(Style::new().fg(BORDER), Style::new())
    }
    pub fn border_focused(&self) -> Style {
        self.pick(
            Style::new().fg(ACCENT),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
    pub fn header_row(&self) -> Style {
        self.pick(
            Style::new().fg(LABEL).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )
    }
    /// The selected row of a list.
    pub fn selected(&self) -> Style {
        self.pick(
            Style::new().bg(SELECTED_BG).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::REVERSED),
        )
    }
    /// The symbol that spells out a level where color cannot (`!`, `!!`).
    pub fn mark(&self, level: Level) -> &'static str {
        if self.color { "" } else { level.mark() }
    }

    pub fn level(&self, level: Level) -> Style {
        match level {
            Level::Normal => self.pick(Style::new().fg(GREEN), Style::new()),
            Level::Warning => self.pick(
                Style::new().fg(YELLOW),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Level::Critical => self.pick(
                Style::new().fg(RED).add_modifier(Modifier::BOLD),
                Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ),
        }
    }
    /// Bar fill for utilization (not a threshold: busy is good).
    pub fn util_bar(&self) -> Style {
        self.pick(Style::new().fg(ACCENT), Style::new())
    }
    pub fn bar_empty(&self) -> Style {
        self.pick(Style::new().fg(BAR_EMPTY), Style::new())
    }
    /// A lost GPU, a failed source: impossible to miss.
    pub fn alarm(&self) -> Style {
        self.pick(
            Style::new()
                .fg(Color::Indexed(231))
                .bg(ALARM_BG)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        )
    }
    /// Throttle reasons that slow the card down against its will.
    pub fn slowdown(&self) -> Style {
        self.pick(
            Style::new().fg(RED).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
    /// Throttle reasons that are routine (power cap, app clocks).
    pub fn throttle(&self) -> Style {
        self.pick(Style::new().fg(YELLOW), Style::new())
    }
    pub fn frozen(&self) -> Style {
        self.pick(
            Style::new()
                .fg(Color::Indexed(16))
                .bg(FROZEN_BG)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        )
    }
    pub fn key(&self) -> Style {
        self.pick(
            Style::new().fg(ACCENT).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
    /// Chart lines, one color per metric.
    pub fn chart(&self, index: usize) -> Style {
        const COLORS: [Color; 4] = [ACCENT, MAGENTA, ORANGE, YELLOW];
        self.pick(Style::new().fg(COLORS[index % COLORS.len()]), Style::new())
    }
    /// The overlay charts' line of the `i`th GPU drawn (`o`): [`GPU_LINES`] colors, none
    /// the threshold's red.
    pub fn gpu_line(&self, i: usize) -> Style {
        const COLORS: [Color; GPU_LINES] = [
            ACCENT,
            MAGENTA,
            ORANGE,
            YELLOW,
            GREEN,
            Color::Indexed(111),
            Color::Indexed(141),
            Color::Indexed(252),
        ];
        self.pick(Style::new().fg(COLORS[i % GPU_LINES]), Style::new())
    }
    /// Threshold lines drawn on charts.
    pub fn limit_line(&self) -> Style {
        self.pick(
            Style::new().fg(RED),
            Style::new().add_modifier(Modifier::DIM),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_thresholds_match_the_watchdog_defaults() {
        let t = Thresholds::default();
        assert_eq!(t.temperature(84.0), Level::Warning);
        assert_eq!(t.temperature(85.0), Level::Critical);
        assert_eq!(t.temperature(60.0), Level::Normal);
        assert_eq!(t.memory(86.0), Level::Critical);
        assert_eq!(t.memory(50.0), Level::Normal);
    }

    #[test]
    fn no_color_theme_has_no_colors() {
        let t = Theme::new(false);
        for s in [
            t.dim(),
            t.title(),
            t.selected(),
            t.alarm(),
            t.level(Level::Critical),
            t.chart(2),
            t.gpu_line(5),
            t.frozen(),
        ] {
            assert_eq!((s.fg, s.bg), (None, None), "{s:?}");
        }
    }
}
