//! Plans: which stored entities a desired set creates, updates and deletes,
//! with ids settled (a stored entity's by its natural key, else the loader's
//! derived id) and references resolved to ids.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::document::Desired;
use super::{Kind, Record, ref_id};

/// What `apply` will do.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Plan {
    pub creates: Vec<PlanItem>,
    pub updates: Vec<PlanItem>,
    pub deletes: Vec<PlanItem>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanItem {
    pub kind: Kind,
    pub id: Uuid,
    pub name: Option<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }
}

/// Natural key of an entity whose references are already ids: how an entity in a
/// file without ids finds its stored counterpart.
pub fn natural_key(kind: Kind, data: &Map<String, Value>) -> Option<String> {
    let s = |f: &str| data.get(f).and_then(Value::as_str).map(str::to_string);
    let r = |f: &str| {
        data.get(f)
            .and_then(ref_id)
            .map(|u| u.to_string())
            .unwrap_or_default()
    };
    Some(match kind {
        Kind::Service | Kind::Route | Kind::Upstream | Kind::ConsumerGroup | Kind::Sni => {
            s("name")?
        }
        Kind::Consumer => {
            s("username").or_else(|| s("custom_id").map(|c| format!("custom:{c}")))?
        }
        Kind::Target => format!("{}|{}", r("upstream"), s("target")?),
        Kind::Certificate => s("cert")?,
        Kind::CaCertificate => s("cert")?,
        Kind::KeyAuthCredential => format!(
            "{}|{}",
            r("consumer"),
            s("key_sha256")
                .or_else(|| s("key").map(|k| graphql_schema::entity::consumer::digest(&k)))?
        ),
        Kind::BasicAuthCredential => s("username")?,
        Kind::JwtSecret => s("key")?,
        Kind::Acl => format!("{}|{}", r("consumer"), s("group")?),
        Kind::Application => s("name")?,
        Kind::ApplicationCredential => s("key_sha256")
            .or_else(|| s("key").map(|k| graphql_schema::entity::consumer::digest(&k)))?,
        Kind::Plugin => format!(
            "{}|{}|{}|{}|{}|{}",
            s("name")?,
            r("service"),
            r("route"),
            r("consumer"),
            r("consumer_group"),
            s("instance_name").unwrap_or_default()
        ),
    })
}

/// An entity with its id settled and its references as ids.
pub type Settled = (Kind, Uuid, Map<String, Value>);

/// Settles ids and references of flattened entities against the stored ones:
/// an entity without an id takes its stored counterpart's (by natural key) or a
/// new one; references by name become `{"id": ...}`. Errors are
/// `(kind key, message)`.
pub fn settle(
    desired: Vec<Desired>,
    existing: &[&Record],
    lookup: &[&Record],
    derived: &HashMap<&str, Uuid>,
) -> Result<Vec<Settled>, Vec<String>> {
    let mut errors = Vec::new();
    let mut names: HashMap<(Kind, String), Uuid> = HashMap::new();
    // entities the file may reference but does not manage (decK's
    // `default_lookup_tags`)
    for r in lookup {
        if let Some(n) = r.name() {
            names.insert((r.kind, n), r.id);
        }
        if let Some(c) = r.data.get("custom_id").and_then(Value::as_str) {
            names.insert((r.kind, format!("custom:{c}")), r.id);
        }
        names.insert((r.kind, r.id.to_string()), r.id);
    }
    let mut out: Vec<Settled> = Vec::new();
    let existing_keys: HashMap<(Kind, String), Uuid> = existing
        .iter()
        .filter_map(|r| {
            let m = r.data.as_object()?;
            Some(((r.kind, natural_key(r.kind, m)?), r.id))
        })
        .collect();
    // referenced kinds come first in KINDS, and flatten emits children after a
    // parent's own kind is reached, so a single pass in kind order resolves all
    let mut desired = desired;
    desired.sort_by_key(|d| d.kind);
    for d in desired {
        let mut m = d.data;
        for (field, target) in d.kind.references() {
            let Some(v) = m.get(*field).cloned() else {
                continue;
            };
            if v.is_null() {
                m.remove(*field);
                continue;
            }
            let id = ref_id(&v).or_else(|| {
                let key = match &v {
                    Value::String(s) => s.clone(),
                    Value::Object(o) => o
                        .get("name")
                        .or_else(|| o.get("username"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .or_else(|| {
                            o.get("custom_id")
                                .and_then(Value::as_str)
                                .map(|c| format!("custom:{c}"))
                        })
                        .or_else(|| {
                            o.get("cert")
                                .and_then(Value::as_str)
                                .map(|c| format!("cert:{c}"))
                        })?,
                    _ => return None,
                };
                names.get(&(*target, key)).copied()
            });
            match id {
                Some(id) => {
                    m.insert((*field).into(), json!({ "id": id.to_string() }));
                }
                None => errors.push(format!(
                    "{}: {field} {v} does not match any {}",
                    d.kind.key(),
                    target.key()
                )),
            }
        }
        if d.kind == Kind::Consumer
            && let Some(Value::Array(gs)) = m.get("groups").cloned()
        {
            let mut ids = Vec::new();
            for g in gs {
                let id = ref_id(&g).or_else(|| {
                    let n = g
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| g.get("name").and_then(Value::as_str).map(str::to_string))?;
                    names.get(&(Kind::ConsumerGroup, n)).copied()
                });
                match id {
                    Some(id) => ids.push(json!({ "id": id.to_string() })),
                    None => errors.push(format!(
                        "consumers: group {g} does not match any consumer_groups"
                    )),
                }
            }
            m.insert("groups".into(), Value::Array(ids));
        }
        let id = match m.get("id").and_then(Value::as_str) {
            Some(s) => match Uuid::parse_str(s) {
                Ok(u) => u,
                Err(_) => {
                    errors.push(format!("{}: id {s:?} is not a UUID", d.kind.key()));
                    continue;
                }
            },
            // the stored entity it stands for, else the id the loader derives
            // for it (the same on every apply and every node)
            None => natural_key(d.kind, &m)
                .and_then(|k| existing_keys.get(&(d.kind, k)).copied())
                .or_else(|| derived.get(d.source.as_str()).copied())
                .unwrap_or_else(Uuid::new_v4),
        };
        m.insert("id".into(), json!(id.to_string()));
        if let Some(f) = d.kind.name_field()
            && let Some(n) = m.get(f).and_then(Value::as_str)
        {
            names.insert((d.kind, n.to_string()), id);
        }
        if d.kind == Kind::Consumer
            && let Some(c) = m.get("custom_id").and_then(Value::as_str)
        {
            names.insert((d.kind, format!("custom:{c}")), id);
        }
        if d.kind == Kind::Certificate
            && let Some(c) = m.get("cert").and_then(Value::as_str)
        {
            names.insert((d.kind, format!("cert:{c}")), id);
        }
        names.insert((d.kind, id.to_string()), id);
        out.push((d.kind, id, m));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Two data objects are the same entity state (times aside).
pub fn same_data(a: &Value, b: &Value) -> bool {
    let clean = |v: &Value| {
        let mut v = v.clone();
        if let Value::Object(m) = &mut v {
            m.remove("created_at");
            m.remove("updated_at");
        }
        v
    };
    clean(a) == clean(b)
}
