//! The Prometheus classic text exposition format (version 0.0.4), written by hand.
//!
//! Debian's `promtool check metrics` lints this format (not OpenMetrics), so every family gets
//! `# HELP` and `# TYPE`, label values are escaped (`\\`, `\"`, `\n`) and numbers use Go's
//! spellings (`NaN`, `+Inf`). Everything is written into one reused `String`: a scrape costs
//! no allocation per sample.

use std::fmt::Write;

/// The `Content-Type` of what [`Exposition`] writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The kind of a metric family, as `# TYPE` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// A text exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn with_capacity(bytes: usize) -> Self {
        Exposition {
            out: String::with_capacity(bytes),
        }
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_help(&mut self.out, help);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind);
        self.out.push('\n');
    }

    /// One sample: `name{labels} value`. `labels` is a pre-escaped label list without braces
    /// (see [`push_label`]); `extra` are more labels escaped here.
    pub fn sample(&mut self, name: &str, labels: &str, extra: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() || !extra.is_empty() {
            self.out.push('{');
            self.out.push_str(labels);
            let mut first = labels.is_empty();
            for (k, v) in extra {
                if !first {
                    self.out.push(',');
                }
                push_label(&mut self.out, k, v);
                first = false;
            }
            self.out.push('}');
        }
        self.out.push(' ');
        push_value(&mut self.out, value);
        self.out.push('\n');
    }

    pub fn as_str(&self) -> &str {
        &self.out
    }

    pub fn into_string(self) -> String {
        self.out
    }
}

/// Appends `name="value"` with the value escaped as the text format requires.
pub fn push_label(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `name="N"` for a number (no escaping needed, no allocation).
pub fn push_label_num(out: &mut String, name: &str, n: u64) {
    out.push_str(name);
    out.push_str("=\"");
    let _ = write!(out, "{n}");
    out.push('"');
}

fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // Integers print without a decimal point, like Go's client does.
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values_and_help() {
        let mut e = Exposition::default();
        e.family("x_ratio", Kind::Gauge, "a \\ help\nline");
        let mut labels = String::new();
        push_label(&mut labels, "model", "Card \"X\" \\ 2\nrev");
        e.sample("x_ratio", &labels, &[("reason", "hw-thermal")], 0.5);
        e.sample("x_ratio", "", &[], f64::NAN);
        e.sample("x_ratio", "", &[], f64::INFINITY);
        e.sample("x_ratio", "", &[], 3.0);
        assert_eq!(
            e.as_str(),
            "# HELP x_ratio a \\\\ help\\nline\n# TYPE x_ratio gauge\n\
             x_ratio{model=\"Card \\\"X\\\" \\\\ 2\\nrev\",reason=\"hw-thermal\"} 0.5\n\
             x_ratio NaN\nx_ratio +Inf\nx_ratio 3\n"
        );
    }
}
