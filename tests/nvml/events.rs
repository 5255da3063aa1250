//! Event sets on the fake, through nvml-wrapper exactly as the daemon uses them: XIDs
//! injected in the state file arrive once per set, a wait with nothing pending times out,
//! and gpuwarden's NVML XID thread reports them by UUID and PCI address.

use crate::fake_nvml::{FakeGpu, FakeNvml, FakeState, NOT_SUPPORTED};
use gpuwarden::health::{XidReport, XidSource, nvml_events};
use nvml_wrapper::Nvml;
use nvml_wrapper::bitmasks::event::EventTypes;
use nvml_wrapper::enums::event::XidError;
use nvml_wrapper::error::NvmlError;
use std::ffi::OsStr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::error::TryRecvError;

fn nvml(fake: &FakeNvml) -> Nvml {
    Nvml::builder()
        .lib_path(OsStr::new(&fake.lib_path()))
        .init()
        .expect("opening the fake NVML")
}

/// Two GPUs; GPU 1 with the given XIDs injected.
fn with_xids(codes: &[u32]) -> FakeState {
    let mut state = FakeState::with_gpus(2);
    state.gpus[1] = codes.iter().fold(FakeGpu::h100(1), |g, &code| g.xid(code));
    state
}

#[test]
fn an_injected_xid_arrives_once_per_event_set_and_then_waits_time_out() {
    let fake = FakeNvml::new(&FakeState::with_gpus(2));
    let nvml = nvml(&fake);
    let gpu1 = nvml.device_by_index(1).unwrap();
    assert!(
        gpu1.supported_event_types()
            .unwrap()
            .contains(EventTypes::CRITICAL_XID_ERROR)
    );
    let set = nvml.create_event_set().unwrap();
    let set = gpu1
        .register_events(EventTypes::CRITICAL_XID_ERROR, set)
        .unwrap();
    assert!(matches!(set.wait(20), Err(NvmlError::Timeout)));

    fake.set(&with_xids(&[79]));
    let event = set.wait(5_000).expect("the injected XID");
    assert_eq!(event.event_data, Some(XidError::Value(79)));
    assert!(event.event_type.contains(EventTypes::CRITICAL_XID_ERROR));
    assert_eq!(event.device.uuid().unwrap(), FakeGpu::h100(1).uuid);
    assert!(
        matches!(set.wait(20), Err(NvmlError::Timeout)),
        "delivered twice"
    );

    // A second XID is delivered next, in order; a new set gets both again, once.
    fake.set(&with_xids(&[79, 13]));
    assert_eq!(
        set.wait(5_000).unwrap().event_data,
        Some(XidError::Value(13))
    );
    let other = gpu1
        .register_events(
            EventTypes::CRITICAL_XID_ERROR,
            nvml.create_event_set().unwrap(),
        )
        .unwrap();
    let codes: Vec<_> = (0..2)
        .map(|_| other.wait(5_000).unwrap().event_data)
        .collect();
    assert_eq!(
        codes,
        [Some(XidError::Value(79)), Some(XidError::Value(13))]
    );
    assert!(matches!(other.wait(20), Err(NvmlError::Timeout)));
    other.release_events().unwrap();

    // GPU 0 never registered: its XIDs reach nobody.
    let mut state = with_xids(&[79, 13]);
    state.gpus[0] = FakeGpu::h100(0).xid(48);
    fake.set(&state);
    assert!(matches!(set.wait(50), Err(NvmlError::Timeout)));
    set.release_events().unwrap();
}

#[test]
fn registering_fails_as_injected() {
    let mut state = FakeState::with_gpus(1);
    state.gpus[0] = FakeGpu::h100(0).fail("RegisterEvents", NOT_SUPPORTED);
    let fake = FakeNvml::new(&state);
    let nvml = nvml(&fake);
    let gpu = nvml.device_by_index(0).unwrap();
    let err = gpu
        .register_events(
            EventTypes::CRITICAL_XID_ERROR,
            nvml.create_event_set().unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err.error, NvmlError::NotSupported), "{err:?}");
}

/// The next report from the thread, or `None` once it ended; fails after 20 s (the thread
/// may be waiting [`nvml_events::RETRY`] to start over).
fn next(rx: &mut tokio::sync::mpsc::Receiver<XidReport>) -> Option<XidReport> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match rx.try_recv() {
            Ok(r) => return Some(r),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {
                assert!(Instant::now() < deadline, "no XID report within 20 s");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn the_xid_thread_reports_uuid_pci_and_code() {
    let fake = FakeNvml::new(&with_xids(&[79]));
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    nvml_events::spawn(Some(fake.lib_path()), tx);
    let r = next(&mut rx).expect("a report");
    assert_eq!(r.source, XidSource::Nvml);
    assert_eq!(r.code, 79);
    assert_eq!(r.uuid.as_deref(), Some(FakeGpu::h100(1).uuid.as_str()));
    assert_eq!(r.pci.as_deref(), Some("0000:18:00"));
    fake.set(&with_xids(&[79, 94]));
    assert_eq!(next(&mut rx).map(|r| r.code), Some(94));
}

#[test]
fn without_event_waits_the_thread_ends_quietly() {
    let fake = FakeNvml::without(&["nvmlEventSetWait_v2"], &with_xids(&[79]));
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    nvml_events::spawn(Some(fake.lib_path()), tx);
    assert_eq!(next(&mut rx), None);
}

#[test]
fn the_xid_thread_starts_over_after_nvml_failed_under_it() {
    let fake = FakeNvml::new(&with_xids(&[79]));
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    nvml_events::spawn(Some(fake.lib_path()), tx);
    assert_eq!(next(&mut rx).map(|r| r.code), Some(79));
    // A broken state file makes every call fail (UNKNOWN), the wait included. The pause
    // lets the thread see it; too short a pause can only fail this test, never pass it.
    fake.set_raw("this is not a state file\n");
    std::thread::sleep(Duration::from_millis(1_500));
    fake.set(&with_xids(&[79]));
    // The old set delivered that XID already; only a new set delivers it again.
    let r = next(&mut rx).expect("a report after starting over");
    assert_eq!((r.code, r.source), (79, XidSource::Nvml));
}
