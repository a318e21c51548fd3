//! A string from the wire shown in quotes inside an error text.
//!
//! [`Quoted`] writes what `{:?}` writes for every string a peer is likely
//! to send: the text in double quotes, with `"` and `\` escaped, `\t`,
//! `\r`, `\n` and `\0` as such, and every other control character as
//! `\u{..}`. It is not `str`'s `Debug`: that one also escapes printable-
//! looking characters Unicode lists as not printable (a zero-width space,
//! a byte order mark, a combining mark at the start), and knowing which
//! takes Unicode tables and a formatter path that cost the browser client
//! about 4 KB gzipped (BENCHMARKS.md, "Client wasm size"). Those
//! characters are written as they are.

use std::fmt::{self, Write};

/// `text` in double quotes, escaped as the module says.
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\t' => f.write_str("\\t")?,
                '\r' => f.write_str("\\r")?,
                '\n' => f.write_str("\\n")?,
                '\0' => f.write_str("\\0")?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

#[cfg(test)]
mod tests {
    use super::Quoted;

    #[test]
    fn reads_as_debug_for_what_peers_send() {
        for text in [
            "",
            "presence",
            "say \"hi\"",
            "C:\\path",
            "tab\there",
            "line\r\nbreak",
            "nul\0",
            "\u{1}\u{1f}\u{7f}\u{85}\u{9f}",
            "'single'",
            "été 🚀 日本",
        ] {
            assert_eq!(Quoted(text).to_string(), format!("{text:?}"), "{text:?}");
        }
    }

    #[test]
    fn writes_what_debug_would_escape_as_unicode_as_it_is() {
        assert_eq!(Quoted("a\u{200b}b").to_string(), "\"a\u{200b}b\"");
        assert_eq!(format!("{:?}", "a\u{200b}b"), "\"a\\u{200b}b\"");
    }
}
