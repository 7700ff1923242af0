//! A control plane's configuration as the platform holds it: flat entities in
//! Kong's JSON form (references as `{"id": ...}`), the decK document built from
//! them (what the node loads and what validation runs on), flattening of a user's
//! nested decK file, and the plan that turns one state into another.

use std::collections::{HashMap, HashSet};

pub use graphql_schema::secrets::hash as hash_secrets;
pub use graphql_schema::sync::{KINDS, Kind, Record, document, ref_id, strip_secrets};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Validates a document with the same loader the node uses.
pub fn validate(doc: &Value) -> Result<graphql_schema::Config, Vec<graphql_schema::InvalidField>> {
    graphql_schema::deck::load_value(doc)
        .map(|l| l.config)
        .map_err(|e| e.errors)
}

/// A validation error re-addressed to the entity a mutation touched:
/// `routes[3].paths[0]` becomes `paths[0]` of that route.
pub fn relative_path(path: &str, entity_path: &str) -> Option<String> {
    let rest = path.strip_prefix(entity_path)?;
    if rest.is_empty() {
        return Some(String::new());
    }
    if let Some(r) = rest.strip_prefix('.') {
        return Some(r.to_string());
    }
    rest.starts_with('[').then(|| rest.to_string())
}

// ---------------------------------------------------------------------------
// Flattening a user's decK file

/// An entity read from a decK file, before ids are settled: references are as the
/// user wrote them (a name, an id, or `{name|id|username}`).
#[derive(Clone, Debug)]
pub struct Desired {
    pub kind: Kind,
    pub data: Map<String, Value>,
    /// Where it sits in the file (`services[0].routes[1]`): the loader derives
    /// the id of an entity the file gives none from this.
    pub source: String,
}

