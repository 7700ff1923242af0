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
    check_strings(value, path, errors);
    if let Some(tags) = map.get("tags") {
        check_tags(tags, &path.field("tags"), errors);
    }
    for (k, v) in map {
        // Kong's annotations, and `null` (what `deck dump` prints for an unset
        // field), which means "the default"
        if COMMENT_KEYS.contains(&k.as_str()) || v.is_null() {
            continue;
        }
        if known.contains(&k.as_str()) {
            clean.insert(k.clone(), without_nulls(v));
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

/// Keys Kong accepts on every entity and ignores.
pub const COMMENT_KEYS: [&str; 2] = ["_comment", "_ignore"];

/// A value with `null` members of its objects removed (at every depth; array
/// elements stay): an unset field takes its default.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        _ => v.clone(),
    }
}

/// The longest string any entity field may hold (a PEM chain, a template, a
/// termination body all fit).
pub const MAX_STRING_BYTES: usize = 256 * 1024;
/// How many tags an entity may carry, and how long each may be.
pub const MAX_TAGS: usize = 64;
pub const MAX_TAG_CHARS: usize = 128;

/// Every string anywhere in `v` is at most [`MAX_STRING_BYTES`] long.
fn check_strings(v: &Value, path: &Path, errors: &mut Errors) {
    match v {
        Value::String(s) if s.len() > MAX_STRING_BYTES => errors.add(
            path,
            format!("length must be at most {MAX_STRING_BYTES} bytes"),
        ),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                check_strings(x, &path.index(i), errors);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                check_strings(x, &path.field(k), errors);
            }
        }
        _ => {}
    }
}

/// Kong's tag rule (printable ASCII except `,` and `/`, or non-ASCII UTF-8; no
/// control characters), plus bounds on their number and length.
fn check_tags(tags: &Value, path: &Path, errors: &mut Errors) {
    let Value::Array(list) = tags else {
        return; // the typed read reports the wrong type
    };
    if list.len() > MAX_TAGS {
        errors.add(path, format!("at most {MAX_TAGS} tags"));
    }
    for (i, t) in list.iter().enumerate() {
        let Some(t) = t.as_str() else { continue };
        let ok = !t.is_empty()
            && t.chars().all(|c| {
                c == ' '
                    || (c.is_ascii_graphic() && c != ',' && c != '/')
                    || !c.is_ascii() && !c.is_control()
            });
        if !ok {
            errors.add(
                path.index(i),
                format!(
                    "invalid tag '{}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences",
                    t.escape_debug()
                ),
            );
        } else if t.chars().count() > MAX_TAG_CHARS {
            errors.add(
                path.index(i),
                format!("length must be at most {MAX_TAG_CHARS} characters"),
            );
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

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Tagged {
        tags: Option<Vec<String>>,
        text: Option<String>,
    }

    #[test]
    fn tags_follow_kong_and_strings_are_bounded() {
        let v = serde_json::json!({"tags": ["ok tag", "a,b", "x/y", "bell\u{7}", "", "ünï"], "text": "x".repeat(MAX_STRING_BYTES + 1)});
        let mut e = Errors::default();
        let _: Option<Tagged> = read_entity(&v, &Path::root().field("s"), &[], &mut e);
        let paths: Vec<&str> = e.list.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec!["s.text", "s.tags[1]", "s.tags[2]", "s.tags[3]", "s.tags[4]"],
            "{:?}",
            e.list
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
