use super::*;
use crate::act::alert::AlertStatus;

fn hot(uuid: &str, at: u64) -> Alert {
    Alert::firing("gpu-hot", "node1", uuid, at, "hot")
}

#[test]
fn pending_alerts_survive_reopening_and_leave_only_when_finished() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut o = Outbox::open(dir.path(), "am", 100).unwrap();
        o.push(hot("GPU-1", 1)).unwrap();
        o.push(hot("GPU-2", 2)).unwrap();
        let first = o.pending()[0].id;
        o.finish(&[first], Outcome::Delivered).unwrap();
    }
    let mut o = Outbox::open(dir.path(), "am", 100).unwrap();
    assert_eq!(o.pending().len(), 1);
    assert_eq!(o.pending()[0].alert.uuid, "GPU-2");
    assert_eq!(o.counters().delivered, 1);
    let id = o.pending()[0].id;
    o.finish(&[id], Outcome::Delivered).unwrap();
    drop(o);
    let o = Outbox::open(dir.path(), "am", 100).unwrap();
    assert!(o.pending().is_empty());
    assert_eq!(o.counters().delivered, 2);
}

#[test]
fn a_resend_replaces_the_pending_copy_but_a_transition_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), "webhook", 100).unwrap();
    let a = hot("GPU-1", 1);
    o.push(a.clone()).unwrap();
    o.push(a.clone()).unwrap();
    assert_eq!(o.pending().len(), 1);
    o.push(a.resolved(5)).unwrap();
    o.push(a.clone()).unwrap();
    let states: Vec<AlertStatus> = o.pending().iter().map(|e| e.alert.status).collect();
    assert_eq!(
        states,
        [
            AlertStatus::Firing,
            AlertStatus::Resolved,
            AlertStatus::Firing
        ]
    );
}

#[test]
fn beyond_the_bound_the_oldest_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), "am", 3).unwrap();
    let mut dropped = 0;
    for i in 0..5 {
        dropped += o.push(hot(&format!("GPU-{i}"), i)).unwrap();
    }
    assert_eq!(dropped, 2);
    let uuids: Vec<&str> = o.pending().iter().map(|e| e.alert.uuid.as_str()).collect();
    assert_eq!(uuids, ["GPU-2", "GPU-3", "GPU-4"]);
    drop(o);
    let o = Outbox::open(dir.path(), "am", 3).unwrap();
    assert_eq!(o.counters().dropped, 2);
}

#[test]
fn a_torn_last_record_is_cut_off_and_a_corrupt_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut o = Outbox::open(dir.path(), "am", 10).unwrap();
        o.push(hot("GPU-1", 1)).unwrap();
    }
    let path = dir.path().join("am.jsonl");
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{\"add\":{\"id\":7,\"ale").unwrap();
    drop(f);
    let mut o = Outbox::open(dir.path(), "am", 10).unwrap();
    assert_eq!(o.pending().len(), 1);
    o.push(hot("GPU-2", 2)).unwrap();
    drop(o);
    assert_eq!(
        Outbox::open(dir.path(), "am", 10).unwrap().pending().len(),
        2
    );

    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"not json\n").unwrap();
    drop(f);
    let err = Outbox::open(dir.path(), "am", 10).unwrap_err().to_string();
    assert!(
        err.contains("am.jsonl:4: unreadable outbox record"),
        "{err}"
    );
}

#[test]
fn two_processes_cannot_share_an_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Outbox::open(dir.path(), "am", 10).unwrap();
    let err = Outbox::open(dir.path(), "am", 10).unwrap_err();
    assert!(matches!(err, OutboxError::Locked { .. }), "{err}");
}

#[test]
fn the_journal_is_compacted_when_mostly_finished() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), "am", 10).unwrap();
    for i in 0..300 {
        o.push(hot("GPU-1", i).resolved(i + 1)).unwrap();
        let id = o.pending()[0].id;
        o.finish(&[id], Outcome::Delivered).unwrap();
    }
    let size = fs::metadata(o.path()).unwrap().len();
    assert!(size < 64 * 1024, "journal still {size} bytes");
    assert_eq!(o.counters().delivered, 300);
}