/// Splits a (valid) decK document into flat entities: nested routes, targets,
/// snis, credentials and plugins get a reference to their parent. Entities come
/// out in the order the loader reads them, so that both number them alike.
pub fn flatten(doc: &Value, derived: &HashMap<&str, Uuid>) -> Vec<Desired> {
    let mut out = Vec::new();
    let Some(top) = doc.as_object() else {
        return out;
    };
    let items = |v: Option<&Value>| -> Vec<Map<String, Value>> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_object().cloned()).collect())
            .unwrap_or_default()
    };
    // a reference to a parent: by id when the file gives one, else by name,
    // else by the id the loader derives for it
    let parent_ref = |m: &Map<String, Value>, name_field: &str, path: &str| -> Value {
        match m.get("id").and_then(Value::as_str) {
            Some(id) => json!({ "id": id }),
            None => match (m.get(name_field), derived.get(path)) {
                (Some(n), _) => json!({ "name": n }),
                (None, Some(id)) => json!({ "id": id.to_string() }),
                (None, None) => Value::Null,
            },
        }
    };
    // plugins nested in an entity, in the order the loader collects them
    let mut nested_plugins: Vec<Desired> = Vec::new();
    let take_plugins = |plugins: &mut Vec<Desired>,
                        parent: &mut Map<String, Value>,
                        parent_path: &str,
                        field: &str,
                        r: Value| {
        for (i, mut p) in items(parent.remove("plugins").as_ref())
            .into_iter()
            .enumerate()
        {
            p.insert(field.into(), r.clone());
            plugins.push(Desired {
                kind: Kind::Plugin,
                data: p,
                source: format!("{parent_path}.plugins[{i}]"),
            });
        }
    };
    // group memberships listed in a group or as `consumer_group_consumers`:
    // (group reference, consumer reference), added to the consumers' `groups`
    let mut members: Vec<(Value, Value)> = Vec::new();
    for m in items(top.get("consumer_group_consumers")) {
        if let (Some(g), Some(c)) = (m.get("consumer_group"), m.get("consumer")) {
            members.push((g.clone(), c.clone()));
        }
    }
    // routes nested in services: read after all services, as the loader does
    let mut nested_routes: Vec<Desired> = Vec::new();
    for kind in KINDS {
        // nested plugins come before the top-level list
        if *kind == Kind::Plugin {
            out.append(&mut nested_plugins);
        }
        if *kind == Kind::Route {
            for mut route in std::mem::take(&mut nested_routes) {
                let path = route.source.clone();
                let rr = parent_ref(&route.data, "name", &path);
                take_plugins(&mut nested_plugins, &mut route.data, &path, "route", rr);
                out.push(route);
            }
        }
        for (i, mut m) in items(top.get(kind.key())).into_iter().enumerate() {
            let path = format!("{}[{i}]", kind.key());
            match kind {
                Kind::Service => {
                    let r = parent_ref(&m, "name", &path);
                    take_plugins(&mut nested_plugins, &mut m, &path, "service", r.clone());
                    for (j, mut route) in items(m.remove("routes").as_ref()).into_iter().enumerate()
                    {
                        route.insert("service".into(), r.clone());
                        nested_routes.push(Desired {
                            kind: Kind::Route,
                            data: route,
                            source: format!("{path}.routes[{j}]"),
                        });
                    }
                }
                Kind::Route => {
                    let r = parent_ref(&m, "name", &path);
                    take_plugins(&mut nested_plugins, &mut m, &path, "route", r);
                }
                Kind::Upstream => {
                    let r = parent_ref(&m, "name", &path);
                    for (j, mut t) in items(m.remove("targets").as_ref()).into_iter().enumerate() {
                        t.insert("upstream".into(), r.clone());
                        out.push(Desired {
                            kind: Kind::Target,
                            data: t,
                            source: format!("{path}.targets[{j}]"),
                        });
                    }
                }
                Kind::Certificate => {
                    // a certificate has no name: without an id, its PEM names it
                    let r = match (
                        m.get("id").and_then(Value::as_str),
                        derived.get(path.as_str()),
                    ) {
                        (Some(id), _) => json!({ "id": id }),
                        (None, Some(id)) => json!({ "id": id.to_string() }),
                        (None, None) => match m.get("cert") {
                            Some(c) => json!({ "cert": c }),
                            None => Value::Null,
                        },
                    };
                    let snis = m
                        .remove("snis")
                        .and_then(|v| v.as_array().cloned())
                        .unwrap_or_default();
                    for (j, s) in snis.into_iter().enumerate() {
                        let mut sm = match s {
                            Value::String(n) => {
                                let mut x = Map::new();
                                x.insert("name".into(), Value::String(n));
                                x
                            }
                            Value::Object(o) => o,
                            _ => continue,
                        };
                        sm.insert("certificate".into(), r.clone());
                        out.push(Desired {
                            kind: Kind::Sni,
                            data: sm,
                            source: format!("{path}.snis[{j}]"),
                        });
                    }
                }
                Kind::ConsumerGroup => {
                    let r = parent_ref(&m, "name", &path);
                    for c in m
                        .remove("consumers")
                        .and_then(|v| v.as_array().cloned())
                        .unwrap_or_default()
                    {
                        members.push((r.clone(), c));
                    }
                    take_plugins(&mut nested_plugins, &mut m, &path, "consumer_group", r);
                }
                Kind::Consumer => {
                    let r = match m.get("id").and_then(Value::as_str) {
                        Some(id) => json!({ "id": id }),
                        None => match (m.get("username"), m.get("custom_id")) {
                            (Some(u), _) => json!({ "username": u }),
                            (None, Some(c)) => json!({ "custom_id": c }),
                            _ => Value::Null,
                        },
                    };
                    for ck in KINDS.iter().filter(|k| k.is_credential()) {
                        for (j, mut c) in items(m.remove(ck.key()).as_ref()).into_iter().enumerate()
                        {
                            c.insert("consumer".into(), r.clone());
                            out.push(Desired {
                                kind: *ck,
                                data: c,
                                source: format!("{path}.{}[{j}]", ck.key()),
                            });
                        }
                    }
                    take_plugins(&mut nested_plugins, &mut m, &path, "consumer", r);
                }
                _ => {}
            }
            out.push(Desired {
                kind: *kind,
                data: m,
                source: path,
            });
        }
    }
    for (group, consumer) in members {
        let names = |c: &Map<String, Value>| -> bool {
            let id = c.get("id").and_then(Value::as_str);
            let username = c.get("username").and_then(Value::as_str);
            match &consumer {
                Value::String(s) => id == Some(s) || username == Some(s),
                Value::Object(o) => {
                    match (o.get("id"), o.get("username").or_else(|| o.get("name"))) {
                        (Some(i), _) => id == i.as_str(),
                        (None, Some(u)) => username == u.as_str(),
                        _ => false,
                    }
                }
                _ => false,
            }
        };
        if let Some(d) = out
            .iter_mut()
            .find(|d| d.kind == Kind::Consumer && names(&d.data))
        {
            let groups = d
                .data
                .entry("groups")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = groups
                && !a.contains(&group)
            {
                a.push(group);
            }
        }
    }
    // Kong's annotations and unset (`null`) fields are not stored
    for d in &mut out {
        d.data.retain(|k, v| {
            !graphql_schema::fields::COMMENT_KEYS.contains(&k.as_str()) && !v.is_null()
        });
    }
    out
}

