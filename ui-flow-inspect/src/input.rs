//! Turning the text a user pasted into frame bytes.
//!
//! Browser devtools show a binary WebSocket message as base64 (Chrome and
//! Firefox both offer it), and hex dumps come from logs and `xxd`. Hex may
//! have spaces, commas or colons between bytes and `0x` prefixes; base64 may
//! use the standard or the URL-safe alphabet, with or without padding.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// How the frame text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Encoding {
    /// Hex if the text is an even number of hex digits (after separators and
    /// `0x` prefixes), otherwise base64.
    #[default]
    Auto,
    /// Hex digits, two per byte.
    Hex,
    /// Base64, standard or URL-safe alphabet, padding optional.
    Base64,
}

/// Text that is neither hex nor base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Nothing to decode.
    #[error("no frame given (the input is empty)")]
    Empty,
    /// Not valid hex.
    #[error("not hex: {0}")]
    Hex(String),
    /// Not valid base64.
    #[error("not base64: {0}")]
    Base64(String),
    /// Neither.
    #[error("neither hex nor base64 ({0})")]
    Neither(String),
}

/// Decodes `text` as `encoding`.
pub fn frame_bytes(text: &str, encoding: Encoding) -> Result<Vec<u8>, InputError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(InputError::Empty);
    }
    match encoding {
        Encoding::Hex => hex_bytes(text),
        Encoding::Base64 => base64_bytes(text),
        Encoding::Auto => match hex_digits(text) {
            Some(digits) if digits.len() % 2 == 0 => hex_bytes(text),
            _ => base64_bytes(text).map_err(|e| InputError::Neither(e.to_string())),
        },
    }
}

/// The hex digits of `text` without separators and `0x` prefixes, if that
/// is all it holds.
fn hex_digits(text: &str) -> Option<String> {
    let mut digits = String::with_capacity(text.len());
    for token in text.split(|c: char| c.is_whitespace() || c == ',' || c == ':') {
        let token = token
            .strip_prefix("0x")
            .or_else(|| token.strip_prefix("0X"))
            .unwrap_or(token);
        if !token.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        digits.push_str(token);
    }
    Some(digits)
}

fn hex_bytes(text: &str) -> Result<Vec<u8>, InputError> {
    let digits = hex_digits(text)
        .ok_or_else(|| InputError::Hex("only hex digits, spaces and 0x prefixes allowed".into()))?;
    hex::decode(&digits).map_err(|e| InputError::Hex(e.to_string()))
}

fn base64_bytes(text: &str) -> Result<Vec<u8>, InputError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let url_safe = compact.contains(['-', '_']);
    let alphabet = if url_safe {
        &alphabet::URL_SAFE
    } else {
        &alphabet::STANDARD
    };
    let engine = GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    engine
        .decode(compact)
        .map_err(|e| InputError::Base64(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: [u8; 5] = [0x81, 0xa1, b't', 0x00, 0xff];

    #[test]
    fn hex_in_the_usual_spellings() {
        for text in [
            "81a17400ff",
            "81 a1 74 00 ff",
            "0x81 0xa1 0x74 0x00 0xff",
            "0x81a17400FF",
            "81:a1:74:00:ff\n",
            "0x81, 0xa1, 0x74, 0x00, 0xff",
        ] {
            assert_eq!(
                frame_bytes(text, Encoding::Auto),
                Ok(FRAME.to_vec()),
                "{text}"
            );
        }
    }

    #[test]
    fn base64_standard_and_url_safe_with_or_without_padding() {
        // 0xff at the end makes the standard and URL-safe spellings differ.
        assert_eq!(frame_bytes("gaF0AP8=", Encoding::Auto), Ok(FRAME.to_vec()));
        assert_eq!(frame_bytes("gaF0AP8", Encoding::Auto), Ok(FRAME.to_vec()));
        let url = [0xfb, 0xff, 0xbf];
        assert_eq!(frame_bytes("+/+/", Encoding::Auto), Ok(url.to_vec()));
        assert_eq!(frame_bytes("-_-_", Encoding::Auto), Ok(url.to_vec()));
        assert_eq!(
            frame_bytes(" gaF0\n AP8= ", Encoding::Base64),
            Ok(FRAME.to_vec())
        );
    }

    #[test]
    fn the_encoding_can_be_forced() {
        // "abcd" is valid hex and valid base64.
        assert_eq!(frame_bytes("abcd", Encoding::Hex), Ok(vec![0xab, 0xcd]));
        assert_eq!(
            frame_bytes("abcd", Encoding::Base64),
            Ok(vec![0x69, 0xb7, 0x1d])
        );
        assert_eq!(frame_bytes("abcd", Encoding::Auto), Ok(vec![0xab, 0xcd]));
    }

    #[test]
    fn rejects_what_is_neither() {
        assert_eq!(frame_bytes("  ", Encoding::Auto), Err(InputError::Empty));
        assert!(matches!(
            frame_bytes("not a frame!", Encoding::Auto),
            Err(InputError::Neither(_))
        ));
        assert!(matches!(
            frame_bytes("abc", Encoding::Hex),
            Err(InputError::Hex(_))
        ));
        assert!(matches!(
            frame_bytes("zz", Encoding::Hex),
            Err(InputError::Hex(_))
        ));
    }
}
