//! Actuators: the only code that changes the world or tells people about it.
//!
//! `alert` sends on-call alerts (Alertmanager, webhooks) through a durable on-disk outbox.

pub mod alert;
