use super::*;
use crate::events::{EventOutcome, EventResult};
use zbus::fdo;

#[test]
fn access_denied_says_what_is_missing() {
    let err = zbus::Error::FDO(Box::new(fdo::Error::AccessDenied(
        "Permission denied".to_string(),
    )));
    let classified = SystemdError::from_zbus(&err, Duration::from_secs(1));
    assert_eq!(
        classified,
        SystemdError::AccessDenied("Permission denied".to_string())
    );
    let outcome = RestartOutcome::Error(classified);
    assert_eq!(outcome.result(), EventResult::NoPermission);
    assert!(
        outcome
            .detail()
            .unwrap()
            .contains("needs root or the polkit rule")
    );
}

#[test]
fn interactive_authorization_is_access_denied_too() {
    let err = zbus::Error::FDO(Box::new(fdo::Error::InteractiveAuthorizationRequired(
        "Interactive authentication required.".to_string(),
    )));
    assert!(matches!(
        SystemdError::from_zbus(&err, Duration::from_secs(1)),
        SystemdError::AccessDenied(_)
    ));
}

#[test]
fn method_timeout_is_a_call_timeout() {
    let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
    let err = zbus::Error::InputOutput(std::sync::Arc::new(io));
    assert_eq!(
        SystemdError::from_zbus(&err, Duration::from_secs(3)),
        SystemdError::CallTimedOut(Duration::from_secs(3))
    );
}

#[test]
fn job_results_map_to_event_results() {
    let job = |result| RestartOutcome::Job {
        job: "/org/freedesktop/systemd1/job/7".to_string(),
        result,
    };
    assert_eq!(job(JobResult::Done).result(), EventResult::Ok);
    assert_eq!(job(JobResult::Failed).result(), EventResult::Failed);
    assert_eq!(job(JobResult::Dependency).result(), EventResult::Failed);
    assert_eq!(job(JobResult::Timeout).result(), EventResult::TimedOut);
    assert_eq!(
        JobResult::parse("collected"),
        JobResult::Other("collected".into())
    );
    assert_eq!(JobResult::parse("canceled").as_str(), "canceled");
}

#[test]
fn allowlist_matches_globs_only() {
    let allow = crate::policy::Allowlist::new(&["fake-infer@*.service", "vllm.service"]).unwrap();
    assert!(allow.allows("fake-infer@0.service"));
    assert!(allow.allows("vllm.service"));
    assert!(!allow.allows("bystander.service"));
    assert!(!allow.allows("vllm.service.d"));
    assert!(crate::policy::Allowlist::new(&["bad[glob"]).is_err());
}

#[tokio::test]
async fn refused_unit_never_reaches_the_bus() {
    let options = SystemdOptions {
        allowlist: Some(crate::policy::Allowlist::new(&["fake-infer@*.service"]).unwrap()),
        ..SystemdOptions::default()
    };
    // An address nobody listens on: a refused unit must not even try to connect.
    let systemd = Systemd::at_address("unix:path=/nonexistent/bus", options);
    assert_eq!(
        systemd.restart("sshd.service").await,
        RestartOutcome::NotAllowed {
            unit: "sshd.service".to_string()
        }
    );
    assert!(matches!(
        systemd.restart("fake-infer@0.service").await,
        RestartOutcome::Error(SystemdError::NoBus(_))
    ));
}