/// What `apply` will do.
#[derive(Clone, Debug, Default, Serialize, Deserialize, async_graphql::SimpleObject)]
pub struct Plan {
    pub creates: Vec<PlanItem>,
    pub updates: Vec<PlanItem>,
    pub deletes: Vec<PlanItem>,
}

#[derive(Clone, Debug, Serialize, Deserialize, async_graphql::SimpleObject)]
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

/// Whether `r` belongs to an apply limited to `select_tags` (all of them).
pub fn owned(r: &Record, select_tags: &[String]) -> bool {
    let tags = r.tags();
    select_tags.iter().all(|t| tags.contains(t))
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

/// The select tags of an apply: decK's `--select-tag` (`flag`) and the file's
/// `_info.select_tags`; when both are given they must be the same set.
pub fn select_tags(doc: &Value, flag: Vec<String>) -> Result<Vec<String>, String> {
    let mut file: Vec<String> = doc
        .pointer("/_info/select_tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    file.sort();
    file.dedup();
    let mut flag = flag;
    flag.sort();
    flag.dedup();
    match (file.is_empty(), flag.is_empty()) {
        (true, _) => Ok(flag),
        (false, true) => Ok(file),
        (false, false) if file == flag => Ok(file),
        _ => Err(format!(
            "tags in the file's _info.select_tags ({file:?}) and the select tags given ({flag:?}) differ; give them in one place, or the same in both"
        )),
    }
}

/// decK's `_info.default_lookup_tags`: stored entities of these kinds carrying
/// all the listed tags may be referenced by the file without being managed by it.
pub fn lookup_records<'a>(
    doc: &Value,
    records: impl Iterator<Item = &'a Record>,
) -> Vec<&'a Record> {
    let Some(info) = doc.pointer("/_info/default_lookup_tags") else {
        return Vec::new();
    };
    let tags_of = |k: Kind| -> Option<Vec<String>> {
        let a = info.get(k.key())?.as_array()?;
        Some(
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
        )
    };
    let wanted: HashMap<Kind, Vec<String>> = [
        Kind::Service,
        Kind::Route,
        Kind::Consumer,
        Kind::ConsumerGroup,
    ]
    .into_iter()
    .filter_map(|k| Some((k, tags_of(k)?)))
    .filter(|(_, t)| !t.is_empty())
    .collect();
    records
        .filter(|r| wanted.get(&r.kind).is_some_and(|t| owned(r, t)))
        .collect()
}

/// The user's document with the stored entities it does not manage appended,
/// so the loader checks the file's references against the whole plane (and
/// reports problems at the file's own paths, which come first).
pub fn with_unmanaged<'a>(doc: &Value, unmanaged: impl Iterator<Item = &'a Record>) -> Value {
    let (extra, _) = document(unmanaged, true);
    let mut out = doc.clone();
    let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) else {
        return out;
    };
    for (k, v) in e {
        if k.starts_with('_') {
            continue;
        }
        let Value::Array(items) = v else { continue };
        if items.is_empty() {
            continue;
        }
        match o.entry(k).or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(a) => a.extend(items),
            other => *other = Value::Array(items),
        }
    }
    out
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

/// Fills in secrets a dump left out, from the stored entity.
pub fn keep_secrets(kind: Kind, data: &mut Map<String, Value>, stored: &Value) {
    let mut v = Value::Object(std::mem::take(data));
    graphql_schema::secrets::keep(kind, &mut v, stored);
    if let Value::Object(m) = v {
        *data = m;
    }
}

