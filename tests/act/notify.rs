//! Desktop notifications against a real dunst on a private bus (tests/harness/notify-sandbox.sh).

use crate::sandbox::{Sandbox, block_on, env};
use crate::test_path;
use gpuwarden::act::{DesktopNotifier, Notification, NotifyOptions, NotifyOutcome, Urgency};
use gpuwarden::events::{EventOutcome, EventResult};
use std::time::Duration;

/// Waits until dbus-monitor's log contains every needle; returns the log.
fn monitor_log_with(needles: &[&str]) -> String {
    let path = env("NOTIFY_MONITOR_LOG");
    for _ in 0..100 {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if needles.iter().all(|n| log.contains(n)) {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "dbus-monitor never saw {needles:?}:\n{}",
        std::fs::read_to_string(&path).unwrap_or_default()
    );
}

#[test]
fn dunst_receives_the_notification() {
    Sandbox::notify().run(test_path!(dunst_receives_the_notification), || {
        let outcome = block_on(async {
            let notifier = DesktopNotifier::session(NotifyOptions::default());
            notifier
                .send(&Notification::new(
                    "GPU 0 over temperature",
                    "91 °C for 10s: restarting fake-infer@0.service",
                    Urgency::Critical,
                ))
                .await
        });
        let summary = Notification::new("GPU 0 over temperature", "", Urgency::Critical);
        let event = outcome.to_event(1, &summary);
        assert_eq!(event.result, EventResult::Ok);
        assert_eq!(event.action, "notify \"GPU 0 over temperature\"");
        let NotifyOutcome::Shown { id } = outcome else {
            panic!("expected Shown, got {outcome:?}");
        };
        assert!(id > 0);
        let log = monitor_log_with(&[
            "member=Notify",
            "string \"gpuwarden\"",
            "string \"GPU 0 over temperature\"",
            "string \"91 °C for 10s: restarting fake-infer@0.service\"",
        ]);
        assert!(
            log.contains("string \"urgency\"") && log.contains("byte 2"),
            "{log}"
        );
        let shown = std::process::Command::new("dunstctl")
            .args(["count", "displayed"])
            .output()
            .expect("dunstctl runs");
        let shown = String::from_utf8_lossy(&shown.stdout);
        assert!(
            shown.trim().parse::<u32>().is_ok_and(|n| n >= 1),
            "dunst displays {shown:?}"
        );
    });
}

#[test]
fn no_server_on_the_bus_is_an_outcome_then_a_back_off() {
    Sandbox::notify_without_server().run(
        test_path!(no_server_on_the_bus_is_an_outcome_then_a_back_off),
        || {
            block_on(async {
                let notifier = DesktopNotifier::session(NotifyOptions::default());
                let n = Notification::new("GPU 1 hot", "88 °C", Urgency::Normal);
                let first = notifier.send(&n).await;
                match &first {
                    NotifyOutcome::Unavailable { reason } => {
                        assert!(reason.contains("no notification server"), "{reason}")
                    }
                    other => panic!("expected Unavailable, got {other:?}"),
                }
                assert_eq!(first.result(), EventResult::NotSupported);
                assert!(matches!(
                    notifier.send(&n).await,
                    NotifyOutcome::BackingOff { .. }
                ));
            })
        },
    );
}

#[test]
fn a_server_that_never_answers_times_out() {
    Sandbox::notify_without_server().run(test_path!(a_server_that_never_answers_times_out), || {
        block_on(async {
            // Own the name on a connection that never reads its messages, so never replies.
            let silent = zbus::connection::Builder::session().build().await.unwrap();
            let bus = zbus::fdo::DBusProxy::new(&silent).await.unwrap();
            bus.request_name(
                "org.freedesktop.Notifications".try_into().unwrap(),
                zbus::fdo::RequestNameFlags::DO_NOT_QUEUE,
            )
            .await
            .unwrap();
            let notifier = DesktopNotifier::session(NotifyOptions {
                timeout: Duration::from_millis(500),
                ..NotifyOptions::default()
            });
            let outcome = notifier
                .send(&Notification::new("GPU 2 hot", "90 °C", Urgency::Critical))
                .await;
            assert_eq!(outcome, NotifyOutcome::TimedOut(Duration::from_millis(500)));
            assert_eq!(outcome.result(), EventResult::TimedOut);
            drop(silent);
        })
    });
}

#[test]
fn no_session_bus_at_all_neither_fails_nor_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}/bus", dir.path().display());
    block_on(async {
        let notifier = DesktopNotifier::at_address(address, NotifyOptions::default());
        let n = Notification::new("GPU 0 hot", "91 °C", Urgency::Critical);
        let outcomes = tokio::time::timeout(Duration::from_secs(20), async {
            let mut outcomes = Vec::new();
            for _ in 0..100 {
                outcomes.push(notifier.send(&n).await);
            }
            outcomes
        })
        .await
        .expect("notifications without a bus must not hang");
        assert!(
            matches!(outcomes[0], NotifyOutcome::Unavailable { .. }),
            "{:?}",
            outcomes[0]
        );
        // Not retried in a hot loop: the other 99 did not even try.
        assert!(
            outcomes[1..]
                .iter()
                .all(|o| matches!(o, NotifyOutcome::BackingOff { .. }))
        );
    });
}
