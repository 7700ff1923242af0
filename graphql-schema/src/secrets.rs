//! Which fields of an entity are secrets, and in what form each is kept. A secret
//! is written once and never read back: API readers and dumps never see it, and a
//! document that leaves it out keeps the stored one.
//!
//! Two forms:
//! - **hashed**, what only needs comparing: a key-auth `key` is kept as
//!   `key_sha256`, a basic-auth `password` as `password_sha256` (salted with the
//!   consumer id). The node loads the hashed form as well as the written one, so
//!   neither the platform's database nor a node's disk cache holds these in clear.
//! - **sealed**, what must be used: a JWT HMAC `secret`, a certificate's `key` and
//!   `key_alt`, and the plugin config fields Kong marks `encrypted` (listed per
//!   plugin in [`crate::plugin_config::PLUGINS`]). The platform encrypts these at
//!   rest; nodes receive them over the mutually authenticated cluster link.

use serde_json::{Map, Value};

use crate::sync::Kind;

/// How a secret is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Replaced by a digest: `written` becomes `stored`.
    Hashed,
    /// Kept as written (encrypted at rest by the platform).
    Sealed,
}

/// One secret field: the path a user writes, the path it is stored at, other
/// stored forms that stand for it (Kong's own hash), and how it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub written: Vec<&'static str>,
    pub stored: Vec<&'static str>,
    pub also: Vec<Vec<&'static str>>,
    pub form: Form,
}

impl Secret {
    /// Every path this secret may be found at.
    fn paths(&self) -> impl Iterator<Item = &Vec<&'static str>> {
        std::iter::once(&self.written)
            .chain(std::iter::once(&self.stored))
            .chain(self.also.iter())
    }
}

fn sealed(path: Vec<&'static str>) -> Secret {
    Secret {
        written: path.clone(),
        stored: path,
        also: Vec::new(),
        form: Form::Sealed,
    }
}

