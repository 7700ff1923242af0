//! Applications on the gateway nodes: the catalog's approved registrations and
//! live keys become config entities of every control plane implementing the
//! APIs (applications with their APIs and plans, credentials as SHA-256), and
//! each implementation gets a `portal-auth` plugin on its service. They are
//! applied as a decK document limited to the portal's tag, so they go through
//! the change log like any other change and nodes get them as deltas; an
//! unchanged document changes nothing. A task follows the catalog's commits
//! (and applies everything again at start and after missing commits).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use uuid::Uuid;

use super::applications::{CredentialState, credential_state};
use crate::actors::catalog::CatalogHandle;
use crate::actors::control_planes::Planes;
use crate::catalog::Catalog;
use crate::catalog::model::RegistrationStatus;
use crate::config::PORTAL_TAG;
use crate::config::change::Op;
use crate::config::view::View;

/// The id of the `portal-auth` plugin of an implementation.
pub fn plugin_id(implementation: Uuid) -> Uuid {
    Uuid::new_v5(&implementation, b"portal-auth")
}

/// The portal's entities for every control plane an API is implemented in
/// (`exists` tells whether a plane still has a service).
pub fn documents(cat: &Catalog, exists: &dyn Fn(Uuid, Uuid) -> bool) -> BTreeMap<Uuid, Value> {
    let now = crate::store::now_ms();
    let tags = json!([PORTAL_TAG]);
    // the planes (and services) implementing each API
    let mut planes_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    let mut plugins: BTreeMap<Uuid, Vec<Value>> = BTreeMap::new();
    let mut services: HashSet<(Uuid, Uuid)> = HashSet::new();
    for (e, i) in cat.implementations() {
        planes_of
            .entry(i.api_id)
            .or_default()
            .push(i.control_plane_id);
        plugins.entry(i.control_plane_id).or_default();
        let published = !cat.publications_of_api(i.api_id).is_empty();
        if published
            && exists(i.control_plane_id, i.service_id)
            && services.insert((i.control_plane_id, i.service_id))
        {
            plugins.entry(i.control_plane_id).or_default().push(json!({
                "id": plugin_id(e.id),
                "name": "portal-auth",
                "service": {"id": i.service_id},
                "config": {"api_id": i.api_id},
                "tags": tags,
            }));
        }
    }
    let mut apps: BTreeMap<Uuid, Vec<Value>> = BTreeMap::new();
    let mut creds: BTreeMap<Uuid, Vec<Value>> = BTreeMap::new();
    for (e, a) in cat.applications() {
        if a.suspended {
            continue;
        }
        // approved registrations, by plane
        let mut by_plane: BTreeMap<Uuid, Vec<Value>> = BTreeMap::new();
        for (_, r) in cat.registrations_of(e.id) {
            if r.status != RegistrationStatus::Approved {
                continue;
            }
            let plan = r
                .plan_id
                .and_then(|p| cat.plan(p))
                .map(|p| serde_json::to_value(&p.limits).unwrap_or(Value::Null));
            let mut reg = json!({"api_id": r.api_id});
            if let Some(p) = plan {
                reg["plan"] = p;
            }
            for plane in planes_of.get(&r.api_id).into_iter().flatten() {
                let regs = by_plane.entry(*plane).or_default();
                if !regs.contains(&reg) {
                    regs.push(reg.clone());
                }
            }
        }
        if by_plane.is_empty() {
            continue;
        }
        let keys: Vec<Value> = cat
            .credentials_of(e.id)
            .into_iter()
            .filter(|(_, c)| credential_state(c, now) == CredentialState::Active)
            .map(|(ce, c)| {
                let mut k = json!({
                    "id": ce.id,
                    "application": {"id": e.id},
                    "key_sha256": c.key_sha256,
                    "tags": tags,
                });
                if !c.prefix.is_empty() {
                    k["prefix"] = json!(c.prefix);
                }
                if let Some(n) = &c.display_name {
                    k["display_name"] = json!(n);
                }
                if let Some(x) = c.expires_at {
                    // whole seconds, rounded up: never earlier than asked
                    k["expires_at"] = json!((x + 999) / 1000);
                }
                k
            })
            .collect();
        for (plane, regs) in by_plane {
            apps.entry(plane).or_default().push(json!({
                "id": e.id,
                "name": a.name,
                "developer_id": a.developer_id,
                "portal_id": a.portal_id,
                "registrations": regs,
                "tags": tags,
            }));
            creds.entry(plane).or_default().extend(keys.iter().cloned());
        }
    }
    let mut out = BTreeMap::new();
    for plane in plugins
        .keys()
        .chain(apps.keys())
        .copied()
        .collect::<HashSet<_>>()
    {
        out.insert(
            plane,
            json!({
                "_format_version": "3.0",
                "plugins": plugins.remove(&plane).unwrap_or_default(),
                "applications": apps.remove(&plane).unwrap_or_default(),
                "application_credentials": creds.remove(&plane).unwrap_or_default(),
            }),
        );
    }
    out
}

