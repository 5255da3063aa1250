//! Second loading phase: [`raw::RawConfig`](super::raw::RawConfig) → validated
//! [`Config`](super::config::Config), or the first mistake found, located.
//!
//! Each check names the bad value in lowercase and says what would be right. This file reads
//! the file (UTF-8 TOML only), walks the document and applies defaults; `[[rule]]` tables are
//! checked in [`super::rules`] (leak rules in [`super::growth_rules`]), the smaller value
//! types (durations, unit names, GPU references, caps) in [`super::values`], what the whole
//! means in [`super::validate`].

use super::config::{Allowlist, Config, RestartPolicy, UnitMapping, Units, Watchdog};
use super::error::{ConfigError, LoadError};
use super::raw::{RawConfig, RawRestarts, RawUnits, RawWatchdog};
use super::rules::rule;
use super::validate;
use super::values::{Ctx, cap_spec, duration, gpu_ref, unit_name};
use globset::{Glob, GlobSetBuilder};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Reads and validates the config at `path`.
pub fn load(path: &Path) -> Result<Config, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => parse(path, text).map_err(LoadError::Invalid),
        Err(e) => {
            let at = e.valid_up_to();
            let valid = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
            let byte = bytes.get(at).copied().unwrap_or_default();
            Err(LoadError::Invalid(ConfigError::at(
                path,
                valid,
                at..at,
                "",
                format!("not a UTF-8 TOML file: byte 0x{byte:02x} is not UTF-8 text"),
            )))
        }
    }
}

/// Validates config `text`; `file` is only used to name the file in errors.
pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let cx = Ctx { file, text };
    if let Some(at) = text.find('\0') {
        return Err(cx.err(at..at + 1, "", "not a UTF-8 TOML file: it holds a NUL byte"));
    }
    let raw: RawConfig =
        toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, &e))?;
    let clock_cap = raw
        .clock_cap
        .as_ref()
        .map(|c| cap_spec(&cx, c, "clock_cap"))
        .transpose()?;
    let mut config = Config {
        watchdog: watchdog(&cx, &raw.watchdog)?,
        restarts: restarts(&cx, &raw.restarts)?,
        units: units(&cx, &raw.units)?,
        clock_cap,
        rules: Vec::new(),
        alerts: raw
            .alerts
            .as_ref()
            .map(|a| {
                a.get_ref()
                    .validate()
                    .map_err(|e| cx.err(a.span(), e.key, e.problem))
            })
            .transpose()?,
        warnings: Vec::new(),
    };
    let mut names = BTreeSet::new();
    for (i, r) in raw.rule.iter().enumerate() {
        let rule = rule(&cx, r.get_ref(), &format!("rule[{i}]"), &config)?;
        if !names.insert(rule.name.clone()) {
            return Err(cx.err(
                r.get_ref().name.span(),
                format!("rule[{i}].name"),
                format!(
                    "duplicate rule name `{}`: rule names must be unique",
                    rule.name
                ),
            ));
        }
        config.rules.push(rule);
    }
    validate::guards_something(&cx, &raw)?;
    validate::pages_have_a_sink(&cx, &raw, &config)?;
    super::growth_rules::growth_windows_fill(&cx, &raw, &config)?;
    config.warnings = validate::flapping(&cx, &raw, &config);
    config
        .warnings
        .extend(validate::gives_up_to_nobody(&cx, &raw, &config));
    Ok(config)
}

fn watchdog(cx: &Ctx, raw: &RawWatchdog) -> Result<Watchdog, ConfigError> {
    let interval = duration(
        cx,
        raw.interval.as_ref(),
        "watchdog.interval",
        Duration::from_secs(1),
    )?;
    if interval < Duration::from_millis(100)
        && let Some(s) = &raw.interval
    {
        return Err(cx.err(
            s.span(),
            "watchdog.interval",
            format!("interval `{}` is below the 100ms floor", s.get_ref()),
        ));
    }
    let state_dir = match &raw.state_dir {
        None => "/var/lib/gpuwarden".into(),
        Some(s) if Path::new(s.get_ref()).is_absolute() => s.get_ref().into(),
        Some(s) => {
            return Err(cx.err(
                s.span(),
                "watchdog.state_dir",
                format!("state_dir `{}` must be an absolute path", s.get_ref()),
            ));
        }
    };
    let listen = match &raw.listen {
        None => ([127, 0, 0, 1], 9844).into(),
        Some(s) => s.get_ref().parse().map_err(|_| {
            cx.err(
                s.span(),
                "watchdog.listen",
                format!(
                    "bad listen address `{}`: expected IP:PORT such as 127.0.0.1:9844",
                    s.get_ref()
                ),
            )
        })?,
    };
    let token_file = match &raw.token_file {
        None => None,
        Some(s) if Path::new(s.get_ref()).is_absolute() => Some(s.get_ref().into()),
        Some(s) => {
            return Err(cx.err(
                s.span(),
                "watchdog.token_file",
                format!("token_file `{}` must be an absolute path", s.get_ref()),
            ));
        }
    };
    let absolute = |s: &Option<Spanned<String>>, key: &'static str| match s {
        None => Ok(None),
        Some(s) if Path::new(s.get_ref()).is_absolute() => Ok(Some(PathBuf::from(s.get_ref()))),
        Some(s) => Err(cx.err(
            s.span(),
            key,
            format!("`{}` must be an absolute path", s.get_ref()),
        )),
    };
    let tls_cert = absolute(&raw.tls_cert, "watchdog.tls_cert")?;
    let tls_key = absolute(&raw.tls_key, "watchdog.tls_key")?;
    match (&raw.tls_cert, &raw.tls_key) {
        (Some(c), None) => {
            return Err(cx.err(
                c.span(),
                "watchdog.tls_cert",
                "tls_cert needs tls_key (the certificate's private key)",
            ));
        }
        (None, Some(k)) => {
            return Err(cx.err(
                k.span(),
                "watchdog.tls_key",
                "tls_key needs tls_cert (the certificate it belongs to)",
            ));
        }
        _ => {}
    }
    let driver_timeout = duration(
        cx,
        raw.driver_timeout.as_ref(),
        "watchdog.driver_timeout",
        Duration::from_secs(5),
    )?;
    if driver_timeout < Duration::from_secs(1)
        && let Some(s) = &raw.driver_timeout
    {
        return Err(cx.err(
            s.span(),
            "watchdog.driver_timeout",
            format!(
                "driver_timeout `{}` is below 1s: a healthy driver takes that long to answer \
                 a sample of many GPUs",
                s.get_ref()
            ),
        ));
    }
    Ok(Watchdog {
        interval,
        driver_timeout,
        dry_run: raw.dry_run.unwrap_or(false),
        state_dir,
        listen,
        kmsg: raw.kmsg.as_ref().map(std::path::PathBuf::from),
        token_file,
        tls_cert,
        tls_key,
    })
}

