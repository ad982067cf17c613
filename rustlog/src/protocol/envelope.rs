//! Reading a request line into its typed request without building a `serde_json::Value` tree.
//!
//! A line carries the envelope fields `op` and `id` beside the operation's own fields, and the
//! operation's type is only known once `op` is read. Two paths do that:
//!
//! - One pass, [`read_op_first`]: when `op` is the first field, as this crate's client writes
//!   every request, the rest of the object goes straight into the operation's type. Anything
//!   unusual (another field first, an invalid field, an unknown op) makes it give up.
//! - Two passes, [`Envelope`] then [`read_body`]: the first reads only `op` and `id` and skips
//!   every other field without building it. The second reads the line again into the
//!   operation's type. This path accepts the fields in any order and produces the error messages.
//!
//! Both read the operation's fields through [`WithoutEnvelope`], which leaves `op` and `id` out,
//! so the request types keep `#[serde(deny_unknown_fields)]` and still reject any field that the
//! operation does not define.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::Request;

/// The two fields every request line may carry; the first of the two passes reads only these.
#[derive(Deserialize)]
pub(super) struct Envelope {
    /// `Some(Value::Null)` for `"id": null`, so the response echoes the null.
    #[serde(default, deserialize_with = "present")]
    pub(super) id: Option<Value>,
    #[serde(default)]
    pub(super) op: Option<Value>,
}

/// Deserializes a field that is present, null included, as `Some`, so a response can tell
/// `"id": null` from a missing `id`. The client reads response envelopes with it too.
pub(crate) fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// Reads a valid request whose first field is `op` in one pass, and returns its `id` and the
/// request. Returns `None` for any other line, which the caller then reads in two passes.
pub(super) fn read_op_first(line: &[u8]) -> Option<(Option<Value>, Request)> {
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    let read = deserializer.deserialize_map(OpFirstVisitor).ok()?;
    deserializer.end().ok()?;
    Some(read)
}

struct OpFirstVisitor;

impl<'de> Visitor<'de> for OpFirstVisitor {
    type Value = (Option<Value>, Request);

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object whose first field is `op`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if map.next_key::<String>()?.as_deref() != Some("op") {
            return Err(A::Error::custom("`op` is not the first field"));
        }
        let op: String = map.next_value()?;

        let mut fields = WithoutEnvelope::new(map, true);
        let request = request_from_fields(&op, &mut fields)?;
        Ok((fields.id, request))
    }
}

/// Reads the fields of a request for `op` from the whole line, skipping `op` and `id`.
///
/// # Errors
///
/// serde_json's error for invalid JSON, a missing, extra or invalid field, or an unknown `op`.
pub(super) fn read_body(op: &str, line: &[u8]) -> Result<Request, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    let request = deserializer.deserialize_map(BodyVisitor { op })?;
    deserializer.end()?;
    Ok(request)
}

struct BodyVisitor<'a> {
    op: &'a str,
}

impl<'de> Visitor<'de> for BodyVisitor<'_> {
    type Value = Request;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Request, A::Error> {
        request_from_fields(self.op, &mut WithoutEnvelope::new(map, false))
    }
}

/// Deserializes the request type of `op` from `fields`.
fn request_from_fields<'de, A: MapAccess<'de>>(
    op: &str,
    fields: &mut WithoutEnvelope<A>,
) -> Result<Request, A::Error> {
    let fields = MapAccessDeserializer::new(fields);
    let request = match op {
        "produce" => Request::Produce(Deserialize::deserialize(fields)?),
        "fetch" => Request::Fetch(Deserialize::deserialize(fields)?),
        "commit" => Request::Commit(Deserialize::deserialize(fields)?),
        "committed" => Request::Committed(Deserialize::deserialize(fields)?),
        "metadata" => Request::Metadata(Deserialize::deserialize(fields)?),
        "offsets" => Request::Offsets(Deserialize::deserialize(fields)?),
        unknown => return Err(A::Error::custom(format!("unknown op `{unknown}`"))),
    };
    Ok(request)
}

/// The fields of a request object with `op` and `id` left out. It keeps the `id` it skips, and
/// rejects a second `op` or `id` as a derived struct would.
struct WithoutEnvelope<A> {
    map: A,
    op_seen: bool,
    id: Option<Value>,
}

impl<A> WithoutEnvelope<A> {
    fn new(map: A, op_seen: bool) -> WithoutEnvelope<A> {
        WithoutEnvelope {
            map,
            op_seen,
            id: None,
        }
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WithoutEnvelope<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.map.next_key::<String>()? {
            match key.as_str() {
                "op" if self.op_seen => return Err(A::Error::duplicate_field("op")),
                "op" => {
                    self.op_seen = true;
                    self.map.next_value::<IgnoredAny>()?;
                }
                "id" if self.id.is_some() => return Err(A::Error::duplicate_field("id")),
                "id" => self.id = Some(self.map.next_value()?),
                _ => {
                    let key = IntoDeserializer::<A::Error>::into_deserializer(key);
                    return seed.deserialize(key).map(Some);
                }
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}
