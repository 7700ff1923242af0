//! A change to the catalog, computed against the current snapshot by a domain
//! function and committed by the catalog actor in one transaction: records to
//! write and delete, spec contents, and what it means to portal readers.

use std::sync::Arc;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::model::{Data, Entry};
use super::view::Catalog;
use crate::error::{Error, Field};

/// What a commit means to portal readers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogEvent {
    /// An API's fields, versions or documents changed.
    ApiChanged {
        api: Uuid,
    },
    ApiPublished {
        api: Uuid,
        portal: Uuid,
    },
    ApiUnpublished {
        api: Uuid,
        portal: Uuid,
    },
    /// A page or snippet changed (created, updated, deleted).
    PageChanged {
        portal: Uuid,
        page: Uuid,
    },
    /// A portal's own fields or look changed.
    PortalChanged {
        portal: Uuid,
    },
    /// An application, one of its registrations or credentials changed.
    ApplicationChanged {
        portal: Uuid,
        application: Uuid,
    },
}

#[derive(Default, Debug)]
pub struct Change {
    pub upserts: Vec<Entry>,
    pub deletes: Vec<Uuid>,
    /// Spec contents to store (`Some`) or drop (`None`), by API version id.
    pub contents: Vec<(Uuid, Option<String>)>,
    pub events: Vec<CatalogEvent>,
    /// The record the change is about (a create's new id).
    pub subject: Option<Uuid>,
}

/// A commit, as subscribers receive it.
#[derive(Clone, Debug)]
pub struct CatalogCommit {
    pub before: Arc<Catalog>,
    pub after: Arc<Catalog>,
    pub events: Vec<CatalogEvent>,
}

impl Change {
    /// Writes `data` as record `id` (new when `id` is `None`).
    pub fn put(&mut self, cat: &Catalog, id: Option<Uuid>, data: Data) -> Uuid {
        let now = crate::store::now_ms();
        let (id, seq, created_at) = match id.and_then(|i| cat.entry(i)) {
            Some(e) => (e.id, e.seq, e.created_at),
            None => (
                id.unwrap_or_else(Uuid::new_v4),
                cat.next_seq + self.upserts.len() as i64,
                now,
            ),
        };
        self.upserts.retain(|e| e.id != id);
        self.upserts.push(Entry {
            id,
            data,
            seq,
            created_at,
            updated_at: now,
        });
        self.subject.get_or_insert(id);
        id
    }

    /// Deletes `id` and everything that goes with it.
    pub fn delete(&mut self, cat: &Catalog, id: Uuid) {
        for d in cat.cascade(id) {
            if !self.deletes.contains(&d) {
                self.deletes.push(d);
            }
        }
        self.subject.get_or_insert(id);
    }

    pub fn event(&mut self, e: CatalogEvent) {
        if !self.events.contains(&e) {
            self.events.push(e);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty() && self.contents.is_empty()
    }

    /// The catalog after this change.
    pub fn applied(&self, cat: &Catalog, version: i64) -> Catalog {
        let mut next = cat.clone();
        for id in &self.deletes {
            next.entries.remove(id);
        }
        for e in &self.upserts {
            next.next_seq = next.next_seq.max(e.seq + 1);
            next.entries.insert(e.id, e.clone());
        }
        next.version = version;
        next
    }
}

// ---- field rules shared by the catalog's kinds

/// A required text of `min..=max` characters, without control characters.
pub fn text(field: &str, v: &str, min: usize, max: usize) -> Result<(), Error> {
    let n = v.chars().count();
    if n < min || n > max {
        return Err(Error::invalid(
            Field::Input(field.into()),
            if min > 0 {
                format!("{min} to {max} characters")
            } else {
                format!("at most {max} characters")
            },
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(Error::invalid(
            Field::Input(field.into()),
            "no control characters",
        ));
    }
    Ok(())
}

pub fn opt_text(field: &str, v: &Option<String>, max: usize) -> Result<(), Error> {
    match v {
        Some(v) => text(field, v, 0, max),
        None => Ok(()),
    }
}

/// Konnect's slugs: letters, digits, `_` and `-`.
pub fn slug_ok(field: &str, slug: &str) -> Result<(), Error> {
    if slug.is_empty()
        || slug.len() > 255
        || !slug
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Error::invalid(
            Field::Input(field.into()),
            "slug must match /^[\\w-]+$/ (letters, digits, _ and -)",
        ));
    }
    Ok(())
}

/// `My API` + `v1` -> `my-api-v1`.
pub fn slugify(parts: &[&str]) -> String {
    let mut out = String::new();
    for p in parts {
        for c in p.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let s = out.trim_matches('-').to_string();
    if s.is_empty() { "api".into() } else { s }
}

/// Konnect's labels (at most 50; keys 1-63 characters, not `kong`/`konnect`/
/// `mesh`/`kic`/`_`-prefixed; values 1-63 of `[a-zA-Z0-9-._]`).
pub fn labels_ok(labels: &Map<String, Value>) -> Result<(), Error> {
    crate::config::rules::check_labels(&Value::Object(labels.clone()))
}

/// Konnect's API attributes: up to 20 values per key, each 1-512 characters
/// without `,`, `<` or `>`.
pub fn attributes_ok(a: &std::collections::BTreeMap<String, Vec<String>>) -> Result<(), Error> {
    for (k, vs) in a {
        let path = format!("attributes.{k}");
        if k.is_empty()
            || k.len() > 128
            || !k
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(Error::invalid(
                Field::Input(path),
                "a key is 1 to 128 of a-z, 0-9, - and _",
            ));
        }
        if vs.is_empty() || vs.len() > 20 {
            return Err(Error::invalid(Field::Input(path), "1 to 20 values"));
        }
        for (i, v) in vs.iter().enumerate() {
            if v.is_empty() || v.chars().count() > 512 || v.contains([',', '<', '>']) {
                return Err(Error::invalid(
                    Field::Input(format!("{path}[{i}]")),
                    "1 to 512 characters, none of , < >",
                ));
            }
        }
    }
    Ok(())
}
