//! Errors in `watchdog.toml`, pointing at the spot: `file:line:col: key.path: what is wrong`.
//!
//! Both loading phases report through [`ConfigError`]: serde/TOML errors from the first
//! phase carry only a byte span, so [`key_path_at`] walks the spanned TOML document to name
//! the key under that span; the second phase knows the key path by construction.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use thiserror::Error;
use toml::de::{DeTable, DeValue};

/// One mistake in a config file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line of the bad value.
    pub line: usize,
    /// 1-based column (in characters) of the bad value.
    pub column: usize,
    /// Where in the document: `rule[1].clear_below`, `units.allow[0]`; empty for the whole file.
    pub key: String,
    /// What is wrong, lowercase, naming the bad value.
    pub message: String,
}

impl ConfigError {
    /// An error at byte `span` of `text`.
    pub fn at(
        file: &Path,
        text: &str,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_col(text, span.start);
        ConfigError {
            file: file.to_path_buf(),
            line,
            column,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Turns a TOML/serde error into a located one, naming the key under its span.
    pub fn from_toml(file: &Path, text: &str, err: &toml::de::Error) -> Self {
        let span = err.span().unwrap_or(0..0);
        let message = err.message().trim().replace('\n', " ");
        if message == "duplicate key"
            && let Some((key, name)) = duplicate_key(text, span.clone())
        {
            let message = format!("duplicate key `{name}`: a key appears once per table");
            return Self::at(file, text, span, key, message);
        }
        let key = key_path_at(text, span.start).unwrap_or_default();
        Self::at(file, text, span, key, message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        located(
            f,
            &self.file,
            self.line,
            self.column,
            &self.key,
            &self.message,
        )
    }
}

/// A legal setting that probably does not do what was meant, located like a [`ConfigError`]:
/// `check-config` prints it after `warning:` and still exits 0; the daemon logs it when it
/// starts and when it reloads.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConfigWarning {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

impl From<ConfigError> for ConfigWarning {
    fn from(e: ConfigError) -> Self {
        ConfigWarning {
            file: e.file,
            line: e.line,
            column: e.column,
            key: e.key,
            message: e.message,
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        located(
            f,
            &self.file,
            self.line,
            self.column,
            &self.key,
            &self.message,
        )
    }
}

fn located(
    f: &mut fmt::Formatter<'_>,
    file: &Path,
    line: usize,
    column: usize,
    key: &str,
    message: &str,
) -> fmt::Result {
    write!(f, "{}:{line}:{column}: ", file.display())?;
    if !key.is_empty() {
        write!(f, "{key}: ")?;
    }
    f.write_str(message)
}

/// The path and the name of a key that TOML refused as a duplicate (its span is `span`).
/// toml's message does not name it, and the document does not parse, so the key is masked
/// (same length, so spans hold) and the masked document is walked instead.
fn duplicate_key(text: &str, span: Range<usize>) -> Option<(String, String)> {
    let typed = text.get(span.clone())?.trim();
    let name = typed.trim_matches(['"', '\'']).to_string();
    if name.is_empty() {
        return None;
    }
    let mask = "_".repeat(span.len());
    let mut masked = text.to_string();
    masked.replace_range(span.clone(), &mask);
    let path = match key_path_at(&masked, span.start) {
        Some(p) => match p.strip_suffix(&mask) {
            Some(parent) => format!("{parent}{name}"),
            None => p,
        },
        None => name.clone(),
    };
    Some((path, name))
}

impl std::error::Error for ConfigError {}

/// Why a config could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(ConfigError),
}

/// 1-based line and character column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The dotted key path (`rule[0].steps[1].do`) of the deepest key or value whose span
/// contains byte `offset`, if the document parses as TOML at all.
pub fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    let mut path = String::new();
    walk_table(doc.get_ref(), offset, &mut path);
    (!path.is_empty()).then_some(path)
}

fn walk_table(table: &DeTable<'_>, offset: usize, path: &mut String) {
    for (key, value) in table.iter() {
        let in_key = key.span().contains(&offset);
        let in_value = value.span().contains(&offset);
        if in_key || in_value || nested_contains(value.get_ref(), offset) {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key.get_ref());
            if !in_key {
                walk_value(value.get_ref(), offset, path);
            }
            return;
        }
    }
}

fn walk_value(value: &DeValue<'_>, offset: usize, path: &mut String) {
    match value {
        DeValue::Table(t) => walk_table(t, offset, path),
        DeValue::Array(items) => {
            // Tables of an array of tables (`[[rule]]`) may not span their whole body, so the
            // last item that starts before the offset is the one the offset is in.
            let hit = items
                .iter()
                .enumerate()
                .rfind(|(_, v)| v.span().start <= offset || nested_contains(v.get_ref(), offset));
            if let Some((i, item)) = hit {
                path.push_str(&format!("[{i}]"));
                walk_value(item.get_ref(), offset, path);
            }
        }
        _ => {}
    }
}

/// Whether any key or value inside `value` spans `offset` (tables of `[[arrays]]` and
/// `[headers]` do not always span their keys).
fn nested_contains(value: &DeValue<'_>, offset: usize) -> bool {
    match value {
        DeValue::Table(t) => t.iter().any(|(k, v)| {
            k.span().contains(&offset)
                || v.span().contains(&offset)
                || nested_contains(v.get_ref(), offset)
        }),
        DeValue::Array(items) => items
            .iter()
            .any(|v| v.span().contains(&offset) || nested_contains(v.get_ref(), offset)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_col("a\nbc°d", 0), (1, 1));
        assert_eq!(line_col("a\nbc°d", 2), (2, 1));
        assert_eq!(line_col("a\nbc°d", 6), (2, 4));
    }

    #[test]
    fn a_duplicate_key_is_named_with_its_table() {
        let file = Path::new("w.toml");
        let parse = |text: &str| {
            let err = toml::from_str::<toml::Table>(text).unwrap_err();
            ConfigError::from_toml(file, text, &err).to_string()
        };
        assert_eq!(
            parse("[[rule]]\nname = \"a\"\nabove = 1\nabove = 2\n"),
            "w.toml:4:1: rule[0].above: duplicate key `above`: a key appears once per table"
        );
        assert_eq!(
            parse("[watchdog]\ndry_run = true\n[watchdog]\n"),
            "w.toml:3:2: watchdog: duplicate key `watchdog`: a key appears once per table"
        );
    }

    #[test]
    fn key_path_names_nested_keys() {
        let text = "[watchdog]\ninterval = \"1s\"\n\n[[rule]]\nname = \"a\"\n\n[[rule]]\nname = \"b\"\nabove = 3\n[[rule.steps]]\ndo = \"page\"\n";
        let at = |needle: &str| key_path_at(text, text.find(needle).unwrap());
        assert_eq!(at("\"1s\"").as_deref(), Some("watchdog.interval"));
        assert_eq!(at("\"b\"").as_deref(), Some("rule[1].name"));
        assert_eq!(at("above").as_deref(), Some("rule[1].above"));
        assert_eq!(at("\"page\"").as_deref(), Some("rule[1].steps[0].do"));
    }
}