/// A dump leaves secrets out: fills them back into a user's document from the
/// stored entities with the same ids (at any depth: credentials in consumers,
/// plugins in services, routes, consumers and groups), so a dump applies back
/// unchanged.
pub fn fill_secrets(doc: &mut Value, records: &HashMap<Uuid, Record>) {
    fn walk(v: &mut Value, records: &HashMap<Uuid, Record>, depth: usize) {
        // decK nests at most service > route > plugin
        if depth > 4 {
            return;
        }
        match v {
            Value::Array(items) => {
                for it in items {
                    walk(it, records, depth);
                }
            }
            Value::Object(m) => {
                let stored = m
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .and_then(|id| records.get(&id));
                if let Some(r) = stored {
                    keep_secrets(r.kind, m, &r.data);
                }
                for (k, child) in m.iter_mut() {
                    if child.is_array() && k != "config" {
                        walk(child, records, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(top) = doc.as_object_mut() {
        for (k, v) in top.iter_mut() {
            if !k.starts_with('_') {
                walk(v, records, 0);
            }
        }
    }
}

/// Entities deleted along with `id` (Kong's cascades): plugins scoped to it,
/// credentials of a consumer, targets of an upstream, snis of a certificate.
pub fn cascade<'a>(records: impl Iterator<Item = &'a Record> + Clone, id: Uuid) -> Vec<Uuid> {
    let mut out = vec![id];
    let mut seen: HashSet<Uuid> = HashSet::from([id]);
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        i += 1;
        for r in records.clone() {
            if seen.contains(&r.id) {
                continue;
            }
            let cascades = match r.kind {
                Kind::Plugin => r
                    .kind
                    .references()
                    .iter()
                    .any(|(f, _)| r.reference(f) == Some(parent)),
                Kind::KeyAuthCredential
                | Kind::BasicAuthCredential
                | Kind::JwtSecret
                | Kind::Acl => r.reference("consumer") == Some(parent),
                Kind::Target => r.reference("upstream") == Some(parent),
                Kind::Sni => r.reference("certificate") == Some(parent),
                _ => false,
            };
            if cascades {
                seen.insert(r.id);
                out.push(r.id);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_match_whole_segments() {
        assert_eq!(
            relative_path("routes[1].paths[0]", "routes[1]"),
            Some("paths[0]".into())
        );
        assert_eq!(relative_path("routes[10].paths[0]", "routes[1]"), None);
        assert_eq!(relative_path("routes[1]", "routes[1]"), Some(String::new()));
        assert_eq!(
            relative_path(
                "consumers[0].keyauth_credentials[2].key",
                "consumers[0].keyauth_credentials[2]"
            ),
            Some("key".into())
        );
    }

    #[test]
    fn flatten_gives_children_a_parent_reference() {
        let doc = json!({
            "_format_version": "3.0",
            "services": [{"name": "s", "url": "http://x", "routes": [{"name": "r", "paths": ["/"], "plugins": [{"name": "cors"}]}]}],
            "upstreams": [{"name": "u", "targets": [{"target": "127.0.0.1:1"}]}],
            "consumers": [{"username": "c", "keyauth_credentials": [{"key": "k"}], "plugins": [{"name": "acl", "config": {"allow": ["x"]}}]}],
        });
        let flat = flatten(&doc, &HashMap::new());
        let mut kinds: Vec<Kind> = flat.iter().map(|d| d.kind).collect();
        kinds.sort();
        assert_eq!(
            kinds,
            vec![
                Kind::Upstream,
                Kind::Target,
                Kind::Service,
                Kind::Route,
                Kind::Consumer,
                Kind::KeyAuthCredential,
                Kind::Plugin,
                Kind::Plugin
            ],
            "{flat:?}"
        );
        let settled = settle(flat, &[], &[], &HashMap::new()).expect("settles");
        let id_of = |k: Kind| settled.iter().find(|s| s.0 == k).map(|s| s.1.to_string());
        let route = settled.iter().find(|s| s.0 == Kind::Route).expect("route");
        assert_eq!(route.2["service"], json!({"id": id_of(Kind::Service)}));
        let target = settled
            .iter()
            .find(|s| s.0 == Kind::Target)
            .expect("target");
        assert_eq!(target.2["upstream"], json!({"id": id_of(Kind::Upstream)}));
        let cred = settled
            .iter()
            .find(|s| s.0 == Kind::KeyAuthCredential)
            .expect("cred");
        assert_eq!(cred.2["consumer"], json!({"id": id_of(Kind::Consumer)}));
    }

    #[test]
    fn settle_reuses_stored_ids_by_natural_key_and_reports_dangling_refs() {
        let stored = Record {
            kind: Kind::Service,
            id: Uuid::new_v4(),
            seq: 0,
            data: json!({"id": "x", "name": "s", "url": "http://x"}),
            created_at: 0,
            updated_at: 0,
        };
        let d = vec![Desired {
            kind: Kind::Service,
            data: json!({"name": "s", "url": "http://y"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            source: "services[0]".into(),
        }];
        let s = settle(d, &[&stored], &[], &HashMap::new()).expect("settles");
        assert_eq!(s[0].1, stored.id);
        let d = vec![Desired {
            kind: Kind::Route,
            data: json!({"name": "r", "service": {"name": "missing"}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            source: "services[0]".into(),
        }];
        let e = settle(d, &[], &[], &HashMap::new())
            .err()
            .unwrap_or_default();
        assert!(e[0].contains("does not match any services"), "{e:?}");
    }
}