fn holds_portal_entities(v: &View) -> bool {
    v.records
        .values()
        .any(|r| r.tags().iter().any(|t| t == PORTAL_TAG))
}

/// Keeps the control planes in line with the catalog.
pub struct Projector {
    catalog: CatalogHandle,
    planes: Planes,
    /// What was applied last, per plane.
    applied: HashMap<Uuid, Value>,
    /// The catalog version last projected.
    done: watch::Sender<i64>,
}

/// What callers wait on: the catalog version the control planes match.
#[derive(Clone)]
pub struct Projection {
    done: watch::Receiver<i64>,
}

impl Projection {
    /// Waits (at most 10 s) until the control planes match catalog `version`,
    /// so a mutation's answer means its keys are in the config nodes get.
    pub async fn settled(&self, version: i64) {
        let mut rx = self.done.clone();
        let wait = rx.wait_for(|v| *v >= version);
        if tokio::time::timeout(std::time::Duration::from_secs(10), wait)
            .await
            .is_err()
        {
            tracing::warn!(
                version,
                "the control planes are slow to take the portal's change"
            );
        }
    }
}

impl Projector {
    pub fn start(catalog: CatalogHandle, planes: Planes) -> Projection {
        let (done, rx) = watch::channel(-1);
        let mut p = Projector {
            catalog,
            planes,
            applied: HashMap::new(),
            done,
        };
        tokio::spawn(async move { p.run().await });
        Projection { done: rx }
    }

    async fn run(&mut self) {
        let mut commits = self.catalog.subscribe();
        // keys past their expiry leave the config now and then
        let mut tidy = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            self.project().await;
            tokio::select! {
                r = commits.recv() => match r {
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => self.applied.clear(),
                    Err(RecvError::Closed) => return,
                },
                _ = tidy.tick() => {}
            }
            // what committed meanwhile is in the snapshot already
            while let Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) =
                commits.try_recv()
            {}
        }
    }

    /// Applies every plane's document that differs from what was applied.
    pub async fn project(&mut self) {
        let cat = self.catalog.view();
        let version = cat.version;
        let planes = self.planes.clone();
        let exists = move |plane: Uuid, service: Uuid| {
            planes
                .view(plane)
                .is_some_and(|v| v.records.contains_key(&service))
        };
        let mut docs = documents(&cat, &exists);
        // planes that had portal entities and no longer implement anything
        for v in self.planes.views() {
            if !docs.contains_key(&v.id)
                && (self.applied.contains_key(&v.id) || holds_portal_entities(&v))
            {
                docs.insert(v.id, json!({"_format_version": "3.0"}));
            }
        }
        self.applied.retain(|id, _| docs.contains_key(id));
        for (plane, doc) in docs {
            if self.applied.get(&plane) == Some(&doc) || self.planes.view(plane).is_none() {
                continue;
            }
            let r = self
                .planes
                .mutate(
                    plane,
                    Op::Apply {
                        document: doc.clone(),
                        select_tags: vec![PORTAL_TAG.to_string()],
                        dry_run: false,
                        allowed: None,
                    },
                )
                .await;
            match r {
                Ok(c) => {
                    if !c.plan.is_empty() {
                        tracing::info!(%plane, version = c.version, "portal entities applied");
                    }
                    self.applied.insert(plane, doc);
                }
                Err(e) => {
                    tracing::warn!(%plane, "cannot apply the portal's entities: {e}");
                    self.applied.remove(&plane);
                }
            }
        }
        self.done.send_replace(version);
    }
}
