//! The payload writer against rmp-serde's `to_vec_named`, byte for byte.
use std::collections::{BTreeMap, HashMap};

use proptest::collection::vec;
use proptest::prelude::*;
use rmpv::Value;
use serde::Serialize;

use super::*;

fn ours<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut buf = vec![0xee];
    write(&mut buf, value).expect("ours writes");
    assert_eq!(buf[0], 0xee, "appends after what is there");
    buf.remove(0);
    buf
}

fn theirs<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("rmp-serde writes")
}

#[derive(Serialize)]
struct Unit;

#[derive(Serialize)]
struct Meters(f32);

#[derive(Serialize)]
struct Pair(i16, String);

#[derive(Serialize)]
enum Shape {
    Dot,
    Circle(f64),
    Line(i32, i64),
    Rect { w: u32, h: Option<u8> },
}

#[derive(Serialize)]
struct Inner {
    id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(Serialize)]
struct Flat {
    name: String,
    #[serde(flatten)]
    inner: Inner,
}

#[derive(Serialize)]
struct Everything {
    flag: bool,
    small: i8,
    big: u128,
    neg: i128,
    real: f64,
    letter: char,
    unit: Unit,
    meters: Meters,
    pair: Pair,
    tuple: (u8, (), Option<i32>),
    shapes: Vec<Shape>,
    map: BTreeMap<i32, Vec<String>>,
    flat: Flat,
}

/// A sequence of unknown length: `collect_seq` over a filter.
struct Evens(Vec<i64>);

impl Serialize for Evens {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().filter(|v| *v % 2 == 0))
    }
}

/// A map of unknown length: `collect_map` over a filter.
struct Positive(HashMap<String, i64>);

impl Serialize for Positive {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().filter(|(_, v)| **v > 0))
    }
}

/// Declares one length and yields another.
struct Liar;

impl Serialize for Liar {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&1)?;
        seq.end()
    }
}

#[test]
fn typed_values_of_every_shape_are_rmp_serdes_bytes() {
    let shapes = vec![
        Shape::Dot,
        Shape::Circle(-0.5),
        Shape::Line(-129, i64::MIN),
        Shape::Rect { w: 70_000, h: None },
        Shape::Rect { w: 3, h: Some(200) },
    ];
    let value = Everything {
        flag: true,
        small: -33,
        big: u128::MAX - 7,
        neg: -5,
        real: 1e300,
        letter: 'é',
        unit: Unit,
        meters: Meters(2.5),
        pair: Pair(-32768, "x".repeat(40)),
        tuple: (255, (), Some(-2_147_483_648)),
        shapes,
        map: BTreeMap::from([(-1, vec!["a".into()]), (300, vec![])]),
        flat: Flat {
            name: "n".into(),
            inner: Inner {
                id: 1 << 40,
                note: Some("s".into()),
            },
        },
    };
    assert_eq!(ours(&value), theirs(&value));
    let big: Vec<u32> = (0..70_000).collect();
    assert_eq!(
        ours(&Evens(big.iter().map(|&v| i64::from(v)).collect())),
        theirs(&Evens(big.iter().map(|&v| i64::from(v)).collect()))
    );
    let text = "y".repeat(70_000);
    assert_eq!(ours(&text), theirs(&text));
    assert_eq!(
        ours(&serde_bytes_like(&[7; 300])),
        theirs(&serde_bytes_like(&[7; 300]))
    );
}

/// `&[u8]` as bytes (bin), as `serde_bytes` would.
fn serde_bytes_like(bytes: &[u8]) -> Value {
    Value::Binary(bytes.to_vec())
}

#[test]
fn a_count_other_than_declared_is_an_error_and_leaves_the_buffer() {
    let mut buf = vec![1, 2];
    let error = write(&mut buf, &Liar).expect_err("one of two");
    assert!(
        matches!(
            error.kind(),
            Kind::Count {
                declared: 2,
                written: 1
            }
        ),
        "{error:?}"
    );
    assert_eq!(buf, [1, 2]);
}

#[test]
fn an_ext_struct_that_is_not_i8_and_bytes_is_an_error() {
    #[derive(Serialize)]
    #[serde(rename = "_ExtStruct")]
    struct NotExt((u8, String));
    let error = write(&mut Vec::new(), &NotExt((1, "a".into()))).expect_err("not ext");
    assert!(matches!(error.kind(), Kind::Ext), "{error:?}");
    assert!(rmp_serde::to_vec_named(&NotExt((1, "a".into()))).is_err());
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-300i64..300).prop_map(Value::from),
        any::<f32>().prop_map(Value::F32),
        any::<f64>().prop_map(Value::F64),
        "[a-z]{0,40}|é".prop_map(Value::from),
        vec(any::<u8>(), 0..300).prop_map(Value::Binary),
        (any::<i8>(), vec(any::<u8>(), 0..300)).prop_map(|(t, d)| Value::Ext(t, d)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 20, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..20).prop_map(Value::Array),
            vec((inner.clone(), inner), 0..18).prop_map(Value::Map),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_values_are_rmp_serdes_bytes(value in value()) {
        prop_assert_eq!(ours(&value), theirs(&value));
    }

    #[test]
    fn typed_values_are_rmp_serdes_bytes(
        ints in vec(any::<i64>(), 0..40),
        map in proptest::collection::hash_map("[a-z]{0,3}", any::<i64>(), 0..20),
        wide in any::<i128>(),
        c in any::<char>(),
        w in any::<u32>(),
        h in any::<Option<u8>>(),
        x in any::<f64>(),
    ) {
        let shapes = vec![Shape::Dot, Shape::Circle(x), Shape::Line(w as i32, wide as i64), Shape::Rect { w, h }];
        prop_assert_eq!(ours(&shapes), theirs(&shapes));
        let evens = Evens(ints.clone());
        prop_assert_eq!(ours(&evens), theirs(&evens));
        let positive = Positive(map.clone());
        prop_assert_eq!(ours(&positive), theirs(&positive));
        prop_assert_eq!(ours(&map), theirs(&map));
        let nested = (wide, c, Unit, Meters(x as f32), Some(ints), Pair(w as i16, c.to_string()));
        prop_assert_eq!(ours(&nested), theirs(&nested));
        let flat = Flat { name: c.to_string(), inner: Inner { id: w.into(), note: h.map(|h| h.to_string()) } };
        prop_assert_eq!(ours(&flat), theirs(&flat));
    }
}
