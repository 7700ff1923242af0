//! What Kong's declarative loader does to a file before it validates it, so a
//! file written for Kong means the same here:
//! - format `1.1` and `2.1` files have their route paths migrated as Kong 3.0
//!   migrates them (`kong/db/migrations/migrate_path_280_300.lua`): a path with
//!   regex characters becomes a `~` regex, a plain one is normalised;
//! - `_transform: false` (`kong config db_export`) means basic-auth passwords are
//!   Kong's stored hashes (SHA-1 of the password followed by the consumer id):
//!   they are read as `password_sha1`, never as a password;
//! - vault references (`{vault://...}`) are refused with their path: Portico has
//!   no vaults yet, and a reference kept as a literal would be a guessable secret.

use serde_json::Value;

use crate::error::{Errors, Path};

/// A file as Kong reads it (format migrated, `_transform: false` honoured):
/// what the platform flattens into entities, so it stores what the loader
/// validated. Problems (vault references) are left for the loader to report.
pub fn prepared(doc: &Value) -> Value {
    prepare(doc, &mut Errors::default()).unwrap_or_else(|| doc.clone())
}

/// The file ready to validate: `None` when it needs no change. Vault references
/// are reported to `errors`.
pub(super) fn prepare(doc: &Value, errors: &mut Errors) -> Option<Value> {
    refuse_vault_references(doc, &Path::root(), errors);
    let old_format = matches!(
        doc.get("_format_version").and_then(Value::as_str),
        Some("1.1" | "2.1")
    );
    let untransformed = doc.get("_transform") == Some(&Value::Bool(false));
    if !old_format && !untransformed {
        return None;
    }
    let mut doc = doc.clone();
    if old_format {
        for_each_route(&mut doc, |route| {
            if let Some(Value::Array(paths)) = route.get_mut("paths") {
                for p in paths.iter_mut() {
                    if let Value::String(s) = p {
                        *s = migrate_path(s);
                    }
                }
            }
        });
        if let Some(top) = doc.as_object_mut() {
            top.insert("_format_version".into(), Value::String("3.0".into()));
        }
    }
    if untransformed {
        untransform(&mut doc);
    }
    Some(doc)
}

/// Basic-auth credentials of a `_transform: false` file hold Kong's stored hash
/// in `password`: it becomes `password_sha1`.
pub fn untransform(doc: &mut Value) {
    if doc.get("_transform") != Some(&Value::Bool(false)) {
        return;
    }
    let rename = |c: &mut Value| {
        if let Some(m) = c.as_object_mut()
            && let Some(p) = m.remove("password")
        {
            m.insert("password_sha1".into(), p);
        }
    };
    if let Some(top) = doc.as_object_mut() {
        for c in top
            .get_mut("basicauth_credentials")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            rename(c);
        }
        for consumer in top
            .get_mut("consumers")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for c in consumer
                .get_mut("basicauth_credentials")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                rename(c);
            }
        }
        top.insert("_transform".into(), Value::Bool(true));
    }
}

fn for_each_route(doc: &mut Value, mut f: impl FnMut(&mut Value)) {
    let Some(top) = doc.as_object_mut() else {
        return;
    };
    for r in top
        .get_mut("routes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        f(r);
    }
    for s in top
        .get_mut("services")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for r in s
            .get_mut("routes")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            f(r);
        }
    }
}

/// A Kong 2.x route path as Kong 3.0 reads it: a path of plain characters only
/// (letters, digits, `.-_~/%`) is normalised; any other is a regex and gets `~`,
/// with percent-escapes decoded (escaped when they decode to a regex
/// metacharacter, kept when they decode to a reserved character).
pub fn migrate_path(path: &str) -> String {
    let plain = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-~/%".contains(&b));
    if plain {
        return crate::uri::normalize(path).into_owned();
    }
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len() + 1);
    out.push('~');
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            let c = h * 16 + l;
            if b"!#$%&'()*+,/:;=?@[]".contains(&c) {
                out.push('%');
                out.push(char::from(b[i + 1].to_ascii_uppercase()));
                out.push(char::from(b[i + 2].to_ascii_uppercase()));
            } else if b".^-{}\\|".contains(&c) {
                out.push('\\');
                out.push(char::from(c));
            } else {
                out.push(char::from(c));
            }
            i += 3;
            continue;
        }
        // copy one UTF-8 character
        let len = utf8_len(b[i]);
        out.push_str(path.get(i..i + len).unwrap_or(""));
        i += len.max(1);
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

/// Strings that are vault references, anywhere in the file.
fn refuse_vault_references(v: &Value, path: &Path, errors: &mut Errors) {
    match v {
        Value::String(s) if s.trim_start().starts_with("{vault://") => errors.add(
            path,
            format!(
                "'{}' is a vault reference; Portico has no vaults yet: write the value itself (secret fields are stored encrypted)",
                s.trim()
            ),
        ),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                refuse_vault_references(x, &path.index(i), errors);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                refuse_vault_references(x, &path.field(k), errors);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_migrate_as_kong_migrates_them() {
        // rows from Kong's on-the-fly migration spec and migrate_path_280_300
        for (old, new) in [
            ("/prefix", "/prefix"),
            ("/regex.+", "~/regex.+"),
            ("/users/\\d+$", "~/users/\\d+$"),
            ("/a/./b/../c", "/a/c"),
            ("/caf%65", "/cafe"),
            ("/x%2Fy", "/x%2Fy"),
            ("/v1/(?<id>[^/]+)", "~/v1/(?<id>[^/]+)"),
            ("/a%2e*", "~/a\\.*"),
            ("/b%2f*", "~/b%2F*"),
        ] {
            assert_eq!(migrate_path(old), new, "{old}");
        }
    }

    #[test]
    fn vault_references_are_refused_where_they_are() {
        let doc = serde_json::json!({"consumers": [{"username": "u", "jwt_secrets": [{"key": "k", "secret": "{vault://env/JWT}"}]}]});
        let mut e = Errors::default();
        prepare(&doc, &mut e);
        assert_eq!(e.list[0].path, "consumers[0].jwt_secrets[0].secret");
    }
}
