//! A pod's namespace and name, from the kubelet's pod log directories.
//!
//! The kubelet keeps every pod's container logs under
//! `/var/log/pods/<namespace>_<name>_<uid>/<container>/` (the layout the CRI logging
//! specification and the Kubernetes logging documentation describe). Namespaces and pod
//! names are DNS labels, which cannot hold `_`, so the directory name splits cleanly. The
//! root is `/var/log/pods` unless `--pod-logs` (or `GPUWARDEN_POD_LOGS`) says otherwise,
//! e.g. for a kubelet with a different `--root-dir` or a node's tree mounted elsewhere.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the kubelet keeps pod logs on a standard node.
pub const DEFAULT_POD_LOGS: &str = "/var/log/pods";

static POD_LOGS: OnceLock<PathBuf> = OnceLock::new();

/// Sets the pod log root for this process (once, from the command line); later calls are
/// ignored so every source of one run sees the same root.
pub fn set_pod_logs(dir: PathBuf) {
    let _ = POD_LOGS.set(dir);
}

/// The pod log root in use.
pub fn pod_logs() -> &'static Path {
    POD_LOGS.get_or_init(|| PathBuf::from(DEFAULT_POD_LOGS))
}

/// `namespace/name` of the pod with `uid`, when `root` holds its log directory.
pub fn pod_name(root: &Path, uid: &str) -> Option<String> {
    for entry in fs::read_dir(root).ok()?.flatten() {
        let dir = entry.file_name();
        if let Some(name) = dir.to_str().and_then(|d| parse_dir(d, uid)) {
            return Some(name);
        }
    }
    None
}

/// `ns_name_uid` → `ns/name` when it is `uid`'s directory.
fn parse_dir(dir: &str, uid: &str) -> Option<String> {
    let rest = dir.strip_suffix(uid)?.strip_suffix('_')?;
    let (namespace, name) = rest.split_once('_')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains('_'))
        .then(|| format!("{namespace}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "8f9c1e2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn names_come_from_the_log_directory() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join(format!("ml-team_trainer-0_{UID}/main"))).unwrap();
        fs::create_dir_all(root.path().join("kube-system_coredns-1_other-uid")).unwrap();
        assert_eq!(
            pod_name(root.path(), UID).as_deref(),
            Some("ml-team/trainer-0")
        );
        assert_eq!(
            pod_name(root.path(), "8f9c1e2a-0000-4e5f-8a9b-0c1d2e3f4a5b"),
            None
        );
        assert_eq!(pod_name(&root.path().join("absent"), UID), None);
    }

    #[test]
    fn odd_directory_names_are_not_pods() {
        assert_eq!(parse_dir(&format!("_x_{UID}"), UID), None);
        assert_eq!(parse_dir(&format!("ns_{UID}"), UID), None);
        assert_eq!(parse_dir(&format!("a_b_c_{UID}"), UID), None);
        assert_eq!(parse_dir(&format!("ns_pod{UID}"), UID), None);
        assert_eq!(
            parse_dir(&format!("ns_pod_{UID}"), UID).as_deref(),
            Some("ns/pod")
        );
    }
}
