//! The watchdog policy: every config in `tests/configs/` (valid ones parse, invalid ones fail
//! with the message on their first line), the reference `watchdog.toml` and the README's
//! examples, the pure engine's timing as tables, and `gpuwarden check-config` as a process.

#[path = "policy/support.rs"]
mod support;

#[path = "policy/cli.rs"]
mod cli;
#[path = "policy/configs.rs"]
mod configs;
#[path = "policy/ladder.rs"]
mod ladder;
#[path = "policy/leak.rs"]
mod leak;
#[path = "policy/lifecycle.rs"]
mod lifecycle;
#[path = "policy/memory_health.rs"]
mod memory_health;
#[path = "policy/mig.rs"]
mod mig;
#[path = "policy/properties.rs"]
mod properties;
#[path = "policy/restarts.rs"]
mod restarts;
#[path = "policy/slowdown.rs"]
mod slowdown;
#[path = "policy/sustain.rs"]
mod sustain;
#[path = "policy/xid.rs"]
mod xid;
