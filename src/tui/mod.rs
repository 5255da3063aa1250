//! The terminal dashboard (`gpuwarden`, `gpuwarden top`).
//!
//! An Elm-style loop: `app` holds the state and its `update`; `input` maps keys to messages;
//! `view` draws the state (`impl Widget for &App`) with `theme`'s styles; `run` owns the
//! terminal and the loop over samples, keys and resizes, generic over the ratatui backend so
//! tests drive the whole app on a `TestBackend`. `watchdog` is the data of the panel a
//! running watchdog fills; `watchdog_feed` fills it from a config and its event log.
//! Sampling stays on the sampler thread, terminal events come from their own (`keys`);
//! `terminal` and `frame_writer` send each frame's changed cells. `fleet` and `fleet_run` do
//! the same for many hosts: the hosts view, drill-down into one host, fetching off the UI
//! thread.

pub mod app;
pub mod daemon_probe;
pub mod fleet;
pub mod fleet_run;
mod frame_writer;
pub mod input;
mod keys;
pub mod run;
mod terminal;
pub mod theme;
mod view;
pub mod watchdog;
pub mod watchdog_feed;

pub use app::{App, Focus, Msg, SortKey};
pub use fleet::{FleetApp, HostState};
pub use theme::{Theme, Thresholds};
pub use watchdog::{EventLine, RuleLine, WatchdogView};
