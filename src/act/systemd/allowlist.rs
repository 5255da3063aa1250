//! The unit allowlist: globs such as `vllm@*.service`. [`Systemd`](super::Systemd) refuses any
//! unit that matches none before anything is sent to systemd.

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Unit name globs (`vllm@*.service`); a unit that matches none is never restarted.
#[derive(Clone, Debug)]
pub struct UnitAllowlist {
    globs: Vec<String>,
    set: GlobSet,
}

impl UnitAllowlist {
    /// Builds the allowlist; a bad glob is an error naming it.
    pub fn new<S: AsRef<str>>(globs: &[S]) -> Result<Self, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        for glob in globs {
            builder.add(Glob::new(glob.as_ref())?);
        }
        Ok(UnitAllowlist {
            globs: globs.iter().map(|g| g.as_ref().to_string()).collect(),
            set: builder.build()?,
        })
    }

    pub fn allows(&self, unit: &str) -> bool {
        self.set.is_match(unit)
    }

    pub fn globs(&self) -> &[String] {
        &self.globs
    }
}
