//! How the request bodies of the HTTP API read what JSON allows in more than one way, so that
//! the server accepts exactly what its description (docs/openapi.json) allows:
//!
//! - `set` of a change names each field once, by its canonical name ([`canonical_field_map`]);
//!   a plain map would let the last of two equal keys win without a word, and would take the
//!   aliases and letter cases of the definition language, which the wire does not describe;
//! - whole numbers may be written as `195`, `195.0` or `1.95e2` ([`u64`], [`optional_u64`],
//!   [`optional_i64`]): to JSON Schema (and to a JavaScript client) these are the same
//!   integer, while serde alone refuses the last two.

use crate::field::Field;
use serde::de::{Error, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// `set` of a `VolumeChange`: canonical field names, each at most once.
pub fn canonical_field_map<'de, D>(
    deserializer: D,
) -> Result<BTreeMap<Field, Option<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct FieldMap;
    impl<'de> Visitor<'de> for FieldMap {
        type Value = BTreeMap<Field, Option<String>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of field names to values")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut set = BTreeMap::new();
            while let Some(name) = map.next_key::<String>()? {
                let field = Field::by_canonical_name(&name)
                    .ok_or_else(|| A::Error::custom(Field::not_canonical_message(&name)))?;
                let value: Option<String> = map.next_value()?;
                if set.insert(field, value).is_some() {
                    return Err(A::Error::custom(format!("field `{name}` is set twice")));
                }
            }
            Ok(set)
        }
    }
    deserializer.deserialize_map(FieldMap)
}

/// A whole number in `[min, max]`, whatever its JSON notation.
struct Whole {
    min: i128,
    max: i128,
}

impl Visitor<'_> for Whole {
    type Value = i128;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a whole number from {} to {}", self.min, self.max)
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<i128, E> {
        self.in_range(i128::from(v))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<i128, E> {
        self.in_range(i128::from(v))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<i128, E> {
        // Every f64 beyond 2^53 is whole; the range check below keeps the cast exact (an f64
        // inside ±2^127 converts to i128 without loss).
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 2f64.powi(127) {
            self.in_range(v as i128)
        } else {
            Err(E::custom(format!("{v} is not {}", Expecting(&self))))
        }
    }
}

impl Whole {
    fn in_range<E: Error>(&self, v: i128) -> Result<i128, E> {
        if (self.min..=self.max).contains(&v) {
            Ok(v)
        } else {
            Err(E::custom(format!("{v} is not {}", Expecting(self))))
        }
    }
}

struct Expecting<'a>(&'a Whole);

impl fmt::Display for Expecting<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }
}

const U64: Whole = Whole {
    min: 0,
    max: u64::MAX as i128,
};
const I64: Whole = Whole {
    min: i64::MIN as i128,
    max: i64::MAX as i128,
};

struct WholeU64(u64);

impl<'de> Deserialize<'de> for WholeU64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<WholeU64, D::Error> {
        let v = d.deserialize_any(U64)?;
        Ok(WholeU64(u64::try_from(v).map_err(D::Error::custom)?))
    }
}

struct WholeI64(i64);

impl<'de> Deserialize<'de> for WholeI64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<WholeI64, D::Error> {
        let v = d.deserialize_any(I64)?;
        Ok(WholeI64(i64::try_from(v).map_err(D::Error::custom)?))
    }
}

/// A `u64` member.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    WholeU64::deserialize(d).map(|w| w.0)
}

/// An optional `u64` member (`null` or absent is `None`; pair with `#[serde(default)]`).
pub fn optional_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<WholeU64>::deserialize(d).map(|o| o.map(|w| w.0))
}

/// An optional `i64` member (`null` or absent is `None`; pair with `#[serde(default)]`).
pub fn optional_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<WholeI64>::deserialize(d).map(|o| o.map(|w| w.0))
}
