//! The pure policy engine.

use super::action::Action;
use super::config::Config;
use super::state::State;
use crate::gpu::{Snapshot, UnixMs};

/// Applies the policy to one snapshot.
pub fn step(
    _config: &Config,
    _state: &mut State,
    _snap: &Snapshot,
    _now_ms: UnixMs,
) -> Vec<Action> {
    Vec::new()
}

/// The actions to take when the daemon stops.
pub fn shutdown(_state: &mut State, _now_ms: UnixMs) -> Vec<Action> {
    Vec::new()
}
