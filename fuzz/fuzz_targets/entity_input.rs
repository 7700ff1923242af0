//! Entity input as `createEntity`/`updateEntity` take it (`data` of any kind, as
//! JSON): the secret handling (hash, strip, keep) and the node's loader on the
//! document built from it (what the platform validates every change with, and
//! what a node applies) must never panic.
#![no_main]

use graphql_schema::secrets;
use graphql_schema::sync::{KINDS, NodeSnapshot, NodeState, NodeUpdate, Record, SyncEntity, document};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let kind = KINDS[usize::from(k) % KINDS.len()];
    let Ok(mut value) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let stored = value.clone();
    secrets::hash(kind, &mut value);
    let public = secrets::strip(kind, &value);
    let mut kept = public.clone();
    secrets::keep(kind, &mut kept, &stored);
    let _ = secrets::sealed_paths(kind, &value);
    let r = Record {
        kind,
        id: uuid_of(rest),
        seq: 0,
        data: value,
        created_at: 0,
        updated_at: 0,
    };
    let (doc, _) = document(std::iter::once(&r), true);
    let _ = graphql_schema::deck::load_value(&doc);
    // the node's path: a snapshot with this one entity
    let u = NodeUpdate {
        version: 1,
        hash: String::new(),
        upserts: Vec::new(),
        deletes: Vec::new(),
        snapshot: Some(NodeSnapshot {
            version: 1,
            hash: String::new(),
            entities: vec![SyncEntity::from_record(&r)],
        }),
    };
    let _ = NodeState::default().apply(&u);
});

/// A stable id for the input (the loader reads ids from `data` when present).
fn uuid_of(b: &[u8]) -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    for (i, x) in b.iter().take(16).enumerate() {
        bytes[i] = *x;
    }
    uuid::Uuid::from_bytes(bytes)
}
