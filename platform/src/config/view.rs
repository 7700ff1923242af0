//! What readers see of one control plane (an immutable view, replaced on every
//! commit) and what a committed change is (the change log's record, and what
//! subscribers receive).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::typed::Typed;
use super::{Kind, Record};

/// One control plane, as readers see it.
#[derive(Clone, Debug)]
pub struct View {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub labels: Value,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub records: Arc<HashMap<Uuid, Record>>,
    /// Hash of the canonical config (what a node computes for the same config).
    pub hash: String,
    /// Why the stored config does not validate any more, when it does not (a
    /// loud error: nodes are not sent a config they would refuse).
    pub invalid: Option<String>,
    /// The creation order the next entity gets.
    pub next_seq: i64,
    /// The typed config, built on first use (reset whenever `records` change).
    pub typed: Arc<OnceLock<Arc<Typed>>>,
}

impl View {
    /// Records of one kind in creation order.
    pub fn list(&self, kind: Option<Kind>) -> Vec<&Record> {
        let mut v: Vec<&Record> = self
            .records
            .values()
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .collect();
        v.sort_by_key(|r| r.seq);
        v
    }

    /// The typed config of this version (built once, then shared).
    pub fn typed(&self) -> Arc<Typed> {
        self.typed
            .get_or_init(|| Arc::new(Typed::build(&self.records)))
            .clone()
    }

    /// The decK document; with secrets only for nodes.
    pub fn document(&self, with_secrets: bool) -> Value {
        super::document(self.records.values(), with_secrets).0
    }
}

/// One entity's part of a committed change.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EntityChange {
    pub op: ChangeOp,
    pub kind: Kind,
    pub id: Uuid,
    /// Creation order of the entity.
    pub seq: i64,
    /// The entity after the change; `None` for deletes. Nodes get its secrets;
    /// API readers never do; the change log holds them hashed or sealed.
    pub data: Option<Value>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeOp {
    Upsert,
    Delete,
}

/// A committed version: what subscribers receive.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub control_plane_id: Uuid,
    pub version: i64,
    pub hash: String,
    pub at: i64,
    pub changes: Vec<EntityChange>,
}
