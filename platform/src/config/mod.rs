//! The config domain, without GraphQL or SQL: a control plane's configuration
//! as flat entities in Kong's JSON form (references as `{"id": ...}`), the decK
//! document built from them (what the node loads and what validation runs on),
//! users' decK files flattened and settled into plans, Kong's cascades, and the
//! computation of a change (`change::compute`) that the plane's actor commits.

pub mod cascade;
pub mod change;
pub mod document;
pub mod plan;
pub mod rules;
pub mod typed;
pub mod view;

pub use cascade::cascade;
pub use change::{Change, Op, compute};
pub use graphql_schema::sync::{KINDS, Kind, Record, document, ref_id, strip_secrets};
pub use plan::{Plan, PlanItem};
pub use view::{ChangeEvent, ChangeOp, EntityChange, View};

#[cfg(test)]
mod tests;

/// The tag of entities the Dev Portal writes (applications, their keys, the
/// `portal-auth` plugins of implementations): only an apply selecting it owns
/// them, so a user's own decK file neither deletes nor duplicates them.
pub const PORTAL_TAG: &str = "portico-portal";

/// Whether `r` belongs to an apply limited to `select_tags` (all of them).
pub fn owned(r: &Record, select_tags: &[String]) -> bool {
    let tags = r.tags();
    select_tags.iter().all(|t| tags.contains(t))
        && (!tags.iter().any(|t| t == PORTAL_TAG) || select_tags.iter().any(|t| t == PORTAL_TAG))
}

/// Leaves out of a document the entities the portal manages (a dump holds
/// them; applying it again keeps the portal's own).
pub fn without_portal_entities(v: &mut serde_json::Value) {
    use serde_json::Value;
    let managed = |x: &Value| {
        x.get("tags")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|t| t.as_str() == Some(PORTAL_TAG)))
    };
    match v {
        Value::Array(items) => {
            items.retain(|x| !managed(x));
            items.iter_mut().for_each(without_portal_entities);
        }
        Value::Object(m) => m.values_mut().for_each(without_portal_entities),
        _ => {}
    }
}
