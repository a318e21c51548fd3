//! The payload reader against rmp-serde's, value for value.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("encodes")
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Shape {
    Dot,
    Circle(f64),
    Line(i32, i32),
    Rect { w: u32, h: u32 },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
enum Tagged {
    Add { amount: i64 },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Everything {
    flag: bool,
    small: i8,
    big: u64,
    real: f64,
    text: String,
    #[serde(with = "serde_bytes_like")]
    bytes: Vec<u8>,
    maybe: Option<u16>,
    list: Vec<Shape>,
    map: BTreeMap<String, i32>,
    pair: (char, ()),
    tagged: Tagged,
}

/// Bytes as MessagePack bin, to reach the byte-buffer visits.
mod serde_bytes_like {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl serde::de::Visitor<'_> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

#[test]
fn every_kind_of_value_decodes_as_rmp_serde_alone_decodes_it() {
    let value = Everything {
        flag: true,
        small: -3,
        big: u64::MAX,
        real: 1.5,
        text: "héllo".into(),
        bytes: vec![0, 1, 255],
        maybe: Some(7),
        list: vec![
            Shape::Dot,
            Shape::Circle(2.25),
            Shape::Line(-1, 1),
            Shape::Rect { w: 3, h: 4 },
        ],
        map: BTreeMap::from([("a".into(), 1), ("b".into(), -2)]),
        pair: ('z', ()),
        tagged: Tagged::Add { amount: 5 },
    };
    let bytes = encode(&value);
    let ours: Everything = from_slice(&bytes).expect("decodes");
    let theirs: Everything = rmp_serde::from_slice(&bytes).expect("decodes");
    assert_eq!(ours, value);
    assert_eq!(theirs, value);
}

#[test]
fn unknown_fields_are_skipped_whatever_they_hold() {
    #[derive(Serialize)]
    struct Newer {
        extra: (f64, BTreeMap<String, Vec<i8>>),
        value: i64,
        more: &'static str,
    }
    #[derive(Debug, PartialEq, Deserialize)]
    struct Older {
        value: i64,
    }
    let bytes = encode(&Newer {
        extra: (0.5, BTreeMap::from([("k".into(), vec![-1, 2])])),
        value: 42,
        more: "x",
    });
    assert_eq!(
        from_slice::<Older>(&bytes).expect("decodes"),
        Older { value: 42 }
    );
    let truncated = &bytes[..bytes.len() - 1];
    let ours = from_slice::<Older>(truncated).expect_err("does not decode");
    rmp_serde::from_slice::<Older>(truncated).expect_err("rmp-serde agrees");
    assert_eq!(
        ours.to_string(),
        "the payload ends in the middle of a value"
    );
}

#[test]
fn a_float_where_an_integer_belongs_is_named_not_printed() {
    let error = from_slice::<i64>(&encode(&1.5f64)).expect_err("does not decode");
    assert_eq!(
        error.to_string(),
        "invalid type: a floating-point number, expected i64"
    );
}

#[test]
fn mismatches_say_what_was_found_and_what_was_expected() {
    let cases: [(Vec<u8>, &str, &str); 8] = [
        (
            encode(&"text"),
            "unknown variant `text`, expected one of `Dot`, `Circle`, `Line`, `Rect`",
            "invalid type: string \"text\", expected a tuple of size 2",
        ),
        (
            encode(&[1, 2]),
            "invalid type: sequence, expected variant identifier",
            "invalid type: integer `2`, expected a boolean",
        ),
        (
            encode(&BTreeMap::from([("w", 1)])),
            "unknown variant `w`, expected one of `Dot`, `Circle`, `Line`, `Rect`",
            "invalid type: map, expected a tuple of size 2",
        ),
        (
            vec![0xc1],
            "the reserved byte 0xc1 where a value belongs",
            "the reserved byte 0xc1 where a value belongs",
        ),
        (
            encode(&u64::MAX),
            "invalid value: integer `18446744073709551615`, expected variant index 0 <= i < 4",
            "invalid type: integer `18446744073709551615`, expected a tuple of size 2",
        ),
        (
            encode(&-5i8),
            "invalid type: integer `-5`, expected variant identifier",
            "invalid type: integer `-5`, expected a tuple of size 2",
        ),
        (
            encode(&true),
            "invalid type: boolean `true`, expected variant identifier",
            "invalid type: boolean `true`, expected a tuple of size 2",
        ),
        (
            encode(&()),
            "invalid type: unit value, expected variant identifier",
            "invalid type: unit value, expected a tuple of size 2",
        ),
    ];
    for (bytes, as_shape, as_pair) in cases {
        rmp_serde::from_slice::<Shape>(&bytes).expect_err("rmp-serde refuses it too");
        rmp_serde::from_slice::<(u8, bool)>(&bytes).expect_err("rmp-serde refuses it too");
        let ours = from_slice::<Shape>(&bytes).expect_err("does not decode");
        assert_eq!(ours.to_string(), as_shape, "for {bytes:02x?}");
        let ours = from_slice::<(u8, bool)>(&bytes).expect_err("does not decode");
        assert_eq!(ours.to_string(), as_pair, "for {bytes:02x?}");
    }
}

#[test]
fn what_was_found_reads_as_serdes_text_but_for_floats() {
    use serde::de::Unexpected;
    let cases = [
        Unexpected::Bool(true),
        Unexpected::Bool(false),
        Unexpected::Unsigned(0),
        Unexpected::Unsigned(u64::MAX),
        Unexpected::Signed(0),
        Unexpected::Signed(7),
        Unexpected::Signed(-5),
        Unexpected::Signed(i64::MIN),
        Unexpected::Signed(i64::MAX),
        Unexpected::Char('x'),
        Unexpected::Char('é'),
        Unexpected::Char('`'),
        Unexpected::Str("text"),
        Unexpected::Unit,
        Unexpected::Seq,
        Unexpected::Map,
        Unexpected::UnitVariant,
        Unexpected::Other("extension value"),
    ];
    for unexpected in cases {
        assert_eq!(Found(unexpected).to_string(), unexpected.to_string());
    }
}

/// Mismatches refused without calling the visitor (`Cursor::refused`) read
/// word for word as rmp-serde's, which calls serde's default `visit_*`
/// methods: into a struct, a unit struct, an `Option`, an enum, a string,
/// a sequence and a map. Floats are left out (named, not printed, above).
#[test]
fn type_mismatches_read_as_rmp_serdes_texts() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Spot {
        x: i64,
    }
    #[derive(Debug, Deserialize)]
    struct Nothing;
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Pair(u8, bool);

    fn check<T: de::DeserializeOwned + std::fmt::Debug>(bytes: &[u8]) -> String {
        let ours = from_slice::<T>(bytes).expect_err("ours refuses it");
        let theirs = rmp_serde::from_slice::<T>(bytes).expect_err("rmp-serde refuses it");
        assert_eq!(
            ours.to_string(),
            theirs.to_string(),
            "{} from {bytes:02x?}",
            std::any::type_name::<T>()
        );
        ours.to_string()
    }

    let text = encode(&"abc");
    let map = encode(&BTreeMap::from([("a", 1)]));
    let seq = encode(&[1, 2]);
    let ext = rmp_serde::to_vec(&rmpv::Value::Ext(5, vec![1, 2])).expect("encodes");
    let others = [
        text.clone(),
        map.clone(),
        seq.clone(),
        ext,
        encode(&()),
        encode(&true),
        encode(&7u8),
        encode(&-7i8),
    ];
    for bytes in &others {
        if bytes != &seq && bytes != &map {
            check::<Spot>(bytes);
            if bytes[..] != [0xc0] {
                check::<Option<Spot>>(bytes);
            }
            check::<Vec<u8>>(bytes);
            check::<Pair>(bytes);
        }
        if bytes != &map {
            check::<BTreeMap<String, u8>>(bytes);
        }
        if bytes != &text {
            check::<String>(bytes);
        }
        if bytes[..] != [0xc0] {
            check::<Nothing>(bytes);
        }
        if bytes != &text {
            check::<Shape>(bytes);
        }
    }
    // A bin is bytes to a map, a unit struct and a string.
    let bin = rmp_serde::to_vec(&rmpv::Value::Binary(vec![0xff])).expect("encodes");
    assert_eq!(
        check::<BTreeMap<String, u8>>(&bin),
        "invalid type: byte array, expected a map"
    );
    check::<Nothing>(&bin);
    check::<String>(&bin);
    // The texts themselves, so that a change on both sides shows.
    assert_eq!(
        check::<Spot>(&text),
        "invalid type: string \"abc\", expected struct Spot"
    );
    assert_eq!(
        check::<Option<Spot>>(&encode(&true)),
        "invalid type: boolean `true`, expected struct Spot"
    );
    assert_eq!(
        check::<String>(&map),
        "invalid type: map, expected a string"
    );
    assert_eq!(
        check::<String>(&encode(&-7i8)),
        "invalid type: integer `-7`, expected a string"
    );
    assert_eq!(
        check::<BTreeMap<String, u8>>(&seq),
        "invalid type: sequence, expected a map"
    );
    assert_eq!(
        check::<Shape>(&encode(&7u8)),
        "invalid value: integer `7`, expected variant index 0 <= i < 4"
    );
    assert_eq!(
        check::<Nothing>(&map),
        "invalid type: map, expected unit struct Nothing"
    );
}

/// rmp-serde names the marker where an integer belongs ("wrong msgpack
/// marker"); ours keeps serde's text, as a `serde_json::Value` gives it.
#[test]
fn a_map_where_an_integer_belongs_reads_as_serdes_text() {
    let ours = from_slice::<u64>(&encode(&BTreeMap::from([("a", 1)]))).expect_err("refused");
    let serdes = serde_json::from_value::<u64>(serde_json::json!({"a": 1})).expect_err("refused");
    assert_eq!(ours.to_string(), serdes.to_string());
    assert_eq!(ours.to_string(), "invalid type: map, expected u64");
}

#[test]
fn malformed_payloads_get_typed_texts() {
    let cases: [(&[u8], &str); 6] = [
        (&[], "the payload ends in the middle of a value"),
        (&[0xa3, b'a'], "the payload ends in the middle of a value"),
        (&[0xa0, 0x02], "1 bytes after the value"),
        (&[0xa1, 0xff], "a string that is not valid UTF-8"),
        (
            &[0x93, 0x01, 0x02, 0x03],
            "invalid length 3, expected 2 elements",
        ),
        (
            &[0x82, 0xa3, b'D', b'o', b't', 0xc0, 0xa1, b'x', 0xc0],
            "an enum as a map of 2 entries, expected a map of 1 entry (variant to contents)",
        ),
    ];
    for (bytes, text) in cases {
        let error = match bytes.len() {
            4 => from_slice::<(u8, u8)>(bytes).expect_err("does not decode"),
            9 => from_slice::<Shape>(bytes).expect_err("does not decode"),
            _ => from_slice::<String>(bytes).expect_err("does not decode"),
        };
        assert_eq!(error.to_string(), text, "for {bytes:02x?}");
    }
}

#[test]
fn nesting_stops_at_the_depth_limit_even_in_skipped_values() {
    // 1,023 levels of `rmpv::Value` recurse deeper than a test thread's
    // stack holds in a debug build.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(nest_to_the_limit)
        .expect("spawns")
        .join()
        .expect("passes");
}

fn nest_to_the_limit() {
    let depth = usize::from(head::MAX_DEPTH);
    // 1,023 nested arrays decode, as with rmp-serde; 1,024 do not.
    for (levels, ok) in [(depth - 1, true), (depth, false)] {
        let mut bytes = vec![0x91; levels];
        bytes.push(0xc0);
        let value = from_slice::<rmpv::Value>(&bytes);
        let theirs = rmp_serde::from_slice::<rmpv::Value>(&bytes);
        assert_eq!(value.is_ok(), ok, "{levels} levels");
        assert_eq!(theirs.is_ok(), ok, "rmp-serde at {levels} levels");
        let skipped = from_slice::<de::IgnoredAny>(&bytes);
        assert_eq!(skipped.is_ok(), ok, "{levels} levels skipped");
    }
    let mut bytes = vec![0x91; depth];
    bytes.push(0xc0);
    assert_eq!(
        from_slice::<rmpv::Value>(&bytes)
            .expect_err("too deep")
            .to_string(),
        "arrays and maps nested deeper than 1024 levels"
    );
}

mod equivalence {
    //! Arbitrary values written by rmpv, and arbitrary bytes, decoded by
    //! this reader and by rmp-serde's into the same types.

    use std::collections::HashMap;
    use std::fmt::Debug;

    use proptest::collection::vec;
    use proptest::prelude::*;
    use rmpv::Value;
    use serde::Deserialize;
    use serde::de::DeserializeOwned;

    use super::{Shape, Tagged, from_slice, serde_bytes_like};

    #[derive(Debug, PartialEq, Deserialize)]
    struct Point {
        x: i32,
        y: Option<u8>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Unit;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Bytes(#[serde(with = "serde_bytes_like")] Vec<u8>);

    #[derive(Debug, PartialEq, Deserialize)]
    struct Wrapper(Option<Shape>);

    /// Leaves that often match a field or variant name of the types above,
    /// so that decoding gets past the first key.
    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Nil),
            any::<bool>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-300i64..300).prop_map(Value::from),
            any::<f32>().prop_map(Value::F32),
            any::<f64>().prop_map(Value::F64),
            "Dot|Circle|Line|Rect|w|h|x|y|type|Add|amount|[a-z]{0,2}|é".prop_map(Value::from),
            vec(any::<u8>(), 0..4).prop_map(Value::Binary),
            (any::<i8>(), vec(any::<u8>(), 0..18)).prop_map(|(t, d)| Value::Ext(t, d)),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(Value::Array),
                vec((inner.clone(), inner.clone()), 0..3).prop_map(Value::Map),
                // An enum's map of one entry, variant to contents.
                ("Dot|Circle|Line|Rect|Add", inner)
                    .prop_map(|(k, v)| Value::Map(vec![(Value::from(k), v)])),
            ]
        })
    }

    fn write(value: &Value) -> Vec<u8> {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, value).expect("writes to a Vec");
        bytes
    }

    /// Both decoders give the same value (compared by `Debug`, so that NaN
    /// equals NaN), or both fail. With `exact` false, only: rmp-serde
    /// failing means ours fails, and ours succeeding means rmp-serde gives
    /// the same value (ours also refuses bytes after the value).
    fn same<T: DeserializeOwned + Debug>(bytes: &[u8], exact: bool) -> Result<(), TestCaseError> {
        let ours = from_slice::<T>(bytes);
        let theirs = rmp_serde::from_slice::<T>(bytes);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => prop_assert_eq!(format!("{a:?}"), format!("{b:?}")),
            (Err(_), Err(_)) => {}
            (Err(_), Ok(_)) if !exact => {}
            _ => prop_assert!(
                false,
                "{} for {bytes:02x?}: ours {ours:?}, rmp-serde {theirs:?}",
                std::any::type_name::<T>()
            ),
        }
        Ok(())
    }

    /// The same, comparing with `PartialEq` (for maps, whose `Debug` order
    /// is the hasher's).
    fn same_eq<T: DeserializeOwned + Debug + PartialEq>(bytes: &[u8]) -> Result<(), TestCaseError> {
        let ours = from_slice::<T>(bytes);
        let theirs = rmp_serde::from_slice::<T>(bytes);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(
                false,
                "for {bytes:02x?}: ours {ours:?}, rmp-serde {theirs:?}"
            ),
        }
        Ok(())
    }

    fn every_type(bytes: &[u8], exact: bool) -> Result<(), TestCaseError> {
        same::<Point>(bytes, exact)?;
        same::<Shape>(bytes, exact)?;
        same::<Tagged>(bytes, exact)?;
        same::<Unit>(bytes, exact)?;
        same::<Bytes>(bytes, exact)?;
        same::<Wrapper>(bytes, exact)?;
        same::<Option<i64>>(bytes, exact)?;
        same::<Option<Option<Point>>>(bytes, exact)?;
        same::<(u8, String)>(bytes, exact)?;
        same::<(Shape, f32, bool)>(bytes, exact)?;
        same::<Vec<i16>>(bytes, exact)?;
        same::<Vec<u8>>(bytes, exact)?;
        same::<Vec<Shape>>(bytes, exact)?;
        same::<i8>(bytes, exact)?;
        same::<i16>(bytes, exact)?;
        same::<i32>(bytes, exact)?;
        same::<i64>(bytes, exact)?;
        same::<u8>(bytes, exact)?;
        same::<u16>(bytes, exact)?;
        same::<u32>(bytes, exact)?;
        same::<u64>(bytes, exact)?;
        same::<f32>(bytes, exact)?;
        same::<f64>(bytes, exact)?;
        same::<char>(bytes, exact)?;
        same::<String>(bytes, exact)?;
        same::<()>(bytes, exact)?;
        same::<bool>(bytes, exact)?;
        if exact {
            same_eq::<HashMap<String, i32>>(bytes)?;
            same_eq::<HashMap<u8, Vec<Option<bool>>>>(bytes)?;
        }
        Ok(())
    }

    /// rmpv's value, written back with rmpv, so that NaN compares equal.
    fn same_value(bytes: &[u8], exact: bool) -> Result<(), TestCaseError> {
        let ours = from_slice::<Value>(bytes).map(|v| write(&v));
        let theirs = rmp_serde::from_slice::<Value>(bytes).map(|v| write(&v));
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (Err(_), Ok(_)) if !exact => {}
            _ => prop_assert!(
                false,
                "for {bytes:02x?}: ours {ours:?}, rmp-serde {theirs:?}"
            ),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn values_written_by_rmpv_decode_as_rmp_serde_decodes_them(value in value()) {
            let bytes = write(&value);
            same_value(&bytes, true)?;
            // What rmp-serde decodes to an rmpv value is the value itself.
            prop_assert_eq!(write(&from_slice::<Value>(&bytes).expect("decodes")), bytes.clone());
            every_type(&bytes, true)?;
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_fail_where_rmp_serde_fails(
            bytes in prop_oneof![
                vec(any::<u8>(), 0..24),
                // Mostly well-formed: a value with a byte changed or cut.
                (value(), any::<prop::sample::Index>(), any::<u8>(), any::<bool>())
                    .prop_map(|(v, at, b, cut)| {
                        let mut bytes = write(&v);
                        let i = at.index(bytes.len());
                        if cut { bytes.truncate(i) } else { bytes[i] = b }
                        bytes
                    }),
            ]
        ) {
            same_value(&bytes, false)?;
            every_type(&bytes, false)?;
        }
    }
}
