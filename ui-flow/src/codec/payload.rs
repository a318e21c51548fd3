//! Decoding application payloads with rmp-serde under an error type of our
//! own, so that a payload of the wrong type is described without formatting
//! the value that was found.
//!
//! serde describes a type mismatch as "invalid type: floating point `1.5`,
//! expected i64" by formatting a `de::Unexpected` through the deserializer's
//! error type; rmp-serde's does that with `Display`, which brings the whole
//! float printer of `core` (about 18 KB of wasm) into every browser client.
//! [`PayloadError`] says "invalid type: a floating-point number, expected
//! i64" instead and otherwise keeps serde's and rmp-serde's texts word for
//! word.
//!
//! This is not a second MessagePack decoder: [`Lean`] wraps rmp-serde's
//! deserializer and passes every call through; only the error type the
//! application's `Deserialize` impls see is different.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Unexpected, Visitor};

use crate::quoted::Quoted;

/// Why a payload did not deserialize: the text of the first failure.
#[derive(Debug)]
pub(crate) struct PayloadError(pub(crate) String);

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PayloadError {}

impl de::Error for PayloadError {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PayloadError(msg.to_string())
    }

    #[cold]
    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        PayloadError(format!("invalid type: {}, expected {exp}", Found(unexp)))
    }

    #[cold]
    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        PayloadError(format!("invalid value: {}, expected {exp}", Found(unexp)))
    }
}

/// serde's description of what was found, except that a float is named
/// rather than printed.
struct Found<'a>(Unexpected<'a>);

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // serde's own `Display` for `Unexpected` cannot be called even for
        // the other variants: its float arm would link the float printer.
        match self.0 {
            Unexpected::Bool(b) => write!(f, "boolean `{b}`"),
            Unexpected::Unsigned(i) => write!(f, "integer `{i}`"),
            Unexpected::Signed(i) => write!(f, "integer `{i}`"),
            Unexpected::Float(_) => f.write_str("a floating-point number"),
            Unexpected::Char(c) => write!(f, "character `{c}`"),
            Unexpected::Str(s) => write!(f, "string {}", Quoted(s)),
            Unexpected::Bytes(_) => f.write_str("byte array"),
            Unexpected::Unit => f.write_str("unit value"),
            Unexpected::Option => f.write_str("Option value"),
            Unexpected::NewtypeStruct => f.write_str("newtype struct"),
            Unexpected::Seq => f.write_str("sequence"),
            Unexpected::Map => f.write_str("map"),
            Unexpected::Enum => f.write_str("enum"),
            Unexpected::UnitVariant => f.write_str("unit variant"),
            Unexpected::NewtypeVariant => f.write_str("newtype variant"),
            Unexpected::TupleVariant => f.write_str("tuple variant"),
            Unexpected::StructVariant => f.write_str("struct variant"),
            Unexpected::Other(other) => f.write_str(other),
        }
    }
}

/// Carries an error from one side of the wrapper to the other as its text.
#[cold]
fn convert<E: de::Error>(error: impl fmt::Display) -> E {
    E::custom(error)
}

/// Deserializes `T` from exactly one MessagePack value in `bytes`.
pub(crate) fn from_slice<'de, T: de::Deserialize<'de>>(
    bytes: &'de [u8],
) -> Result<T, PayloadError> {
    let mut inner = rmp_serde::Deserializer::from_read_ref(bytes);
    T::deserialize(Lean(&mut inner))
}

/// A deserializer whose error is [`PayloadError`], passing every call to the
/// deserializer it wraps.
pub(crate) struct Lean<D>(D);

/// A visitor, seed or access that the wrapper hands on in place of the
/// application's or the inner deserializer's own.
struct Wrap<T>(T);

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, PayloadError> {
            self.0.$method($($arg,)* Wrap(visitor)).map_err(convert)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Lean<D> {
    type Error = PayloadError;

    forward_deserialize! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
    }

    /// Skips the value with rmp-serde's own skipping (which cannot fail on
    /// a value's type, so prints nothing), then tells `visitor` it saw a
    /// unit: what a skipped value means to serde.
    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        self.0
            .deserialize_ignored_any(de::IgnoredAny)
            .map_err(convert::<PayloadError>)?;
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.0.$method::<PayloadError>(v).map_err(convert)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_none::<PayloadError>().map_err(convert)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_unit::<PayloadError>().map_err(convert)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.visit_some(Lean(deserializer)).map_err(convert)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        self.0
            .visit_newtype_struct(Lean(deserializer))
            .map_err(convert)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(Wrap(seq)).map_err(convert)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(Wrap(map)).map_err(convert)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.0.visit_enum(Wrap(data)).map_err(convert)
    }
}

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for Wrap<T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T::Value, D::Error> {
        self.0.deserialize(Lean(deserializer)).map_err(convert)
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Wrap<A> {
    type Error = PayloadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, PayloadError> {
        self.0.next_element_seed(Wrap(seed)).map_err(convert)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Wrap<A> {
    type Error = PayloadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, PayloadError> {
        self.0.next_key_seed(Wrap(seed)).map_err(convert)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, PayloadError> {
        self.0.next_value_seed(Wrap(seed)).map_err(convert)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Wrap<A> {
    type Error = PayloadError;
    type Variant = Wrap<A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), PayloadError> {
        self.0
            .variant_seed(Wrap(seed))
            .map(|(value, variant)| (value, Wrap(variant)))
            .map_err(convert)
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Wrap<A> {
    type Error = PayloadError;

    fn unit_variant(self) -> Result<(), PayloadError> {
        self.0.unit_variant().map_err(convert)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, PayloadError> {
        self.0.newtype_variant_seed(Wrap(seed)).map_err(convert)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        self.0.tuple_variant(len, Wrap(visitor)).map_err(convert)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        self.0
            .struct_variant(fields, Wrap(visitor))
            .map_err(convert)
    }
}

#[cfg(test)]
mod tests {
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
        let theirs = rmp_serde::from_slice::<Older>(truncated).expect_err("does not decode");
        assert_eq!(ours.to_string(), theirs.to_string());
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
    fn other_mismatches_keep_serdes_and_rmp_serdes_texts() {
        for bytes in [
            encode(&"text"),
            encode(&[1, 2]),
            encode(&BTreeMap::from([("w", 1)])),
            vec![0xc1],
            encode(&u64::MAX),
            encode(&-5i8),
            encode(&true),
            encode(&()),
        ] {
            let ours = from_slice::<Shape>(&bytes)
                .expect_err("does not decode")
                .to_string();
            let theirs = rmp_serde::from_slice::<Shape>(&bytes)
                .expect_err("does not decode")
                .to_string();
            assert_eq!(ours, theirs, "for {bytes:02x?}");
            let ours = from_slice::<(u8, bool)>(&bytes)
                .expect_err("does not decode")
                .to_string();
            let theirs = rmp_serde::from_slice::<(u8, bool)>(&bytes)
                .expect_err("does not decode")
                .to_string();
            assert_eq!(ours, theirs, "for {bytes:02x?}");
        }
    }
}
