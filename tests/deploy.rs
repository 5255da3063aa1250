//! deploy/kubernetes/gpuwarden.yaml: well-formed YAML documents whose fields agree with each
//! other and with the daemon — the DaemonSet runs `watch` in the host's PID namespace with
//! /dev/kmsg and the NVIDIA devices, its policy (the ConfigMap) is a valid watchdog.toml that
//! listens on the port Prometheus is told to scrape, state outlives the pod, and the Service
//! selects the DaemonSet's pods.

use gpuwarden::policy;
use serde::Deserialize;
use serde_yaml::Value;
use std::path::Path;

fn manifest() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/gpuwarden.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} in the manifest");
    found[0]
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

fn seq(v: &Value) -> &Vec<Value> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
}

/// The entry of `list` whose `key` is `value`.
fn by<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    seq(list)
        .iter()
        .find(|e| e[key] == value)
        .unwrap_or_else(|| panic!("no {key} = {value} in {list:?}"))
}

#[test]
fn the_daemonset_guards_every_gpu_node_with_the_host_pid_namespace_kmsg_and_nvidia_devices() {
    let docs = manifest();
    let ds = kind(&docs, "DaemonSet");
    assert_eq!(ds["apiVersion"], "apps/v1");
    let namespace = s(&kind(&docs, "Namespace")["metadata"]["name"]);
    for d in &docs {
        if d["kind"] != "Namespace" {
            assert_eq!(s(&d["metadata"]["namespace"]), namespace, "{d:?}");
        }
    }
    let pod = &ds["spec"]["template"];
    let selector = ds["spec"]["selector"]["matchLabels"].as_mapping().unwrap();
    for (k, v) in selector {
        assert_eq!(
            &pod["metadata"]["labels"][k], v,
            "the selector matches the pods"
        );
    }
    let spec = &pod["spec"];
    assert_eq!(spec["hostPID"], true);
    assert_eq!(spec["runtimeClassName"], "nvidia");
    let containers = seq(&spec["containers"]);
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let args: Vec<&str> = seq(&c["args"]).iter().map(s).collect();
    assert_eq!(args[0], "watch");
    assert_eq!(
        s(&by(&c["env"], "name", "NVIDIA_VISIBLE_DEVICES")["value"]),
        "all"
    );
    assert_eq!(c["securityContext"]["privileged"], true);

    // /dev/kmsg: the host's character device, mounted where the daemon reads it by default.
    let kmsg_mount = by(&c["volumeMounts"], "mountPath", "/dev/kmsg");
    let kmsg = by(&spec["volumes"], "name", s(&kmsg_mount["name"]));
    assert_eq!(kmsg["hostPath"]["path"], "/dev/kmsg");
    assert_eq!(kmsg["hostPath"]["type"], "CharDevice");
    for m in seq(&c["volumeMounts"]) {
        by(&spec["volumes"], "name", s(&m["name"]));
    }

    // The policy: the ConfigMap's watchdog.toml, at the path `watch --config` is given.
    let config_at = args
        .iter()
        .position(|a| *a == "--config")
        .map(|i| args[i + 1])
        .expect("watch --config");
    let config_dir = Path::new(config_at).parent().unwrap().to_str().unwrap();
    let config_mount = by(&c["volumeMounts"], "mountPath", config_dir);
    let config_volume = by(&spec["volumes"], "name", s(&config_mount["name"]));
    let cm = kind(&docs, "ConfigMap");
    assert_eq!(config_volume["configMap"]["name"], cm["metadata"]["name"]);
    let file = Path::new(config_at).file_name().unwrap().to_str().unwrap();
    let toml = s(&cm["data"][file]);
    let config = policy::parse(Path::new(config_at), toml).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);

    // Prometheus scrapes the port the daemon listens on, on every interface of the node.
    let port = by(&c["ports"], "name", "metrics");
    let number = port["containerPort"].as_u64().unwrap();
    assert_eq!(u64::from(config.watchdog.listen.port()), number);
    assert!(
        config.watchdog.listen.ip().is_unspecified(),
        "listen on the node, not loopback"
    );
    assert_eq!(spec["hostNetwork"], true);
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(s(&annotations["prometheus.io/port"]), number.to_string());
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/healthz");

    // State (restart budgets, caps, the alert outbox) lives on the node.
    let state_mount = by(
        &c["volumeMounts"],
        "mountPath",
        config.watchdog.state_dir.to_str().unwrap(),
    );
    let state = by(&spec["volumes"], "name", s(&state_mount["name"]));
    assert_eq!(state["hostPath"]["path"], "/var/lib/gpuwarden");

    let svc = kind(&docs, "Service");
    for (k, v) in svc["spec"]["selector"].as_mapping().unwrap() {
        assert_eq!(
            &pod["metadata"]["labels"][k], v,
            "the Service selects the pods"
        );
    }
    let svc_port = by(&svc["spec"]["ports"], "name", "metrics");
    assert_eq!(svc_port["targetPort"], "metrics");
}
