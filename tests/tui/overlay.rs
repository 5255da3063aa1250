//! `o` on the overview: the chart strip turns into one overlay chart per metric with every
//! GPU drawn on top of each other, each in its own color and named in the title; past eight
//! GPUs the selected one and the seven busiest, which the chart says; `o` again goes back.

use super::{app_after, draw, press, text};
use gpuwarden::gpu::sim::Scenario;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use std::collections::BTreeSet;

/// The colors of the braille dots drawn, and of the GPU indices in the first chart's title.
fn colors(terminal: &Terminal<TestBackend>) -> (BTreeSet<String>, Vec<(String, String)>) {
    let buf = terminal.backend().buffer();
    let braille = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| ('\u{2801}'..='\u{28ff}').contains(&c))
    };
    let dots = buf
        .content()
        .iter()
        .filter(|c| braille(c.symbol()) && c.fg != Color::Indexed(203))
        .map(|c| format!("{:?}", c.fg))
        .collect();
    let screen = text(terminal);
    let y = screen
        .lines()
        .position(|l| l.contains("┌ Util "))
        .expect("an overlay chart titled Util") as u16;
    let row: Vec<_> = (0..buf.area.width).map(|x| &buf[(x, y)]).collect();
    let start = row
        .windows(6)
        .position(|w| w.iter().map(|c| c.symbol()).collect::<String>() == " Util ")
        .unwrap()
        + 6;
    // The legend: each GPU's index (after `▶` for the selected), in its color.
    let mut legend = Vec::new();
    let mut x = start;
    while x < row.len() && row[x].symbol() != "─" && row[x].symbol() != "┐" {
        let mut name = String::new();
        let fg = format!("{:?}", row[x].fg);
        while x < row.len() && row[x].symbol() != " " {
            name.push_str(row[x].symbol());
            x += 1;
        }
        legend.push((name, fg));
        x += 1;
    }
    (dots, legend)
}

fn overlay(gpus: u32, color: bool, snapshot: &str) {
    let (mut app, _) = app_after(Scenario::Mixed, gpus, 90, color);
    let before = text(&draw(&app, 120, 40));
    press(&mut app, "o");
    let terminal = draw(&app, 120, 40);
    let screen = text(&terminal);
    let names: Vec<String> = (0..gpus)
        .map(|i| if i == 0 { "▶0".into() } else { i.to_string() })
        .collect();
    let (dots, legend) = colors(&terminal);
    assert_eq!(
        legend.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        names,
        "the title names every GPU: {screen}"
    );
    let legend_colors: BTreeSet<String> = legend.iter().map(|(_, c)| c.clone()).collect();
    if color {
        assert_eq!(
            legend_colors.len(),
            gpus as usize,
            "a color per GPU: {legend:?}"
        );
        assert!(
            dots.len() >= 2 && dots.is_subset(&legend_colors),
            "lines in the GPUs' colors: {dots:?} vs {legend:?}"
        );
    } else {
        for cell in terminal.backend().buffer().content() {
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
        }
    }
    for title in ["Util", "Memory", "Temp", "Power"] {
        assert!(screen.contains(&format!("┌ {title} ")), "{title}: {screen}");
    }
    insta::with_settings!({ snapshot_path => "../snapshots" }, {
        insta::assert_snapshot!(snapshot, terminal.backend());
    });
    press(&mut app, "o");
    assert_eq!(
        text(&draw(&app, 120, 40)),
        before,
        "o again: the selected GPU's charts"
    );
}

#[test]
fn o_overlays_four_gpus_in_four_colors() {
    overlay(4, true, "overlay_4_gpus_120x40");
}

#[test]
fn o_overlays_eight_gpus_in_eight_colors() {
    overlay(8, true, "overlay_8_gpus_120x40");
}

#[test]
fn o_without_color_names_the_gpus_in_the_title() {
    overlay(8, false, "overlay_8_gpus_no_color_120x40");
}

/// 64 GPUs: the selected one (GPU 5 here) and the seven busiest, in index order, and the
/// chart says it shows 8 of 64.
#[test]
fn past_eight_gpus_the_overlay_shows_the_selected_and_the_busiest() {
    let (mut app, _) = app_after(Scenario::Mixed, 64, 30, true);
    press(&mut app, "5o");
    let terminal = draw(&app, 120, 40);
    let screen = text(&terminal);
    let (_, legend) = colors(&terminal);
    let names: Vec<&str> = legend.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 8, "{screen}");
    assert!(names.contains(&"▶5"), "{names:?}");
    let util = |i: u32| {
        app.gpus()[i as usize]
            .utilization_gpu_pct
            .get()
            .unwrap_or(0)
    };
    let shown: Vec<u32> = names
        .iter()
        .map(|n| n.trim_start_matches('▶').parse().unwrap())
        .collect();
    assert!(
        shown.windows(2).all(|w| w[0] < w[1]),
        "index order: {shown:?}"
    );
    let least_shown = shown
        .iter()
        .filter(|&&i| i != 5)
        .map(|&i| util(i))
        .min()
        .unwrap();
    let busiest_left_out = (0..64)
        .filter(|i| !shown.contains(i))
        .map(util)
        .max()
        .unwrap();
    assert!(least_shown >= busiest_left_out, "{shown:?}");
    assert!(screen.contains("8 of 64: busiest"), "{screen}");
}