fn restarts(cx: &Ctx, raw: &RawRestarts) -> Result<RestartPolicy, ConfigError> {
    let budget = match &raw.budget {
        None => 3,
        Some(b) if (1..=1000).contains(b.get_ref()) => *b.get_ref() as u32,
        Some(b) => {
            return Err(cx.err(
                b.span(),
                "restarts.budget",
                format!(
                    "budget {} is out of range: allow 1 to 1000 restarts per firing and window \
                     (to never restart, leave restart_units out of the ladders)",
                    b.get_ref()
                ),
            ));
        }
    };
    let window = duration(
        cx,
        raw.window.as_ref(),
        "restarts.window",
        Duration::from_secs(3600),
    )?;
    positive(cx, raw.window.as_ref(), window, "restarts.window")?;
    let job_timeout = duration(
        cx,
        raw.job_timeout.as_ref(),
        "restarts.job_timeout",
        Duration::from_secs(90),
    )?;
    positive(
        cx,
        raw.job_timeout.as_ref(),
        job_timeout,
        "restarts.job_timeout",
    )?;
    let verify = duration(
        cx,
        raw.verify.as_ref(),
        "restarts.verify",
        Duration::from_secs(120),
    )?;
    positive(cx, raw.verify.as_ref(), verify, "restarts.verify")?;
    Ok(RestartPolicy {
        budget,
        window,
        verify,
        cooldown: duration(
            cx,
            raw.cooldown.as_ref(),
            "restarts.cooldown",
            Duration::from_secs(600),
        )?,
        job_timeout,
    })
}

fn positive(
    cx: &Ctx,
    raw: Option<&Spanned<String>>,
    d: Duration,
    key: &str,
) -> Result<(), ConfigError> {
    match raw {
        Some(s) if d.is_zero() => Err(cx.err(
            s.span(),
            key,
            format!("`{}` must be longer than zero", s.get_ref()),
        )),
        _ => Ok(()),
    }
}

fn units(cx: &Ctx, raw: &RawUnits) -> Result<Units, ConfigError> {
    let mut patterns = Vec::new();
    let mut set = GlobSetBuilder::new();
    if let Some(allow) = &raw.allow {
        for (i, g) in allow.get_ref().iter().enumerate() {
            let glob = Glob::new(g.get_ref()).map_err(|e| {
                cx.err(
                    g.span(),
                    format!("units.allow[{i}]"),
                    format!("bad glob `{}`: {}", g.get_ref(), e.kind()),
                )
            })?;
            patterns.push(g.get_ref().clone());
            set.add(glob);
        }
    }
    let set = set.build().map_err(|e| {
        cx.err(
            0..0,
            "units.allow",
            format!("cannot compile the allowlist: {e}"),
        )
    })?;
    let mut map = Vec::new();
    for (i, m) in raw.map.iter().enumerate() {
        let key = format!("units.map[{i}]");
        let m_ref = m.get_ref();
        let gpu = gpu_ref(cx, &m_ref.gpu, &format!("{key}.gpu"))?;
        if m_ref.units.is_empty() {
            return Err(cx.err(m.span(), format!("{key}.units"), "units = [] lists no unit"));
        }
        let units = m_ref
            .units
            .iter()
            .enumerate()
            .map(|(j, u)| unit_name(cx, u, &format!("{key}.units[{j}]")))
            .collect::<Result<_, _>>()?;
        map.push(UnitMapping { gpu, units });
    }
    let allow = Allowlist { patterns, set };
    validate::allowlist(cx, raw, &allow)?;
    Ok(Units {
        auto: raw.auto.unwrap_or(true),
        allow,
        allow_any_unit: raw.allow_any_unit.unwrap_or(false),
        map,
    })
}
