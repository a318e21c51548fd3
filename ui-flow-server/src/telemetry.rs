//! Metrics through the `metrics` facade; placeholder filled below.

pub(crate) fn refused(reason: &'static str) {
    let _ = reason;
}
