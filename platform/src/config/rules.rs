//! The rules a change must keep beyond what the node's loader checks: nested
//! decK keys are not entity fields, references name existing entities of the
//! right kind, a CA certificate is not expired when written, and the limits on
//! a control plane's own fields (name, labels, description).

use std::collections::HashMap;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::plan::Plan;
use super::{Kind, Record};
use crate::error::{Error, Field, Invalid};

/// A nested decK key (`routes` in a service, `keyauth_credentials` in a
/// consumer, ...) is not a field of the kind: refused with its path, as Kong's
/// Admin API refuses an unknown field. Each nested entity is created as its own
/// kind, so it is authorized and listed as that kind.
pub fn refuse_nested(kind: Kind, data: &Map<String, Value>) -> Result<(), Error> {
    Error::check(
        data.keys()
            .filter(|k| kind.nested_keys().contains(&k.as_str()))
            .map(|k| {
                Invalid::new(
                    Field::Data(k.clone()),
                    match Kind::parse(k) {
                        Some(n) => format!(
                            "unknown field: create each of these as its own entity (kind {})",
                            n.as_str()
                        ),
                        None => "unknown field".to_string(),
                    },
                )
            })
            .collect(),
    )
}

/// References to other entities become `{"id": ...}` as stored, whether given as
/// a bare id, `{"id"}`, or by name (`{"name"}`, a consumer's `{"username"}` or
/// `{"custom_id"}`); each must name an existing entity of the right kind.
pub fn resolve_refs(
    kind: Kind,
    data: &mut Map<String, Value>,
    records: &HashMap<Uuid, Record>,
) -> Result<(), Error> {
    let mut problems = Vec::new();
    for (field, target) in kind.references() {
        let Some(v) = data.get(*field).cloned() else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        let by_name = |key: &str, value: &str| {
            records
                .values()
                .find(|r| {
                    r.kind == *target && r.data.get(key).and_then(Value::as_str) == Some(value)
                })
                .map(|r| r.id)
        };
        let found = match &v {
            Value::String(s) => Uuid::parse_str(s).ok(),
            Value::Object(o) => match (
                o.get("id"),
                o.get("name"),
                o.get("username"),
                o.get("custom_id"),
            ) {
                (Some(Value::String(s)), ..) => Uuid::parse_str(s).ok(),
                (None, Some(Value::String(n)), ..) => by_name("name", n),
                (None, None, Some(Value::String(n)), _) => by_name("username", n),
                (None, None, None, Some(Value::String(n))) => by_name("custom_id", n),
                _ => None,
            },
            _ => None,
        };
        match found.filter(|id| records.get(id).is_some_and(|r| r.kind == *target)) {
            Some(id) => {
                data.insert((*field).into(), serde_json::json!({ "id": id.to_string() }));
            }
            None => problems.push(Invalid::new(
                Field::Data((*field).to_string()),
                format!(
                    "the foreign key '{v}' does not reference an existing '{}' entity",
                    target.key()
                ),
            )),
        }
    }
    Error::check(problems)
}

/// Kong refuses a CA certificate that has expired when it is written (a stored
/// one that expires later stays, and fails upstream verification then).
pub fn expired_cas(
    plan: &Plan,
    records: &HashMap<Uuid, Record>,
    paths: &HashMap<Uuid, String>,
    focus: Option<Uuid>,
) -> Result<(), Error> {
    let now = graphql_schema::tls::now_unix();
    let mut problems = Vec::new();
    for it in plan.creates.iter().chain(&plan.updates) {
        let Some(r) = records
            .get(&it.id)
            .filter(|r| r.kind == Kind::CaCertificate)
        else {
            continue;
        };
        let der = r
            .data
            .get("cert")
            .and_then(Value::as_str)
            .and_then(|c| graphql_schema::tls::parse_certs(c).ok())
            .and_then(|c| c.into_iter().next());
        if let Some(m) = der.and_then(|d| graphql_schema::tls::expired(d.as_ref(), now)) {
            let field = match focus {
                Some(id) if id == r.id => Field::Data("cert".into()),
                _ => Field::Document(format!(
                    "{}.cert",
                    paths.get(&r.id).cloned().unwrap_or_default()
                )),
            };
            problems.push(Invalid::new(field, m));
        }
    }
    Error::check(problems)
}

/// A control plane's name: 1 to 100 letters, digits, `-`, `_`, `.`, `~`.
pub fn check_plane_name(n: &str) -> Result<(), Error> {
    if n.is_empty()
        || n.len() > 100
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
    {
        return Err(Error::invalid(
            Field::Input("name".into()),
            "must be 1 to 100 characters of letters, digits, '-', '_', '.', '~'",
        ));
    }
    Ok(())
}

/// Konnect's label rules: at most 50; keys of 1 to 63 letters, digits, `.`,
/// `-` and `_`, starting with a letter or digit and not with a reserved prefix;
/// values strings of 1 to 63 characters.
pub fn check_labels(l: &Value) -> Result<(), Error> {
    let Value::Object(m) = l else {
        return Err(Error::invalid(
            Field::Input("labels".into()),
            "expected an object of string values",
        ));
    };
    if m.len() > 50 {
        return Err(Error::invalid(
            Field::Input("labels".into()),
            "at most 50 labels",
        ));
    }
    let mut problems = Vec::new();
    let mut bad = |field: String, message: &str| {
        problems.push(Invalid::new(
            Field::Input(field.trim_start_matches("input.").to_string()),
            message,
        ))
    };
    for (k, v) in m {
        let key_ok = (1..=63).contains(&k.len())
            && k.starts_with(|c: char| c.is_ascii_alphanumeric())
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        let reserved = ["kong", "konnect", "mesh", "kic", "insomnia"]
            .iter()
            .any(|p| k.to_ascii_lowercase().starts_with(p));
        if !key_ok {
            bad(
                format!("input.labels.{}", k.escape_debug()),
                "a label key is 1 to 63 letters, digits, '.', '-' or '_', starting with a letter or digit",
            );
        } else if reserved {
            bad(
                format!("input.labels.{k}"),
                "label keys must not start with kong, konnect, mesh, kic or insomnia",
            );
        }
        match v.as_str() {
            Some(s)
                if (1..=63).contains(&s.chars().count()) && !s.chars().any(char::is_control) => {}
            Some(_) => bad(
                format!("input.labels.{}", k.escape_debug()),
                "a label value is 1 to 63 characters",
            ),
            None => bad(
                format!("input.labels.{}", k.escape_debug()),
                "expected a string",
            ),
        }
    }
    Error::check(problems)
}

/// A free text field (descriptions): at most `max` characters.
pub fn check_text(field: &str, v: &Option<String>, max: usize) -> Result<(), Error> {
    match v {
        Some(s) if s.chars().count() > max => Err(Error::invalid(
            Field::Input(field.to_string()),
            format!("at most {max} characters"),
        )),
        _ => Ok(()),
    }
}
