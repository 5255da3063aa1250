//! A readable summary of an effective policy.

use super::config::Config;

/// Renders `config` for people.
pub fn summary(_config: &Config) -> String {
    String::new()
}
