//! The process's open-file limit. systemd and most shells start services with a soft
//! `RLIMIT_NOFILE` of 1024 and a far higher hard one; the long-running commands (`watch`,
//! `serve`) raise the soft limit to the hard one at start, so the descriptors the watchdog
//! needs (D-Bus calls, state files, the event log) are never the last ones left.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns `(before, after)`.
pub fn raise_nofile() -> std::io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; it has no other effect.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own; raising a soft limit up to the hard one
        // is always allowed.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        lim = raised;
    }
    Ok((before, lim.rlim_cur))
}

/// [`raise_nofile`] for a command's start: logs what it did; a failure is a warning.
pub fn raise_nofile_at_start() {
    match raise_nofile() {
        Ok((before, after)) if before != after => {
            tracing::info!("raised the open-file limit from {before} to {after}");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("could not raise the open-file limit: {e}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let (_, after) = super::raise_nofile().unwrap();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in raise_nofile.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, lim.rlim_max);
        assert_eq!(after, lim.rlim_cur);
    }
}
