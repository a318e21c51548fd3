//! Metrics through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! Nothing is recorded until the application installs a recorder (such as
//! `metrics-exporter-prometheus`); without one every call here is a no-op.
//! The names, kinds and labels are listed in the crate docs ("Metrics,
//! logs and health").

use std::time::Duration;

use crate::counters::Counters;

/// An upgrade refused before it happened, for `reason`.
pub(crate) fn refused(reason: &'static str) {
    metrics::counter!("ui_flow_refusals_total", "reason" => reason).increment(1);
}

/// A sync was served: by a snapshot or by deltas (from the log, or from
/// `snapshot()` / `deltas_since()` for app-owned state).
pub(crate) fn sync_fetch(kind: &'static str) {
    metrics::counter!("ui_flow_sync_fetches_total", "kind" => kind).increment(1);
}

/// A `handle_action` call finished after `elapsed`.
pub(crate) fn action_finished(elapsed: Duration, ok: bool) {
    let outcome = if ok { "ok" } else { "err" };
    metrics::histogram!("ui_flow_action_duration_seconds", "outcome" => outcome)
        .record(elapsed.as_secs_f64());
}

/// How many resources get a gauge of their own.
pub(crate) const RESOURCE_GAUGES: usize = 16;

/// Publishes `ui_flow_resource_connections{resource}` for the busiest
/// resources (at most [`RESOURCE_GAUGES`]), sets the ones that left that
/// list to 0, and the connections of every other resource together as
/// `ui_flow_other_resource_connections`. Returns the resources published.
pub(crate) fn publish_resources(
    busiest: &[(std::sync::Arc<str>, usize)],
    previous: &[std::sync::Arc<str>],
    connections_open: u64,
) -> Vec<std::sync::Arc<str>> {
    for gone in previous
        .iter()
        .filter(|r| !busiest.iter().any(|(b, _)| b == *r))
    {
        metrics::gauge!("ui_flow_resource_connections", "resource" => gone.to_string()).set(0.0);
    }
    let mut listed = 0;
    for (resource, n) in busiest {
        metrics::gauge!("ui_flow_resource_connections", "resource" => resource.to_string())
            .set(*n as f64);
        listed += *n as u64;
    }
    metrics::gauge!("ui_flow_other_resource_connections")
        .set(connections_open.saturating_sub(listed) as f64);
    busiest.iter().map(|(r, _)| r.clone()).collect()
}

/// Publishes the counters and gauges as of now.
pub(crate) fn publish(counters: &Counters, sessions: usize) {
    metrics::gauge!("ui_flow_connections_open").set(counters.connections_open as f64);
    metrics::gauge!("ui_flow_sessions_open").set(sessions as f64);
    let totals = [
        ("ui_flow_connections_total", counters.connections_total),
        (
            "ui_flow_connections_refused_total",
            counters.connections_refused,
        ),
        ("ui_flow_frames_in_total", counters.frames_in),
        ("ui_flow_bytes_in_total", counters.bytes_in),
        ("ui_flow_frames_out_total", counters.frames_out),
        ("ui_flow_bytes_out_total", counters.bytes_out),
        ("ui_flow_drops_total", counters.drops),
        ("ui_flow_slow_disconnects_total", counters.slow_disconnects),
        (
            "ui_flow_liveness_timeouts_total",
            counters.liveness_timeouts,
        ),
    ];
    for (name, value) in totals {
        metrics::counter!(name).absolute(value);
    }
}