/// The secrets of one entity (a plugin's depend on its `name`).
pub fn secrets(kind: Kind, data: &Value) -> Vec<Secret> {
    match kind {
        Kind::KeyAuthCredential => vec![Secret {
            written: vec!["key"],
            stored: vec!["key_sha256"],
            also: Vec::new(),
            form: Form::Hashed,
        }],
        Kind::BasicAuthCredential => vec![Secret {
            written: vec!["password"],
            stored: vec!["password_sha256"],
            also: vec![vec!["password_sha1"]],
            form: Form::Hashed,
        }],
        Kind::JwtSecret => vec![sealed(vec!["secret"])],
        Kind::ApplicationCredential => vec![Secret {
            written: vec!["key"],
            stored: vec!["key_sha256"],
            also: Vec::new(),
            form: Form::Hashed,
        }],
        Kind::Certificate => vec![sealed(vec!["key"]), sealed(vec!["key_alt"])],
        Kind::Plugin => data
            .get("name")
            .and_then(Value::as_str)
            .and_then(crate::plugin_config::info)
            .map(|p| {
                p.secrets
                    .iter()
                    .map(|s| {
                        let mut path = vec!["config"];
                        path.extend(s.split('.'));
                        sealed(path)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

/// The object holding the last segment of `path`, if every step exists.
fn parent_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let (_, init) = path.split_last()?;
    init.iter()
        .try_fold(v, |v, k| v.get_mut(*k))?
        .as_object_mut()
}

fn remove(v: &mut Value, path: &[&str]) -> Option<Value> {
    let last = path.last()?;
    parent_mut(v, path)?.remove(*last)
}

fn set(v: &mut Value, path: &[&str], x: Value) {
    if let (Some(last), Some(p)) = (path.last(), parent_mut(v, path)) {
        p.insert((*last).to_string(), x);
    }
}

/// The entity without its secrets (what readers and dumps get).
pub fn strip(kind: Kind, data: &Value) -> Value {
    let mut d = data.clone();
    for s in secrets(kind, data) {
        for p in s.paths() {
            remove(&mut d, p);
        }
    }
    d
}

/// Fills in the secrets a written entity leaves out from the stored one (a dump
/// applied back keeps its keys); a secret is left out when neither its written
/// nor its stored field is there, and its parent object is.
pub fn keep(kind: Kind, data: &mut Value, stored: &Value) {
    for s in secrets(kind, data) {
        if s.paths().any(|p| get(data, p).is_some()) {
            continue;
        }
        for p in s.paths() {
            if let Some(v) = get(stored, p) {
                set(data, p, v.clone());
            }
        }
    }
}

/// Replaces written hashed secrets by their digests (`key` -> `key_sha256`).
pub fn hash(kind: Kind, data: &mut Value) {
    for s in secrets(kind, data) {
        if s.form != Form::Hashed {
            continue;
        }
        // anything but a non-empty string is left for validation to name
        match get(data, &s.written) {
            Some(Value::String(c)) if !c.is_empty() => {}
            _ => continue,
        }
        let Some(Value::String(clear)) = remove(data, &s.written) else {
            continue;
        };
        let digest = match kind {
            Kind::BasicAuthCredential => {
                let consumer = data
                    .get("consumer")
                    .and_then(crate::sync::ref_id)
                    .unwrap_or_default();
                crate::entity::consumer::password_digest(consumer, &clear)
            }
            _ => crate::entity::consumer::digest(&clear),
        };
        set(data, &s.stored, Value::String(digest));
    }
}

/// The paths of the sealed secrets this entity holds (to encrypt at rest).
pub fn sealed_paths(kind: Kind, data: &Value) -> Vec<Vec<&'static str>> {
    secrets(kind, data)
        .into_iter()
        .filter(|s| s.form == Form::Sealed && get(data, &s.stored).is_some())
        .map(|s| s.stored)
        .collect()
}

/// Applies `f` to every sealed secret value of an entity, in place.
pub fn map_sealed<E>(
    kind: Kind,
    data: &mut Value,
    mut f: impl FnMut(&Value) -> Result<Value, E>,
) -> Result<(), E> {
    for path in sealed_paths(kind, data) {
        let Some(v) = get(data, &path) else { continue };
        let new = f(v)?;
        set(data, &path, new);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hashed_credentials_keep_only_digests() {
        let mut k = json!({"key": "s3cret", "consumer": {"id": "x"}});
        hash(Kind::KeyAuthCredential, &mut k);
        assert_eq!(
            k,
            json!({"key_sha256": crate::entity::consumer::digest("s3cret"), "consumer": {"id": "x"}})
        );
        let c = uuid::Uuid::new_v4();
        let mut b = json!({"username": "u", "password": "pw", "consumer": {"id": c.to_string()}});
        hash(Kind::BasicAuthCredential, &mut b);
        assert_eq!(
            b["password_sha256"],
            json!(crate::entity::consumer::password_digest(c, "pw"))
        );
        assert!(b.get("password").is_none());
    }

    #[test]
    fn plugin_secrets_are_stripped_and_kept() {
        let stored = json!({"name": "rate-limiting", "config": {"minute": 1, "policy": "redis", "redis": {"host": "r", "password": "pw"}}});
        let public = strip(Kind::Plugin, &stored);
        assert_eq!(public["config"]["redis"], json!({"host": "r"}));
        let mut again = public.clone();
        keep(Kind::Plugin, &mut again, &stored);
        assert_eq!(again, stored);
        // a new value wins over the stored one
        let mut changed =
            json!({"name": "rate-limiting", "config": {"redis": {"password": "new"}}});
        keep(Kind::Plugin, &mut changed, &stored);
        assert_eq!(changed["config"]["redis"]["password"], "new");
        assert_eq!(
            sealed_paths(Kind::Plugin, &stored),
            vec![vec!["config", "redis", "password"]]
        );
    }

    #[test]
    fn a_written_key_replaces_the_stored_digest() {
        let stored = json!({"key_sha256": "aa"});
        let mut d = json!({"key": "new"});
        keep(Kind::KeyAuthCredential, &mut d, &stored);
        assert!(d.get("key_sha256").is_none());
        let mut d = json!({});
        keep(Kind::KeyAuthCredential, &mut d, &stored);
        assert_eq!(d, stored);
    }
}
