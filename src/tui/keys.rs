//! The terminal's events (keys, resizes) read on a thread of their own and handed to the
//! event loop through a channel. crossterm's `EventStream` asks the terminal again on every
//! poll of the loop, and each ask contends for the reader's lock with the thread the stream
//! keeps waiting on it (a run of `sched_yield`s per sample); here the loop only waits on the
//! channel, and the thread sleeps in the terminal read until there is something to say.

use crossterm::event::Event;
use futures_util::Stream;
use std::io;

/// How many events may wait for the loop (a held-down key while a frame is drawn).
const QUEUE: usize = 64;

/// The terminal's events, from now until the process exits (the reading thread ends with
/// the process, or when a read fails, after handing on the error).
pub fn events() -> io::Result<impl Stream<Item = io::Result<Event>> + Unpin> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(QUEUE);
    std::thread::Builder::new()
        .name("gpuwarden-keys".into())
        .spawn(move || {
            loop {
                let event = crossterm::event::read();
                let failed = event.is_err();
                if tx.blocking_send(event).is_err() || failed {
                    break;
                }
            }
        })?;
    Ok(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
