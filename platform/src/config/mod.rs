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

/// Whether `r` belongs to an apply limited to `select_tags` (all of them).
pub fn owned(r: &Record, select_tags: &[String]) -> bool {
    let tags = r.tags();
    select_tags.iter().all(|t| tags.contains(t))
}
