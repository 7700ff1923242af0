//! `credentialStatus`: where a key works yet. For each control plane that
//! implements an API the key's application is approved for, the connected
//! nodes and how many of them serve a config with the key (the version the
//! node reports against the plane's version that first held the key). A new
//! value whenever that changes; the stream ends once the key is revoked or
//! expired (after saying so).

use std::collections::{BTreeSet, HashMap};

use async_graphql::{Context, Enum, ID, Result, SimpleObject, Subscription};
use futures_util::Stream;
use uuid::Uuid;

use super::applications::actor as applications_actor;
use crate::actors::data_plane::NodeStatus;
use crate::catalog::model::RegistrationStatus;
use crate::error::Error;
use crate::graphql::error::gql;
use crate::graphql::guard::parse_id;
use crate::portal::applications::{CredentialState, credential_state, owned};
use crate::state::AppState;

/// Where a key stands on the nodes.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum PropagationStatus {
    /// Not yet on every connected node of every linked control plane (or no
    /// approved registration links it to one).
    Pending,
    /// On every connected node of every linked control plane.
    Active,
    Expired,
    Revoked,
}

#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct PlanePropagation {
    pub control_plane_id: ID,
    pub control_plane_name: String,
    /// The plane's config version that first held the key.
    pub config_version: Option<i64>,
    pub connected_nodes: i32,
    /// Connected nodes serving that version or a later one.
    pub active_nodes: i32,
}

#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct CredentialPropagation {
    pub credential_id: ID,
    pub status: PropagationStatus,
    /// Over all linked control planes.
    pub active_nodes: i32,
    pub connected_nodes: i32,
    pub control_planes: Vec<PlanePropagation>,
}

/// The key's standing now; `needed` remembers, per plane, the first version
/// seen holding it.
async fn measure(
    st: &AppState,
    cred: Uuid,
    needed: &mut HashMap<Uuid, i64>,
) -> Result<CredentialPropagation, Error> {
    let cat = st.catalog.view();
    let c = cat
        .credential(cred)
        .ok_or_else(|| Error::NotFound(format!("credential {cred}")))?;
    let mut out = CredentialPropagation {
        credential_id: ID(cred.to_string()),
        status: PropagationStatus::Pending,
        active_nodes: 0,
        connected_nodes: 0,
        control_planes: Vec::new(),
    };
    match credential_state(c, chrono::Utc::now().timestamp_millis()) {
        CredentialState::Revoked => {
            out.status = PropagationStatus::Revoked;
            return Ok(out);
        }
        CredentialState::Expired => {
            out.status = PropagationStatus::Expired;
            return Ok(out);
        }
        CredentialState::Active => {}
    }
    let suspended = cat
        .application(c.application_id)
        .is_none_or(|a| a.suspended);
    let planes: BTreeSet<Uuid> = if suspended {
        BTreeSet::new()
    } else {
        cat.registrations_of(c.application_id)
            .into_iter()
            .filter(|(_, r)| r.status == RegistrationStatus::Approved)
            .flat_map(|(_, r)| cat.implementations_of(r.api_id))
            .map(|(_, i)| i.control_plane_id)
            .collect()
    };
    let mut all = !planes.is_empty();
    for p in planes {
        let Some(view) = st.planes.view(p) else {
            continue;
        };
        let version = if view.records.contains_key(&cred) {
            Some(*needed.entry(p).or_insert(view.version))
        } else {
            None
        };
        let nodes = st.nodes.list(&view).await?;
        let connected: Vec<_> = nodes
            .iter()
            .filter(|n| n.status != NodeStatus::Disconnected)
            .collect();
        let active = connected
            .iter()
            .filter(|n| version.is_some_and(|v| n.report.config_version >= v))
            .count();
        all &= !connected.is_empty() && active == connected.len();
        out.active_nodes += active as i32;
        out.connected_nodes += connected.len() as i32;
        out.control_planes.push(PlanePropagation {
            control_plane_id: ID(p.to_string()),
            control_plane_name: view.name.clone(),
            config_version: version,
            connected_nodes: connected.len() as i32,
            active_nodes: active as i32,
        });
    }
    if all {
        out.status = PropagationStatus::Active;
    }
    Ok(out)
}

#[derive(Default)]
pub struct CredentialSubscription;

#[Subscription]
impl CredentialSubscription {
    /// Where one of your keys works: pending, then active on N of M connected
    /// nodes of each linked control plane. A new value on every change.
    async fn credential_status(
        &self,
        ctx: &Context<'_>,
        credential_id: ID,
    ) -> Result<impl Stream<Item = CredentialPropagation> + use<>> {
        let a = applications_actor(ctx)?;
        let id = parse_id(&credential_id, "credentialId")?;
        let st = crate::graphql::guard::state(ctx).clone();
        let cat = st.catalog.view();
        cat.credential(id)
            .filter(|c| owned(&cat, &a, c.application_id).is_ok())
            .ok_or_else(|| gql(Error::NotFound(format!("credential {id}"))))?;
        let commits = st.catalog.subscribe();
        let nodes = st.nodes.watch();
        let init = (
            st,
            commits,
            nodes,
            HashMap::new(),
            None::<CredentialPropagation>,
            false,
        );
        Ok(futures_util::stream::unfold(
            init,
            move |(st, mut commits, mut nodes, mut needed, mut last, done)| async move {
                if done {
                    return None;
                }
                loop {
                    let now = match measure(&st, id, &mut needed).await {
                        Ok(n) => n,
                        // deleted: the stream ends
                        Err(_) => return None,
                    };
                    if last.as_ref() != Some(&now) {
                        let end = matches!(
                            now.status,
                            PropagationStatus::Revoked | PropagationStatus::Expired
                        );
                        last = Some(now.clone());
                        return Some((now, (st, commits, nodes, needed, last, end)));
                    }
                    // whichever comes first: a catalog commit, a node list
                    // change (reports carry versions), or a second passing
                    tokio::select! {
                        _ = commits.recv() => {}
                        _ = nodes.changed() => {}
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                }
            },
        ))
    }
}
