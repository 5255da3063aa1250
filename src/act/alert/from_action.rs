//! From the engine's decisions to alerts: a [`Page`](ActionKind::Page) becomes a firing
//! [`Alert`], a [`Resolve`](ActionKind::Resolve) resolves it, and an action that failed in the
//! world (a restart that did not happen) becomes an `action-failed` alert of its own.

use super::{Alert, Severity};
use crate::policy::{Action, ActionKind};

/// What the alert sinks should do for one action.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertChange {
    Fire(Alert),
    /// Resolve the alert with this identity.
    Resolve(String),
}

/// The alert change an action asks for, if any. `actions_taken` are earlier actions on the
/// same GPU and rule (their summaries), put into the `actions` annotation.
pub fn alert_change(action: &Action, host: &str, actions_taken: &[String]) -> Option<AlertChange> {
    let rule = action.rule.as_deref()?;
    match action.kind {
        ActionKind::Page => {
            let mut alert = Alert::firing(
                rule,
                host,
                action.gpu.uuid.as_str(),
                action.at_ms,
                action.summary.as_str(),
            )
            .gpu(action.gpu.index)
            .severity(action.severity);
            if !actions_taken.is_empty() {
                alert = alert.annotation("actions", actions_taken.join("; "));
            }
            Some(AlertChange::Fire(alert))
        }
        ActionKind::Resolve => Some(AlertChange::Resolve(format!(
            "{host}/{}/{rule}",
            action.gpu.uuid
        ))),
        _ => None,
    }
}

/// An alert for an action that failed in the world (`error` says why).
pub fn action_failed(action: &Action, host: &str, unit: Option<&str>, error: &str) -> Alert {
    let mut alert = Alert::firing(
        "action-failed",
        host,
        action.gpu.uuid.as_str(),
        action.at_ms,
        format!("{} failed: {error}", action.kind.name()),
    )
    .gpu(action.gpu.index)
    .severity(Severity::Critical)
    .annotation("action", action.kind.name())
    .annotation("error", error);
    if let Some(rule) = &action.rule {
        alert = alert.annotation("because_of_rule", rule.as_str());
    }
    if let Some(u) = unit {
        alert = alert.unit(u);
    }
    alert
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::GpuId;

    fn action(kind: ActionKind) -> Action {
        Action {
            at_ms: 5_000,
            gpu: GpuId {
                index: 3,
                uuid: "GPU-3".into(),
            },
            rule: Some("gpu-hot".into()),
            severity: Severity::Critical,
            kind,
            summary: "temperature 91.0 °C above 85 for 30s".into(),
        }
    }

    #[test]
    fn a_page_fires_and_a_resolve_resolves_the_same_identity() {
        let taken = vec!["locked SM clock to 1400 MHz".to_string()];
        let Some(AlertChange::Fire(a)) = alert_change(&action(ActionKind::Page), "n1", &taken)
        else {
            panic!("a page fires an alert");
        };
        assert_eq!(a.labels()["severity"], "critical");
        assert_eq!(a.labels()["gpu"], "3");
        assert_eq!(a.annotations["actions"], "locked SM clock to 1400 MHz");
        assert_eq!(
            alert_change(&action(ActionKind::Resolve), "n1", &[]),
            Some(AlertChange::Resolve(a.identity()))
        );
        assert_eq!(alert_change(&action(ActionKind::Notify), "n1", &[]), None);
    }

    #[test]
    fn a_failed_restart_is_an_alert_with_its_unit() {
        let a = action(ActionKind::RestartUnit {
            unit: "vllm.service".into(),
        });
        let alert = action_failed(&a, "n1", Some("vllm.service"), "access denied");
        assert_eq!(alert.identity(), "n1/GPU-3/action-failed");
        assert_eq!(alert.labels()["unit"], "vllm.service");
        assert_eq!(alert.annotations["because_of_rule"], "gpu-hot");
        assert_eq!(alert.summary, "restart_unit failed: access denied");
    }
}
