//! The daemon's memory on disk: the engine's [`State`] and the caps the clock actuator holds,
//! in `state.json` in the state directory, written atomically (temp file, fsync, rename,
//! fsync of the directory) so a crash leaves either the old or the new file, never half.
//!
//! A daemon restarted by systemd reads it back: active rules keep their ladder position, the
//! restart history keeps the budgets honest, and caps still held are re-applied and later
//! undone instead of being forgotten on the GPU.

use crate::act::AppliedCaps;
use crate::policy::{STATE_SCHEMA, State};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file name inside the state directory.
pub const STATE_FILE: &str = "state.json";

/// Everything the daemon persists.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Persisted {
    pub policy: State,
    pub caps: AppliedCaps,
    /// The base of the engine's clock (same boot: times in `policy` continue from it).
    #[serde(default)]
    pub clock: Option<super::clock::ClockBase>,
}

/// Where the persisted state lives.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(STATE_FILE)
}

/// Reads the persisted state. A missing file is a fresh start; an unreadable or foreign one
/// is a fresh start too, reported so the operator knows the daemon forgot something.
pub fn load(state_dir: &Path) -> (Persisted, Option<String>) {
    let file = path(state_dir);
    let text = match fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (Persisted::default(), None),
        Err(e) => {
            return (
                Persisted::default(),
                Some(format!(
                    "could not read {}: {e}; starting fresh",
                    file.display()
                )),
            );
        }
    };
    match serde_json::from_str::<Persisted>(&text) {
        Ok(p) if p.policy.schema == STATE_SCHEMA => (p, None),
        Ok(p) => (
            Persisted::default(),
            Some(format!(
                "{} has state schema {} (this version reads {STATE_SCHEMA}); starting fresh",
                file.display(),
                p.policy.schema
            )),
        ),
        Err(e) => (
            Persisted::default(),
            Some(format!(
                "{} is not valid state ({e}); starting fresh",
                file.display()
            )),
        ),
    }
}

/// Writes the state atomically.
pub fn save(state_dir: &Path, state: &Persisted) -> io::Result<()> {
    fs::create_dir_all(state_dir)?;
    let json = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
    write_atomically(&path(state_dir), &json)
}

/// Replaces `target` with `bytes`: a temp file beside it, fsync, rename, fsync of the folder.
pub fn write_atomically(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{}.tmp", name.unwrap_or_default()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, target)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_survives_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()), (Persisted::default(), None));
        let mut p = Persisted::default();
        p.policy
            .units
            .insert("vllm@0.service".into(), Default::default());
        save(dir.path(), &p).unwrap();
        assert_eq!(load(dir.path()).0, p);
        fs::write(path(dir.path()), "{ not json").unwrap();
        let (fresh, why) = load(dir.path());
        assert_eq!(fresh, Persisted::default());
        assert!(why.unwrap().contains("not valid state"));
    }
}
