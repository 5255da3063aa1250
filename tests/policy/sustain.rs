//! When rules fire and clear: sustain times (`for`), clear levels and `clear_for`
//! (hysteresis), and readings that are missing.

use crate::support::{Run, config, gpu, rep, run_temps, without_temperature};

fn series(parts: &[(f64, usize)]) -> Vec<f64> {
    parts.iter().flat_map(|(v, n)| rep(*v, *n)).collect()
}

const HOT: &str = r#"
[[rule]]
name = "hot"
metric = "temperature_c"
above = 85
for = "FOR"
clear_below = 80
clear_for = "CLEAR_FOR"
"#;

fn hot(for_: &str, clear_for: &str) -> String {
    HOT.replace("CLEAR_FOR", clear_for).replace("FOR", for_)
}

#[test]
fn fires_only_after_the_condition_held_for_its_sustain_time() {
    // (for, samples one per second from t=0, expected lines)
    let cases: Vec<(&str, Vec<f64>, Vec<&str>)> = vec![
        ("10s", series(&[(90.0, 15)]), vec!["10s fired"]),
        ("0s", series(&[(90.0, 2)]), vec!["0s fired"]),
        ("10s", series(&[(90.0, 10)]), vec![]),
        // a dip below the threshold restarts the clock, even one that is above the clear level
        (
            "10s",
            series(&[(90.0, 6), (84.0, 1), (90.0, 12)]),
            vec!["17s fired"],
        ),
        // exactly at the threshold is not above it
        ("0s", series(&[(85.0, 5)]), vec![]),
        ("5s", series(&[(85.5, 6)]), vec!["5s fired"]),
    ];
    for (for_, temps, want) in cases {
        let got = run_temps(&hot(for_, "0s"), &temps);
        assert_eq!(got, want, "for = {for_}, temps = {temps:?}");
    }
}

#[test]
fn clears_only_past_the_clear_level_held_for_clear_for() {
    let cases: Vec<(&str, Vec<f64>, Vec<&str>)> = vec![
        // between clear level (80) and threshold (85): still firing
        ("0s", series(&[(90.0, 1), (82.0, 10)]), vec!["0s fired"]),
        (
            "0s",
            series(&[(90.0, 1), (80.0, 1)]),
            vec!["0s fired", "1s cleared recovered"],
        ),
        (
            "5s",
            series(&[(90.0, 1), (79.0, 6)]),
            vec!["0s fired", "6s cleared recovered"],
        ),
        // a short cool spell does not clear, and restarts the clear clock
        (
            "5s",
            series(&[(90.0, 1), (79.0, 3), (83.0, 1), (79.0, 5)]),
            vec!["0s fired"],
        ),
    ];
    for (clear_for, temps, want) in cases {
        let got = run_temps(&hot("0s", clear_for), &temps);
        assert_eq!(got, want, "clear_for = {clear_for}, temps = {temps:?}");
    }
}

#[test]
fn a_signal_hovering_around_the_threshold_does_not_flap() {
    // 84, 86, 84, 86, … for two minutes
    let hover: Vec<f64> = (0..120)
        .map(|t| if t % 2 == 0 { 86.0 } else { 84.0 })
        .collect();
    let with_hysteresis = run_temps(&hot("0s", "0s"), &hover);
    assert_eq!(with_hysteresis, vec!["0s fired"]);

    // the same signal against a rule without a clear level flaps every second: the reason
    // the reference config always sets one
    let no_hysteresis = r#"
[[rule]]
name = "hot"
metric = "temperature_c"
above = 85
"#;
    let flapping = run_temps(no_hysteresis, &hover);
    assert_eq!(flapping.iter().filter(|l| l.ends_with("fired")).count(), 60);

    // and `for` alone also keeps it quiet
    assert_eq!(run_temps(&hot("3s", "0s"), &hover), Vec::<String>::new());
}

#[test]
fn a_missing_reading_neither_fires_clears_nor_escalates() {
    let mut run = Run::new(config(
        r#"
[[rule]]
name = "hot"
metric = "temperature_c"
above = 85
for = "2s"
steps = [{ after = "5s", do = "notify" }]
"#,
    ));
    run.each_second(0, 1, |_| vec![gpu(0, 90.0)]);
    // pending is reset by the gap
    run.each_second(2, 4, |_| vec![without_temperature(gpu(0, 90.0))]);
    run.each_second(5, 7, |_| vec![gpu(0, 90.0)]);
    assert_eq!(run.lines(), vec!["7s fired"]);
    // firing, then blind for a while: no clear, no escalation until readings come back
    run.each_second(8, 20, |_| vec![without_temperature(gpu(0, 90.0))]);
    assert_eq!(run.lines(), vec!["7s fired"]);
    run.at(21, vec![gpu(0, 90.0)]);
    assert_eq!(run.lines(), vec!["7s fired", "21s notify"]);
}

#[test]
fn below_rules_mirror_above_rules() {
    // temperature margin: slowdown (90 in the samples) minus temperature
    let cfg = r#"
[[rule]]
name = "near-slowdown"
metric = "temperature_margin_c"
below = 5
clear_above = 10
"#;
    // margins 2 (fires), 7 (holds), 10 (clears)
    assert_eq!(
        run_temps(cfg, &[88.0, 83.0, 80.0]),
        vec!["0s fired", "2s cleared recovered"]
    );
}
