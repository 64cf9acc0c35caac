//! Turning a hydrated automerge value into JSON, for serde decoding.
//! Whole-number floats become integers.

use automerge::ScalarValue;
use automerge::hydrate::Value;
use serde_json::Value as Json;

/// Text becomes a string, scalars their JSON counterpart; bytes, which no
/// Rapport field holds, become null.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Map(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_json(&v.value)))
                .collect(),
        ),
        Value::List(list) => Json::Array(list.iter().map(|v| to_json(&v.value)).collect()),
        Value::Text(text) => Json::String(text.to_string()),
        Value::Scalar(s) => scalar_to_json(s),
    }
}

/// A scalar's JSON counterpart, as [`to_json`] gives it.
pub fn scalar_to_json(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) => Json::from(*i),
        ScalarValue::Uint(u) => Json::from(*u),
        // No Rapport field is fractional; JS clients may write whole
        // numbers as floats.
        ScalarValue::F64(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Json::from(*f as i64),
        ScalarValue::F64(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        ScalarValue::Counter(c) => Json::from(i64::from(c)),
        ScalarValue::Timestamp(t) => Json::from(*t),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Null | ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } => Json::Null,
    }
}
