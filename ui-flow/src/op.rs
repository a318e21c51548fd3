//! Operation ids: how an action and its feedback find each other.

use std::fmt;
use std::str::FromStr;

/// The id of one action, chosen by the client when it sends the action.
///
/// Every `Progress`, `ActionOk`, `ActionErr` and `Notify.correlation_id` for
/// that action carries the same id, and a server that sees an id again (a retry
/// after a reconnect) answers with the outcome it already has instead of
/// applying the action twice.
///
/// On the wire an `OpId` is a 16-byte MessagePack `bin` (the UUID's bytes);
/// decoders also accept the 36-character hyphenated text form, which is what
/// [`Display`](fmt::Display) prints.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(uuid::Uuid);

impl OpId {
    /// A fresh random (version 4) id.
    pub fn new() -> Self {
        OpId(uuid::Uuid::new_v4())
    }

    /// The id whose 16 bytes are `bytes`.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        OpId(uuid::Uuid::from_bytes(bytes))
    }

    /// The id's 16 bytes, as they travel on the wire.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The id built from a `u128` (big-endian), handy for deterministic tests.
    pub const fn from_u128(value: u128) -> Self {
        OpId(uuid::Uuid::from_u128(value))
    }

    /// Reads the hyphenated form, the only text form on the wire: 36
    /// characters, hex digits in either case with hyphens after the 8th,
    /// 12th, 16th and 20th (`67e55044-10b1-426f-9247-bb680e5fe0c8`). `None`
    /// for anything else, braced, URN and simple forms included.
    pub(crate) fn from_hyphenated(text: &str) -> Option<Self> {
        match text.len() {
            36 => from_hex(text.as_bytes(), true),
            _ => None,
        }
    }
}

/// The 16 bytes written as 32 hex digits in `text`, with a hyphen after
/// the 8th, 12th, 16th and 20th when `hyphens` (then `text` is 36 bytes,
/// else 32); `None` for any other byte anywhere.
///
/// Ours rather than `uuid`'s parser, about a kilobyte of wasm in browser
/// clients; the two accept the same texts (`tests`, by proptest).
fn from_hex(text: &[u8], hyphens: bool) -> Option<OpId> {
    let mut bytes = [0; 16];
    let mut at = 0;
    for byte in &mut bytes {
        if hyphens && matches!(at, 8 | 13 | 18 | 23) {
            if text.get(at) != Some(&b'-') {
                return None;
            }
            at += 1;
        }
        let high = hex_digit(*text.get(at)?)?;
        let low = hex_digit(*text.get(at + 1)?)?;
        *byte = high << 4 | low;
        at += 2;
    }
    (at == text.len()).then_some(OpId::from_bytes(bytes))
}

/// The value of one hex digit, either case.
fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Default for OpId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpId({})", self.0)
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// The text was not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an operation id (expected a UUID such as 67e55044-10b1-426f-9247-bb680e5fe0c8)")]
pub struct ParseOpIdError;

impl FromStr for OpId {
    type Err = ParseOpIdError;

    /// Takes the forms `uuid` takes: hyphenated, simple (32 hex digits),
    /// braced (`{` hyphenated `}`) and URN (`urn:uuid:` hyphenated), hex
    /// digits in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.as_bytes();
        match text.len() {
            32 => from_hex(text, false),
            36 => from_hex(text, true),
            38 => text
                .strip_prefix(b"{")
                .and_then(|t| t.strip_suffix(b"}"))
                .and_then(|t| from_hex(t, true)),
            45 => text
                .strip_prefix(b"urn:uuid:")
                .and_then(|t| from_hex(t, true)),
            _ => None,
        }
        .ok_or(ParseOpIdError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let id = OpId::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        let text = id.to_string();
        assert_eq!(text, "67e55044-10b1-426f-9247-bb680e5fe0c8");
        assert_eq!(text.parse::<OpId>(), Ok(id));
        assert_eq!("nope".parse::<OpId>(), Err(ParseOpIdError));
    }

    #[test]
    fn fresh_ids_differ() {
        assert_ne!(OpId::new(), OpId::new());
    }

    #[test]
    fn other_forms_are_parsed_as_uuid_parses_them() {
        let id = OpId::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        for text in [
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "urn:uuid:67E55044-10B1-426F-9247-BB680E5FE0C8",
        ] {
            assert_eq!(text.parse::<OpId>(), Ok(id), "{text}");
            assert_eq!(OpId::from_hyphenated(text), None, "{text}");
        }
        for text in ["", "67e55044-10b1-426f-9247-bb680e5fe0c", "{67e55044}"] {
            assert_eq!(text.parse::<OpId>(), Err(ParseOpIdError), "{text}");
        }
    }

    /// What `uuid` makes of `text`: the id, or `None` when it refuses it.
    fn uuids(text: &str) -> Option<OpId> {
        uuid::Uuid::try_parse(text).ok().map(OpId)
    }

    /// Checks our parser and `FromStr` against `uuid`'s on `text`.
    fn agrees(text: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let theirs = uuids(text);
        proptest::prop_assert_eq!(text.parse::<OpId>().ok(), theirs, "{:?}", text);
        if text.len() == 36 {
            proptest::prop_assert_eq!(OpId::from_hyphenated(text), theirs, "{:?}", text);
        }
        Ok(())
    }

    #[test]
    fn every_random_id_parses_as_uuid_parses_it_in_either_case() {
        for _ in 0..2_000 {
            let id = uuid::Uuid::new_v4();
            let lower = id.hyphenated().to_string();
            let upper = lower.to_ascii_uppercase();
            for text in [&lower, &upper] {
                assert_eq!(OpId::from_hyphenated(text), Some(OpId(id)), "{text}");
                assert_eq!(text.parse::<OpId>(), Ok(OpId(id)), "{text}");
            }
        }
    }

    /// Characters the generated texts are made of: hex digits of both
    /// cases, hyphens, and a few that are neither (one of them two bytes
    /// long in UTF-8, so the text is not 36 bytes).
    const ALPHABET: &[char] = &[
        '0', '1', '2', '7', '9', 'a', 'b', 'f', 'A', 'C', 'F', '-', '-', '-', 'g', 'G', ' ', '{',
        '}', ':', '/', '@', '`', 'é',
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// 36 characters drawn from the alphabet: nearly always refused.
        #[test]
        fn random_texts_are_refused_or_taken_as_uuid_does(
            chars in proptest::collection::vec(proptest::sample::select(ALPHABET), 36)
        ) {
            agrees(&chars.into_iter().collect::<String>())?;
        }

        /// A valid id in any of the four forms, in either case, with up to
        /// three characters replaced by ones from the alphabet (an upper-case
        /// URN prefix is refused by both).
        #[test]
        fn ids_with_a_few_characters_changed_are_taken_as_uuid_takes_them(
            value in proptest::prelude::any::<u128>(),
            upper in proptest::prelude::any::<bool>(),
            form in 0..4_u8,
            changes in proptest::collection::vec(
                (0..45_usize, proptest::sample::select(ALPHABET)),
                0..=3,
            ),
        ) {
            let id = uuid::Uuid::from_u128(value);
            let text = match form {
                0 => id.hyphenated().to_string(),
                1 => id.simple().to_string(),
                2 => id.braced().to_string(),
                _ => id.urn().to_string(),
            };
            let mut chars: Vec<char> = if upper {
                text.to_ascii_uppercase().chars().collect()
            } else {
                text.chars().collect()
            };
            for (at, c) in changes {
                let at = at % chars.len();
                chars[at] = c;
            }
            agrees(&chars.into_iter().collect::<String>())?;
        }
    }
}
