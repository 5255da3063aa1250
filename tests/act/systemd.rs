//! Restarts and lookups over D-Bus against a real `systemd --user` (tests/harness/systemd-sandbox.sh).

use crate::sandbox::{Sandbox, block_on};
use crate::test_path;
use gpuwarden::act::{JobResult, RestartOutcome, Systemd, SystemdError, SystemdOptions};
use gpuwarden::events::{EventKind, EventLog, EventOutcome, EventResult, read_last};
use std::time::Duration;

fn systemd() -> Systemd {
    Systemd::system(SystemdOptions {
        call_timeout: Duration::from_secs(5),
        job_timeout: Duration::from_secs(30),
        allowlist: None,
    })
}

#[test]
fn restart_changes_the_main_pid_and_returns_done() {
    Sandbox::systemd().run(
        test_path!(restart_changes_the_main_pid_and_returns_done),
        || {
            block_on(async {
                let systemd = systemd();
                let before = systemd.unit_state("fake-infer@0.service").await.unwrap();
                assert_eq!(before.active_state, "active");
                assert_ne!(before.main_pid, 0);

                let outcome = systemd.restart("fake-infer@0.service").await;
                assert!(outcome.is_done(), "{outcome:?}");

                let after = systemd.unit_state("fake-infer@0.service").await.unwrap();
                assert_eq!(
                    (after.active_state.as_str(), after.sub_state.as_str()),
                    ("active", "running")
                );
                assert_ne!(after.main_pid, 0);
                assert_ne!(after.main_pid, before.main_pid, "MainPID must change");
                // A simple service's job is done at fork; the exec of /bin/sleep follows.
                let path = format!("/proc/{}/cmdline", after.main_pid);
                let mut cmdline = Vec::new();
                for _ in 0..100 {
                    cmdline = std::fs::read(&path).unwrap_or_default();
                    if cmdline.starts_with(b"/bin/sleep") {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                assert!(
                    cmdline.starts_with(b"/bin/sleep"),
                    "{}",
                    String::from_utf8_lossy(&cmdline)
                );

                // The outcome becomes an event in the log, read back as the dashboard would.
                let dir = tempfile::tempdir().unwrap();
                let mut log = EventLog::open(dir.path()).unwrap();
                let event = outcome
                    .to_event(1, "fake-infer@0.service")
                    .gpu("GPU-0", Some(0))
                    .rule("hot");
                log.append(&event).unwrap();
                let back = read_last(log.path(), 10).unwrap();
                assert_eq!(back, vec![event]);
                assert_eq!(back[0].result, EventResult::Ok);
                assert_eq!(back[0].kind, EventKind::RestartUnit);
                assert_eq!(back[0].action, "restart fake-infer@0.service");
                assert!(back[0].detail.as_deref().unwrap().ends_with(": done"));
            })
        },
    );
}

#[test]
fn failed_restarts_come_back_as_typed_outcomes() {
    Sandbox::systemd().run(
        test_path!(failed_restarts_come_back_as_typed_outcomes),
        || {
            block_on(async {
                let systemd = systemd();
                let failed = systemd.restart("fails-to-start.service").await;
                assert!(
                    matches!(
                        &failed,
                        RestartOutcome::Job {
                            result: JobResult::Failed,
                            ..
                        }
                    ),
                    "{failed:?}"
                );
                let state = systemd.unit_state("fails-to-start.service").await.unwrap();
                assert_eq!(state.active_state, "failed");

                let dependency = systemd.restart("needs-broken.service").await;
                assert!(
                    matches!(
                        &dependency,
                        RestartOutcome::Job {
                            result: JobResult::Dependency,
                            ..
                        }
                    ),
                    "{dependency:?}"
                );

                let missing = systemd.restart("no-such-unit.service").await;
                match &missing {
                    RestartOutcome::Error(SystemdError::NoSuchUnit(message)) => {
                        assert!(message.contains("no-such-unit.service"), "{message}")
                    }
                    other => panic!("expected NoSuchUnit, got {other:?}"),
                }
                assert!(matches!(
                    systemd.unit_state("no-such-unit.service").await,
                    Err(SystemdError::NoSuchUnit(_))
                ));
            })
        },
    );
}

#[test]
fn a_job_that_outlasts_the_timeout_is_reported_and_the_next_restart_still_works() {
    Sandbox::systemd().run(
        test_path!(a_job_that_outlasts_the_timeout_is_reported_and_the_next_restart_still_works),
        || {
            block_on(async {
                let systemd = Systemd::system(SystemdOptions {
                    job_timeout: Duration::from_secs(1),
                    ..SystemdOptions::default()
                });
                let slow = systemd.restart("slow-start.service").await;
                match &slow {
                    RestartOutcome::TimedOut { job, waited } => {
                        assert!(job.starts_with("/org/freedesktop/systemd1/job/"));
                        assert_eq!(*waited, Duration::from_secs(1));
                    }
                    other => panic!("expected TimedOut, got {other:?}"),
                }
                let state = systemd.unit_state("slow-start.service").await.unwrap();
                assert_eq!(
                    (state.active_state.as_str(), state.sub_state.as_str()),
                    ("activating", "start-pre")
                );

                let next = systemd.restart("fake-infer@1.service").await;
                assert!(next.is_done(), "{next:?}");
            })
        },
    );
}

#[test]
fn get_unit_by_pid_finds_the_unit_of_its_main_pid() {
    Sandbox::systemd().run(
        test_path!(get_unit_by_pid_finds_the_unit_of_its_main_pid),
        || {
            block_on(async {
                let systemd = systemd();
                let state = systemd.unit_state("fake-infer@1.service").await.unwrap();
                assert_eq!(
                    systemd
                        .unit_of_pid(state.main_pid)
                        .await
                        .unwrap()
                        .as_deref(),
                    Some("fake-infer@1.service")
                );
                // This test process belongs to no unit of the manager.
                assert_eq!(systemd.unit_of_pid(std::process::id()).await.unwrap(), None);
            })
        },
    );
}

#[test]
fn a_unit_outside_the_allowlist_is_never_touched() {
    Sandbox::systemd().run(
        test_path!(a_unit_outside_the_allowlist_is_never_touched),
        || {
            block_on(async {
                let systemd = Systemd::system(SystemdOptions {
                    allowlist: Some(
                        gpuwarden::policy::Allowlist::new(&["fake-infer@*.service"]).unwrap(),
                    ),
                    ..SystemdOptions::default()
                });
                let before = systemd.unit_state("bystander.service").await.unwrap();
                let refused = systemd.restart("bystander.service").await;
                assert_eq!(
                    refused,
                    RestartOutcome::NotAllowed {
                        unit: "bystander.service".into()
                    }
                );
                let after = systemd.unit_state("bystander.service").await.unwrap();
                assert_eq!(after, before);
                assert!(systemd.restart("fake-infer@0.service").await.is_done());
            })
        },
    );
}

#[test]
fn concurrent_restarts_each_get_their_own_job_result() {
    Sandbox::systemd().run(
        test_path!(concurrent_restarts_each_get_their_own_job_result),
        || {
            block_on(async {
                let systemd = systemd();
                let (a, b, c) = tokio::join!(
                    systemd.restart("fake-infer@0.service"),
                    systemd.restart("fails-to-start.service"),
                    systemd.restart("fake-infer@1.service"),
                );
                assert!(a.is_done(), "{a:?}");
                assert!(
                    matches!(
                        &b,
                        RestartOutcome::Job {
                            result: JobResult::Failed,
                            ..
                        }
                    ),
                    "{b:?}"
                );
                assert!(c.is_done(), "{c:?}");
            })
        },
    );
}

#[test]
fn a_bus_without_systemd_is_an_error_outcome() {
    // The notification sandbox has a bus but no systemd on it.
    Sandbox::notify_without_server().run(
        test_path!(a_bus_without_systemd_is_an_error_outcome),
        || {
            block_on(async {
                let systemd = Systemd::at_address(
                    crate::sandbox::env("DBUS_SESSION_BUS_ADDRESS"),
                    SystemdOptions::default(),
                );
                match systemd.restart("fake-infer@0.service").await {
                    RestartOutcome::Error(SystemdError::NoBus(message)) => {
                        assert!(message.contains("systemd is not on this bus"), "{message}")
                    }
                    other => panic!("expected NoBus, got {other:?}"),
                }
            })
        },
    );
}

#[test]
fn access_denied_says_it_needs_root_or_the_polkit_rule() {
    Sandbox::systemd().deny_restart().run(
        test_path!(access_denied_says_it_needs_root_or_the_polkit_rule),
        || {
            block_on(async {
                let systemd = systemd();
                let before = systemd.unit_state("fake-infer@0.service").await.unwrap();
                let denied = systemd.restart("fake-infer@0.service").await;
                assert!(
                    matches!(
                        &denied,
                        RestartOutcome::Error(SystemdError::AccessDenied(_))
                    ),
                    "{denied:?}"
                );
                assert_eq!(denied.result(), EventResult::NoPermission);
                let detail = denied.detail().unwrap();
                assert!(detail.contains("needs root or the polkit rule"), "{detail}");
                let after = systemd.unit_state("fake-infer@0.service").await.unwrap();
                assert_eq!(after.main_pid, before.main_pid);
            })
        },
    );
}
