//! Clock setters that cannot stall the watchdog: every [`GpuControl`] call runs on a thread
//! of its own and is waited for at most a bound (`[watchdog] driver_timeout`).
//!
//! A driver that stops answering blocks whoever calls into it — NVML holds its lock inside
//! the stuck ioctl. Called on the watch loop, one hung `SetGpuLockedClocks` would hold back
//! every other action of that tick and every later one: restarts of other GPUs' units, pages,
//! the heartbeat. Behind [`BoundedControl`] a call that does not return within the bound is
//! [`ControlError::TimedOut`]; while it is still stuck, later calls fail at once with
//! [`ControlError::DriverNotAnswering`] instead of queueing behind it. When the stuck call
//! finally returns, the worker takes calls again.

use crate::gpu::{ControlError, GpuControl};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::time::Duration;

/// One call to run on the worker.
type Call = Box<dyn FnOnce(&mut dyn GpuControl) -> Result<(), ControlError> + Send>;

struct Job {
    call: Call,
    reply: SyncSender<Result<(), ControlError>>,
}

/// A [`GpuControl`] whose calls are bounded in time.
pub struct BoundedControl {
    jobs: Sender<Job>,
    /// True from a call's start until the worker has it back — also after the caller gave up.
    busy: Arc<AtomicBool>,
    bound_ms: Arc<AtomicU64>,
}

impl BoundedControl {
    /// Moves `inner` onto a worker thread; `bound_ms` is read on every call, so a reload can
    /// change it.
    pub fn new(inner: Box<dyn GpuControl>, bound_ms: Arc<AtomicU64>) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let busy = Arc::new(AtomicBool::new(false));
        let worker_busy = Arc::clone(&busy);
        std::thread::Builder::new()
            .name("gpuwarden-clocks".into())
            .spawn(move || work(inner, rx, worker_busy))?;
        Ok(BoundedControl {
            jobs,
            busy,
            bound_ms,
        })
    }

    fn run(&mut self, call: Call) -> Result<(), ControlError> {
        if self.busy.swap(true, Ordering::SeqCst) {
            return Err(ControlError::DriverNotAnswering);
        }
        let (reply, answer) = mpsc::sync_channel(1);
        if self.jobs.send(Job { call, reply }).is_err() {
            self.busy.store(false, Ordering::SeqCst);
            return Err(ControlError::Other(
                "the clock worker thread is gone".into(),
            ));
        }
        let bound = Duration::from_millis(self.bound_ms.load(Ordering::Relaxed).max(1));
        wait(&answer, bound)
    }
}

fn wait(answer: &Receiver<Result<(), ControlError>>, bound: Duration) -> Result<(), ControlError> {
    match answer.recv_timeout(bound) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => Err(ControlError::TimedOut(bound)),
        Err(RecvTimeoutError::Disconnected) => {
            Err(ControlError::Other("the clock worker thread died".into()))
        }
    }
}

fn work(mut inner: Box<dyn GpuControl>, jobs: Receiver<Job>, busy: Arc<AtomicBool>) {
    for job in jobs {
        let result = (job.call)(inner.as_mut());
        // The caller may have given up long ago; the answer then goes nowhere.
        let _ = job.reply.try_send(result);
        busy.store(false, Ordering::SeqCst);
    }
}

impl GpuControl for BoundedControl {
    fn lock_sm_clocks(
        &mut self,
        uuid: &str,
        min_mhz: u32,
        max_mhz: u32,
    ) -> Result<(), ControlError> {
        let uuid = uuid.to_string();
        self.run(Box::new(move |c| c.lock_sm_clocks(&uuid, min_mhz, max_mhz)))
    }

    fn reset_sm_clocks(&mut self, uuid: &str) -> Result<(), ControlError> {
        let uuid = uuid.to_string();
        self.run(Box::new(move |c| c.reset_sm_clocks(&uuid)))
    }

    fn set_power_limit(&mut self, uuid: &str, watts: f64) -> Result<(), ControlError> {
        let uuid = uuid.to_string();
        self.run(Box::new(move |c| c.set_power_limit(&uuid, watts)))
    }

    fn reset_power_limit(&mut self, uuid: &str) -> Result<(), ControlError> {
        let uuid = uuid.to_string();
        self.run(Box::new(move |c| c.reset_power_limit(&uuid)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A control whose calls block until the test opens the gate.
    struct Gated {
        gate: Arc<Mutex<Receiver<()>>>,
        calls: Arc<Mutex<Vec<String>>>,
    }

    impl Gated {
        fn pass(&self, what: String) -> Result<(), ControlError> {
            self.gate.lock().unwrap().recv().unwrap();
            self.calls.lock().unwrap().push(what);
            Ok(())
        }
    }

    impl GpuControl for Gated {
        fn lock_sm_clocks(&mut self, uuid: &str, lo: u32, hi: u32) -> Result<(), ControlError> {
            self.pass(format!("lock {uuid} {lo} {hi}"))
        }
        fn reset_sm_clocks(&mut self, uuid: &str) -> Result<(), ControlError> {
            self.pass(format!("reset {uuid}"))
        }
        fn set_power_limit(&mut self, uuid: &str, w: f64) -> Result<(), ControlError> {
            self.pass(format!("power {uuid} {w}"))
        }
        fn reset_power_limit(&mut self, uuid: &str) -> Result<(), ControlError> {
            self.pass(format!("unpower {uuid}"))
        }
    }

    fn bounded(ms: u64) -> (BoundedControl, Sender<()>, Arc<Mutex<Vec<String>>>) {
        let (open, gate) = mpsc::channel();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let inner = Gated {
            gate: Arc::new(Mutex::new(gate)),
            calls: Arc::clone(&calls),
        };
        let c = BoundedControl::new(Box::new(inner), Arc::new(AtomicU64::new(ms))).unwrap();
        (c, open, calls)
    }

    #[test]
    fn a_call_that_answers_returns_its_result() {
        let (mut c, open, calls) = bounded(60_000);
        open.send(()).unwrap();
        assert_eq!(c.lock_sm_clocks("GPU-a", 210, 1200), Ok(()));
        assert_eq!(*calls.lock().unwrap(), ["lock GPU-a 210 1200"]);
    }

    #[test]
    fn a_stuck_call_times_out_and_later_calls_fail_at_once_until_it_returns() {
        let (mut c, open, calls) = bounded(50);
        assert_eq!(
            c.lock_sm_clocks("GPU-a", 210, 1200),
            Err(ControlError::TimedOut(Duration::from_millis(50)))
        );
        // Still stuck: the next call does not queue behind it (the gate stays shut, so a
        // queued call would time out rather than fail at once with this error).
        assert_eq!(
            c.set_power_limit("GPU-b", 300.0),
            Err(ControlError::DriverNotAnswering)
        );
        // The driver answers: the stuck call completes (late), then calls work again.
        open.send(()).unwrap();
        open.send(()).unwrap();
        let mut tries = 0;
        let answer = loop {
            match c.reset_sm_clocks("GPU-a") {
                Err(ControlError::DriverNotAnswering) if tries < 10_000 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                other => break other,
            }
        };
        assert_eq!(answer, Ok(()));
        assert_eq!(
            *calls.lock().unwrap(),
            ["lock GPU-a 210 1200", "reset GPU-a"]
        );
    }
}
