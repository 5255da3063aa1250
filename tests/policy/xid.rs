//! `metric = "xid"` rules: fire while more than `above` XIDs of the listed codes were
//! counted on a GPU within `within`, clear once they age out, and keep watching a GPU that
//! fell off the bus (XID 79 comes with a lost GPU).

use crate::support::{Run, config, gpu, lost};
use gpuwarden::policy::{self, State};

fn rule(extra: &str) -> String {
    format!(
        r#"
[[rule]]
name = "xid"
metric = "xid"
{extra}
steps = [{{ after = "0s", do = "page" }}]

[alerts.webhook]   # pages need a sink
url = "http://127.0.0.1:9/hook"
"#
    )
}

/// Counts XID `code` on GPU `index` at second `t`, as the daemon does.
fn xid(run: &mut Run, index: u32, code: u32, t: u64) {
    let uuid = format!("GPU-{index}");
    policy::note_xid(&run.config, &mut run.state, &uuid, index, code, t * 1000);
}

#[test]
fn a_listed_xid_fires_at_the_next_sample_and_clears_when_it_ages_out() {
    let mut run = Run::new(config(&rule("xid = [48, 79]\nwithin = \"1m\"")));
    run.each_second(0, 4, |_| vec![gpu(0, 50.0), gpu(1, 50.0)]);
    xid(&mut run, 1, 13, 5); // not listed
    run.each_second(5, 9, |_| vec![gpu(0, 50.0), gpu(1, 50.0)]);
    assert_eq!(run.story(), Vec::<String>::new());
    xid(&mut run, 1, 79, 10);
    run.each_second(10, 80, |_| vec![gpu(0, 50.0), gpu(1, 50.0)]);
    assert_eq!(
        run.story(),
        [
            "10s fired gpu1",
            "10s page gpu1",
            "70s cleared recovered gpu1",
            "70s resolve gpu1"
        ]
    );
    let fired = &run.actions[0].summary;
    assert!(
        fired.contains("1 XID(s) in the last 1m (above 0)"),
        "{fired}"
    );
}

#[test]
fn above_counts_xids_in_the_window_and_no_list_means_any_code() {
    let mut run = Run::new(config(&rule("above = 2\nwithin = \"10s\"")));
    for t in [0, 4, 20, 22, 24] {
        xid(&mut run, 0, 13 + t as u32, t);
        run.at(t, vec![gpu(0, 50.0)]);
    }
    // 0 and 4: two in 10 s, not more than 2; 20, 22, 24: three.
    assert_eq!(run.story(), ["24s fired", "24s page"]);
}

#[test]
fn an_xid_rule_keeps_watching_a_gpu_that_fell_off_the_bus() {
    let text = format!(
        "{}\n{}",
        r#"
[[rule]]
name = "hot"
metric = "temperature_c"
above = 40
"#,
        rule("xid = [79]"),
    );
    let mut run = Run::new(config(&text));
    run.at(0, vec![gpu(0, 50.0)]);
    xid(&mut run, 0, 79, 1);
    run.at(1, vec![lost(0)]);
    run.at(2, vec![lost(0)]);
    assert_eq!(
        run.story(),
        ["0s fired", "1s cleared gpu_lost", "1s fired", "1s page"],
        "{:#?}",
        run.actions
    );
}

#[test]
fn without_xid_rules_nothing_is_remembered_and_state_stays_compatible() {
    let mut run = Run::new(config(
        "[[rule]]\nname = \"hot\"\nmetric = \"temperature_c\"\nabove = 85\n",
    ));
    xid(&mut run, 0, 79, 1);
    assert_eq!(run.state, State::default());

    let mut run = Run::new(config(&rule("within = \"1h\"")));
    xid(&mut run, 0, 79, 1);
    let json = serde_json::to_string(&run.state).unwrap();
    assert!(json.contains(r#""xids":[[1000,79]]"#), "{json}");
    let back: State = serde_json::from_str(&json).unwrap();
    assert_eq!(back, run.state);
    // A state file written before XIDs were remembered still loads.
    let old: State = serde_json::from_str(r#"{"schema":1,"gpus":{"GPU-0":{"index":0}}}"#).unwrap();
    assert!(old.gpus["GPU-0"].xids.is_empty());
}
