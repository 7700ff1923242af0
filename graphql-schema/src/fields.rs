//! Typed reading of one entity out of a JSON value, reporting *every* unknown field
//! with its path (serde's `deny_unknown_fields` stops at the first) and type errors
//! with the path serde_path_to_error finds.

use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::Value;

use crate::error::{Errors, Path};

/// The field names a `#[derive(Deserialize)]` struct accepts, read from what serde
/// passes to `deserialize_struct`.
pub fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Capture(Option<&'static [&'static str]>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> de::Deserializer<'de> for &mut Capture {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut c = Capture(None);
    let _ = T::deserialize(&mut c);
    c.0.unwrap_or(&[])
}

/// Reads `value` (found at `path`) as a `T`. Unknown fields are reported one by one
/// (with `allowed_extra` keys tolerated, e.g. nested child lists handled by the
/// caller) and removed, then the rest is deserialised; `None` when that failed.
pub fn read_entity<T: DeserializeOwned>(
    value: &Value,
    path: &Path,
    allowed_extra: &[&str],
    errors: &mut Errors,
) -> Option<T> {
    let Value::Object(map) = value else {
        errors.add(path, format!("expected an object, got {}", kind(value)));
        return None;
    };
    let known = struct_fields::<T>();
    let mut clean = serde_json::Map::new();
    for (k, v) in map {
        if known.contains(&k.as_str()) {
            clean.insert(k.clone(), v.clone());
        } else if !allowed_extra.contains(&k.as_str()) {
            errors.add(path.field(k), "unknown field");
        }
    }
    // Unknown fields are already errors (so the config will not load); reading the
    // rest anyway lets the caller report its other problems in the same pass.
    read_value::<T>(Value::Object(clean), path, errors)
}

/// Deserialises a value, reporting a failure with the nested path serde reached.
pub fn read_value<T: DeserializeOwned>(
    value: Value,
    path: &Path,
    errors: &mut Errors,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(t) => Some(t),
        Err(e) => {
            let mut p = path.clone();
            for seg in e.path().iter() {
                p = match seg {
                    serde_path_to_error::Segment::Seq { index } => p.index(*index),
                    serde_path_to_error::Segment::Map { key } => p.field(key),
                    serde_path_to_error::Segment::Enum { variant } => p.field(variant),
                    serde_path_to_error::Segment::Unknown => p,
                };
            }
            errors.add(p, clean_serde_message(&e.into_inner().to_string()));
            None
        }
    }
}

fn clean_serde_message(msg: &str) -> String {
    // serde_json appends " at line 1 column 2" for values parsed from text; our values
    // are already trees, so drop positions that would only confuse.
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: Option<u32>,
        #[serde(default)]
        b: Vec<String>,
    }

    #[test]
    fn lists_struct_fields() {
        assert_eq!(struct_fields::<T>(), &["a", "b"]);
    }

    #[test]
    fn reports_every_unknown_field_and_type_errors_with_paths() {
        let v = serde_json::json!({"a": "x", "zz": 1, "yy": 2});
        let mut e = Errors::default();
        let r: Option<T> = read_entity(&v, &Path::root().field("things").index(3), &[], &mut e);
        assert!(r.is_none()); // `a` has the wrong type
        let msgs: Vec<String> = e.list.iter().map(|e| e.to_string()).collect();
        assert!(
            msgs.contains(&"things[3].zz: unknown field".to_string()),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"things[3].yy: unknown field".to_string()),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("things[3].a: invalid type")),
            "{msgs:?}"
        );
    }

    #[test]
    fn nested_type_error_path() {
        let v = serde_json::json!({"b": ["ok", 3]});
        let mut e = Errors::default();
        let r: Option<T> = read_entity(&v, &Path::root().field("x"), &[], &mut e);
        assert!(r.is_none());
        assert!(e.list[0].path == "x.b[1]", "{:?}", e.list);
    }
}
