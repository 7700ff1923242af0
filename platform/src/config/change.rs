//! A change to one control plane's config, computed without touching the
//! database: the would-be entity set, validated whole with the node's loader,
//! the plan that gets there, and the resulting config hash. The plane's actor
//! commits what this returns, or nothing.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};
use uuid::Uuid;

use super::document::{self, Desired};
use super::plan::{self, Plan, PlanItem};
use super::{Kind, Record, View, rules};
use crate::error::{Error, Field, Invalid};
use crate::seal::Sealer;

/// A change a caller asks for.
#[derive(Clone, Debug)]
pub enum Op {
    Create {
        kind: Kind,
        data: Map<String, Value>,
    },
    /// Fields in `patch` replace the stored ones; `null` removes a field.
    Update {
        id: Uuid,
        patch: Map<String, Value>,
    },
    Delete {
        id: Uuid,
    },
    /// Make the plane match a decK document (only entities carrying all
    /// `select_tags` are owned).
    Apply {
        document: Value,
        select_tags: Vec<String>,
        dry_run: bool,
        /// The kinds the caller may write (`None`: all); a plan touching another
        /// kind is refused as a whole.
        allowed: Option<Vec<Kind>>,
    },
}

/// A computed change: what the plane would hold, and how it gets there.
#[derive(Clone, Debug)]
pub struct Change {
    pub records: HashMap<Uuid, Record>,
    pub next_seq: i64,
    pub plan: Plan,
    /// The entity a create or update produced.
    pub record: Option<Record>,
    /// The config hash after the change.
    pub hash: String,
    pub dry_run: bool,
}

/// The work in progress of one change.
struct Draft<'a> {
    view: &'a View,
    records: HashMap<Uuid, Record>,
    next_seq: i64,
    plan: Plan,
    now: i64,
    /// The entity a create or update is about (validation errors are reported
    /// relative to it).
    focus: Option<Uuid>,
}

/// Computes `op` on `view` at time `now`. Invalid input returns every problem
/// with its place and changes nothing.
pub fn compute(view: &View, op: Op, now: i64, sealer: &Sealer) -> Result<Change, Error> {
    let mut d = Draft {
        view,
        records: (*view.records).clone(),
        next_seq: view.next_seq,
        plan: Plan::default(),
        now,
        focus: None,
    };
    let (dry_run, allowed) = match op {
        Op::Create { kind, data } => {
            d.create(kind, data)?;
            (false, None)
        }
        Op::Update { id, patch } => {
            d.update(id, patch)?;
            (false, None)
        }
        Op::Delete { id } => {
            d.delete(id)?;
            (false, None)
        }
        Op::Apply {
            document,
            select_tags,
            dry_run,
            allowed,
        } => {
            d.apply(document, select_tags, sealer)?;
            (dry_run, allowed)
        }
    };
    if let Some(kinds) = &allowed {
        d.only_kinds(kinds)?;
    }
    let hash = d.validate()?;
    let record = d.focus.and_then(|id| d.records.get(&id).cloned());
    Ok(Change {
        records: d.records,
        next_seq: d.next_seq,
        plan: d.plan,
        record,
        hash,
        dry_run,
    })
}

fn item(r: &Record) -> PlanItem {
    PlanItem {
        kind: r.kind,
        id: r.id,
        name: r.name(),
    }
}

/// The loader's problems, each at its place: relative to the entity a create
/// or update is about (`entity_path` is where it sits in the document), or at
/// the document's own path.
fn loader_problems(errors: Vec<graphql_schema::InvalidField>, entity_path: Option<&str>) -> Error {
    Error::invalid_all(
        errors
            .into_iter()
            .map(|e| {
                let field = match entity_path.and_then(|ep| document::relative_path(&e.path, ep)) {
                    Some(rest) => Field::Data(rest),
                    None => Field::Document(e.path),
                };
                Invalid {
                    field,
                    message: e.message,
                    duplicate: e.problem == graphql_schema::Problem::Duplicate,
                }
            })
            .collect(),
    )
}

