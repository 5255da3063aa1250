//! The HTTP endpoint's own families: connections open, the cap, accepted and refused ones.

use super::text::{Exposition, Kind};

/// How the endpoint's connections are doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpMetrics {
    /// Connections being served now.
    pub open: u64,
    /// The most connections served at once.
    pub max: u64,
    /// Connections accepted and served since start.
    pub accepted_total: u64,
    /// Connections closed on accept because `max` were open.
    pub refused_total: u64,
}

/// Writes the `gpuwarden_http_connections_*` families.
pub fn write(e: &mut Exposition, h: &HttpMetrics) {
    let families: [(&str, Kind, &str, u64); 4] = [
        (
            "gpuwarden_http_connections_open",
            Kind::Gauge,
            "HTTP connections being served now.",
            h.open,
        ),
        (
            "gpuwarden_http_connections_max",
            Kind::Gauge,
            "The most HTTP connections served at once; more are closed on accept.",
            h.max,
        ),
        (
            "gpuwarden_http_connections_accepted_total",
            Kind::Counter,
            "HTTP connections accepted and served since start.",
            h.accepted_total,
        ),
        (
            "gpuwarden_http_connections_refused_total",
            Kind::Counter,
            "HTTP connections closed on accept because the most allowed were open.",
            h.refused_total,
        ),
    ];
    for (name, kind, help, v) in families {
        e.family(name, kind, help);
        e.sample(name, "", &[], v as f64);
    }
}

/// The families alone, as a page fragment to append to [`super::render`]'s.
pub fn render(h: &HttpMetrics) -> String {
    let mut e = Exposition::with_capacity(768);
    write(&mut e, h);
    e.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_type_and_one_sample() {
        let page = render(&HttpMetrics {
            open: 3,
            max: 128,
            accepted_total: 10,
            refused_total: 7,
        });
        assert!(page.contains("# TYPE gpuwarden_http_connections_refused_total counter\n"));
        assert!(page.contains("\ngpuwarden_http_connections_refused_total 7\n"));
        assert!(page.contains("\ngpuwarden_http_connections_max 128\n"));
        assert_eq!(page.matches("# HELP ").count(), 4);
        assert_eq!(page.lines().count(), 12);
    }
}
