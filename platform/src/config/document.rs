//! A user's decK document as the platform reads it: validated with the node's
//! loader, flattened into entities (nested routes, targets, SNIs, credentials and
//! plugins get a reference to their parent), with decK's `_info` select and
//! lookup tags, and the secrets a dump leaves out filled back in.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{KINDS, Kind, Record, document, owned};

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

/// Services the file names without an id take their stored counterpart's id
/// (as the plan would), so stored entities the file does not manage (the
/// portal's `portal-auth` plugins) still point at them while it is checked.
pub fn adopt_service_ids<'a>(doc: &mut Value, owned: impl Iterator<Item = &'a Record>) {
    let by_name: HashMap<String, Uuid> = owned
        .filter(|r| r.kind == Kind::Service)
        .filter_map(|r| Some((r.name()?, r.id)))
        .collect();
    let Some(Value::Array(services)) = doc.get_mut("services") else {
        return;
    };
    for s in services.iter_mut().filter_map(Value::as_object_mut) {
        if s.get("id").is_some_and(|i| !i.is_null()) {
            continue;
        }
        if let Some(id) = s
            .get("name")
            .and_then(Value::as_str)
            .and_then(|n| by_name.get(n))
        {
            s.insert("id".into(), Value::String(id.to_string()));
        }
    }
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
