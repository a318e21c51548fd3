//! Cuts of a URL at one ASCII separator (`/`, `@`, `:`, `#`, `?`).
//!
//! A loop over the bytes (a slice's own `position`, not `str::bytes()`,
//! whose adapter compiles a `try_fold` per closure), not `str`'s `split_once`, `rsplit` or `contains`
//! with a `char`: those search with core's `memchr` and `memrchr` and keep
//! a splitting iterator, about 1 KB of wasm in the browser client for
//! strings of a few dozen bytes. It is not a URL parser: it finds bytes.

/// `text` cut at its first `sep`: what comes before and after it.
pub(crate) fn split_first(text: &str, sep: u8) -> Option<(&str, &str)> {
    let at = text.as_bytes().iter().position(|&b| b == sep)?;
    // `sep` is ASCII, so both cuts fall on character boundaries.
    Some((text.get(..at)?, text.get(at + 1..)?))
}

/// What follows the last `sep` in `text`; all of `text` without one.
#[cfg_attr(
    not(any(
        all(feature = "native", not(target_arch = "wasm32")),
        all(feature = "browser", target_arch = "wasm32")
    )),
    allow(dead_code)
)]
pub(crate) fn after_last(text: &str, sep: u8) -> &str {
    match text.as_bytes().iter().rposition(|&b| b == sep) {
        Some(at) => text.get(at + 1..).unwrap_or_default(),
        None => text,
    }
}

/// `text` up to its first byte from `seps` (all ASCII); all of `text`
/// without one.
#[cfg_attr(
    not(any(
        all(feature = "native", not(target_arch = "wasm32")),
        all(feature = "browser", target_arch = "wasm32")
    )),
    allow(dead_code)
)]
pub(crate) fn before_any<'a>(text: &'a str, seps: &[u8]) -> &'a str {
    match text.as_bytes().iter().position(|b| is_one_of(*b, seps)) {
        Some(at) => text.get(..at).unwrap_or_default(),
        None => text,
    }
}

/// Whether `text` holds `sep`.
#[allow(
    clippy::manual_contains,
    reason = "`contains` links memchr; see the module"
)]
pub(crate) fn holds(text: &str, sep: u8) -> bool {
    text.as_bytes().iter().any(|&b| b == sep)
}

/// Whether `byte` is one of `set`. A loop, not `<[u8]>::contains`, which
/// searches with core's `memchr` (its word-at-a-time code, 0.3 KB of wasm)
/// for sets of a few bytes.
#[allow(clippy::manual_contains, reason = "`contains` links memchr")]
pub(crate) fn is_one_of(byte: u8, set: &[u8]) -> bool {
    set.iter().any(|&b| b == byte)
}

#[cfg(test)]
mod tests {
    use super::{after_last, before_any, holds, is_one_of, split_first};

    #[test]
    fn cuts_agree_with_str_for_ascii_separators() {
        for text in ["", "a", "/", "ws://h/a/b", "x#y#z", "é/ü#ß", "//", "no-sep"] {
            for sep in [b'/', b'#', b':', b'@', b'?'] {
                let c = char::from(sep);
                assert_eq!(split_first(text, sep), text.split_once(c), "{text} {c}");
                assert_eq!(
                    after_last(text, sep),
                    text.rsplit(c).next().unwrap_or_default(),
                    "{text} {c}"
                );
                assert_eq!(holds(text, sep), text.contains(c), "{text} {c}");
            }
            for seps in [&b"?#"[..], b"/?#", b""] {
                for b in 0..=u8::MAX {
                    assert_eq!(is_one_of(b, seps), seps.contains(&b));
                }
                let chars: Vec<char> = seps.iter().copied().map(char::from).collect();
                let by_str = text.split(&chars[..]).next().unwrap_or_default();
                assert_eq!(before_any(text, seps), by_str, "{text} {chars:?}");
            }
        }
    }
}
