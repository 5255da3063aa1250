//! A small client for Prometheus's HTTP query API (`GET /api/v1/query`), instant vectors only.

use serde::Deserialize;
use std::collections::HashMap;

/// One series of an instant vector: its labels (with `__name__`) and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: HashMap<String, String>,
    /// Evaluation time in seconds since the epoch.
    pub at_s: f64,
    pub value: f64,
}

impl Series {
    pub fn name(&self) -> &str {
        self.label("__name__")
    }

    /// A label's value, empty when absent (Prometheus's own convention).
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawSeries>,
}

#[derive(Deserialize)]
struct RawSeries {
    metric: HashMap<String, String>,
    value: (f64, String),
}

/// Runs the instant query `expr` against the Prometheus at `base` (`http://prom:9090`).
pub fn query(agent: &ureq::Agent, base: &str, expr: &str) -> Result<Vec<Series>, String> {
    let url = format!("{}/api/v1/query", base.trim_end_matches('/'));
    let resp = agent
        .get(&url)
        .query("query", expr)
        .call()
        .map_err(|e| format!("{url}: {}", crate::http_client::explain(&url, &e)))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let body = body
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .map_err(|e| format!("{url}: reading the answer: {e}"))?;
    parse(&body).map_err(|e| format!("{url} (HTTP {status}): {e}"))
}

/// Parses a `/api/v1/query` answer holding an instant vector.
pub fn parse(body: &str) -> Result<Vec<Series>, String> {
    let a: Answer = serde_json::from_str(body).map_err(|e| format!("not a query answer: {e}"))?;
    if a.status != "success" {
        return Err(a.error.unwrap_or_else(|| format!("status {}", a.status)));
    }
    let data = a.data.ok_or("answer without data")?;
    if data.result_type != "vector" {
        return Err(format!("expected a vector, got a {}", data.result_type));
    }
    Ok(data
        .result
        .into_iter()
        .map(|r| Series {
            labels: r.metric,
            at_s: r.value.0,
            value: parse_value(&r.value.1),
        })
        .collect())
}

fn parse_value(s: &str) -> f64 {
    match s {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or(f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vectors_and_reports_errors() {
        let v = parse(
            r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","instance":"a:1"},"value":[1700000000.5,"1"]},
            {"metric":{"__name__":"x"},"value":[1700000000.5,"NaN"]}]}}"#,
        )
        .unwrap();
        assert_eq!(v[0].name(), "up");
        assert_eq!(v[0].label("instance"), "a:1");
        assert_eq!(v[0].value, 1.0);
        assert!(v[1].value.is_nan());
        let e = parse(r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#);
        assert_eq!(e.unwrap_err(), "parse error");
        assert!(parse("<html>").unwrap_err().contains("not a query answer"));
    }
}