impl Draft<'_> {
    fn create(&mut self, kind: Kind, mut data: Map<String, Value>) -> Result<(), Error> {
        rules::refuse_nested(kind, &data)?;
        let id = match data.get("id") {
            None | Some(Value::Null) => Uuid::new_v4(),
            Some(Value::String(s)) => Uuid::parse_str(s)
                .map_err(|_| Error::invalid(Field::Data("id".into()), "expected a UUID"))?,
            Some(_) => {
                return Err(Error::invalid(
                    Field::Data("id".into()),
                    "expected a UUID string",
                ));
            }
        };
        if self.records.contains_key(&id) {
            return Err(Error::Conflict {
                field: Field::Data("id".into()),
                message: format!("an entity with id {id} exists"),
            });
        }
        data.insert("id".into(), Value::String(id.to_string()));
        rules::resolve_refs(kind, &mut data, &self.records)?;
        let mut data = Value::Object(data);
        graphql_schema::secrets::hash(kind, &mut data);
        let r = Record {
            kind,
            id,
            seq: self.next_seq,
            data,
            created_at: self.now,
            updated_at: self.now,
        };
        self.next_seq += 1;
        self.plan.creates.push(item(&r));
        self.records.insert(id, r);
        self.focus = Some(id);
        Ok(())
    }

    fn update(&mut self, id: Uuid, patch: Map<String, Value>) -> Result<(), Error> {
        let mut r = self
            .records
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("entity {id}")))?;
        rules::refuse_nested(r.kind, &patch)?;
        let Value::Object(m) = &mut r.data else {
            return Err(Error::internal("stored entity is not an object"));
        };
        for (k, v) in patch {
            if k == "id" {
                if v.as_str() != Some(&id.to_string()) {
                    return Err(Error::invalid(
                        Field::Data("id".into()),
                        "the id of an entity cannot change",
                    ));
                }
                continue;
            }
            if v.is_null() {
                m.remove(&k);
            } else {
                m.insert(k, v);
            }
        }
        rules::resolve_refs(r.kind, m, &self.records)?;
        graphql_schema::secrets::hash(r.kind, &mut r.data);
        r.updated_at = self.now;
        self.plan.updates.push(item(&r));
        self.records.insert(id, r);
        self.focus = Some(id);
        Ok(())
    }

    fn delete(&mut self, id: Uuid) -> Result<(), Error> {
        if !self.records.contains_key(&id) {
            return Err(Error::NotFound(format!("entity {id}")));
        }
        for gone in super::cascade(self.view.records.values(), id) {
            if let Some(r) = self.records.remove(&gone) {
                self.plan.deletes.push(item(&r));
            }
        }
        Ok(())
    }

    fn apply(
        &mut self,
        document: Value,
        select_tags: Vec<String>,
        sealer: &Sealer,
    ) -> Result<(), Error> {
        // the file as Kong reads it: format 1.1/2.1 migrated, `_transform`
        let mut document = graphql_schema::deck::prepared(&document);
        let select_tags = document::select_tags(&document, select_tags)
            .map_err(|m| Error::invalid(Field::Input("selectTags".into()), m))?;
        if !select_tags.iter().any(|t| t == super::PORTAL_TAG) {
            super::without_portal_entities(&mut document);
        }
        // a dump made with its secrets carries them sealed
        Error::check(
            crate::seal::open_document(sealer, &mut document)
                .into_iter()
                .map(|(path, m)| Invalid::new(Field::Document(path), m))
                .collect(),
        )?;
        document::fill_secrets(&mut document, &self.view.records);
        let view = self.view;
        document::adopt_service_ids(
            &mut document,
            view.records
                .values()
                .filter(|r| super::owned(r, &select_tags)),
        );
        let unmanaged = || {
            view.records
                .values()
                .filter(|r| !super::owned(r, &select_tags))
        };
        // the file as the user wrote it (errors carry its own paths), checked
        // against the rest of the plane it does not manage
        let config = document::validate(&document::with_unmanaged(&document, unmanaged()))
            .map_err(|es| loader_problems(es, None))?;
        let lookup = document::lookup_records(&document, unmanaged());
        let derived = config.ids_by_source();
        let mut desired = document::flatten(&document, &derived);
        tag_all(&mut desired, &select_tags);
        let owned: Vec<&Record> = view
            .records
            .values()
            .filter(|r| super::owned(r, &select_tags))
            .collect();
        let settled = plan::settle(desired, &owned, &lookup, &derived).map_err(|es| {
            Error::invalid_all(
                es.into_iter()
                    .map(|m| Invalid::new(Field::Input("document".into()), m))
                    .collect(),
            )
        })?;
        let mut seen = HashSet::new();
        for (kind, id, data) in settled {
            seen.insert(id);
            self.settle_one(kind, id, data, &select_tags)?;
        }
        for r in owned.iter().filter(|r| !seen.contains(&r.id)) {
            if let Some(r) = self.records.remove(&r.id) {
                self.plan.deletes.push(item(&r));
            }
        }
        Ok(())
    }

    /// One entity of an apply: created, updated when it differs, or refused
    /// when it is not the apply's to change.
    fn settle_one(
        &mut self,
        kind: Kind,
        id: Uuid,
        mut data: Map<String, Value>,
        select_tags: &[String],
    ) -> Result<(), Error> {
        let now = self.now;
        match self.records.get_mut(&id) {
            Some(r) if !super::owned(r, select_tags) => Err(Error::Conflict {
                field: Field::Input("document".into()),
                message: format!(
                    "{} {id} exists but is not tagged {select_tags:?}",
                    kind.key()
                ),
            }),
            Some(r) if r.kind != kind => Err(Error::Conflict {
                field: Field::Input("document".into()),
                message: format!("id {id} is a {} already", r.kind.key()),
            }),
            Some(r) => {
                document::keep_secrets(kind, &mut data, &r.data);
                let mut nd = Value::Object(data);
                graphql_schema::secrets::hash(kind, &mut nd);
                if !plan::same_data(&r.data, &nd) {
                    r.data = nd;
                    r.updated_at = now;
                    self.plan.updates.push(item(r));
                }
                Ok(())
            }
            None => {
                let mut data = Value::Object(data);
                graphql_schema::secrets::hash(kind, &mut data);
                let r = Record {
                    kind,
                    id,
                    seq: self.next_seq,
                    data,
                    created_at: now,
                    updated_at: now,
                };
                self.next_seq += 1;
                self.plan.creates.push(item(&r));
                self.records.insert(id, r);
                Ok(())
            }
        }
    }

    /// A caller limited to some kinds changes nothing when the plan touches
    /// others.
    fn only_kinds(&self, kinds: &[Kind]) -> Result<(), Error> {
        let mut refused: Vec<&str> = self
            .plan
            .creates
            .iter()
            .chain(&self.plan.updates)
            .chain(&self.plan.deletes)
            .filter(|it| !kinds.contains(&it.kind))
            .map(|it| it.kind.key())
            .collect();
        refused.sort_unstable();
        refused.dedup();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "not allowed to write {}",
                refused.join(", ")
            )))
        }
    }

    /// The whole would-be config through the node's loader; its hash.
    fn validate(&self) -> Result<String, Error> {
        let (doc, paths) = super::document(self.records.values(), true);
        let config = document::validate(&doc).map_err(|es| {
            let entity_path = self.focus.and_then(|id| paths.get(&id)).map(String::as_str);
            loader_problems(es, entity_path)
        })?;
        rules::expired_cas(&self.plan, &self.records, &paths, self.focus)?;
        Ok(config.hash())
    }
}

/// Everything an apply limited to `select_tags` writes carries them.
fn tag_all(desired: &mut [Desired], select_tags: &[String]) {
    if select_tags.is_empty() {
        return;
    }
    for d in desired {
        let tags = d
            .data
            .entry("tags")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = tags {
            for t in select_tags {
                if !a.iter().any(|x| x.as_str() == Some(t)) {
                    a.push(Value::String(t.clone()));
                }
            }
        }
    }
}
