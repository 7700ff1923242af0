//! `catalogChanges`: what changed in this portal, as the viewer sees it (an API
//! appearing, changing or going away for them; a page or the portal's look
//! changing). Private things the viewer may not see are never mentioned.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, SimpleObject, Subscription};
use futures_util::Stream;
use uuid::Uuid;

use super::{DevSession, portal, session, viewer_of};
use crate::catalog::{CatalogCommit, CatalogEvent};
use crate::portal::visibility::{self, Viewer};
use crate::state::AppState;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CatalogChangeType {
    /// An API the viewer can now see.
    ApiPublished,
    /// An API the viewer sees changed (fields, versions, documents).
    ApiUpdated,
    /// An API the viewer could see is gone for them.
    ApiUnpublished,
    /// A page or snippet changed.
    PageChanged,
    /// The portal's settings or look changed.
    PortalChanged,
}

#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct CatalogChange {
    #[graphql(name = "type")]
    pub kind: CatalogChangeType,
    pub api_id: Option<ID>,
    pub api_slug: Option<String>,
    pub page_id: Option<ID>,
    /// The catalog's version after the change.
    pub version: i64,
}

/// The changes of one commit that `viewer` may know of in `portal`.
fn visible_changes(c: &CatalogCommit, portal: Uuid, viewer: &Viewer) -> Vec<CatalogChange> {
    let mut out: Vec<CatalogChange> = Vec::new();
    let slug = |api: Uuid| {
        c.after
            .api(api)
            .or_else(|| c.before.api(api))
            .map(|a| a.slug.clone())
    };
    let api_change = |kind, api: Uuid| CatalogChange {
        kind,
        api_id: Some(ID(api.to_string())),
        api_slug: slug(api),
        page_id: None,
        version: c.after.version,
    };
    for e in &c.events {
        let change = match *e {
            CatalogEvent::ApiPublished { api, portal: p }
            | CatalogEvent::ApiUnpublished { api, portal: p }
                if p == portal =>
            {
                let was = visibility::api_visible(&c.before, portal, api, viewer);
                let is = visibility::api_visible(&c.after, portal, api, viewer);
                match (was, is) {
                    (false, true) => api_change(CatalogChangeType::ApiPublished, api),
                    (true, false) => api_change(CatalogChangeType::ApiUnpublished, api),
                    (true, true) => api_change(CatalogChangeType::ApiUpdated, api),
                    (false, false) => continue,
                }
            }
            CatalogEvent::ApiChanged { api } => {
                if !visibility::api_visible(&c.after, portal, api, viewer) {
                    continue;
                }
                api_change(CatalogChangeType::ApiUpdated, api)
            }
            CatalogEvent::PageChanged { portal: p, page } if p == portal => {
                let seen = |cat: &crate::catalog::Catalog| {
                    visibility::page_visible(cat, page, viewer)
                        || visibility::snippet_visible(cat, page, viewer)
                };
                if !seen(&c.before) && !seen(&c.after) {
                    continue;
                }
                CatalogChange {
                    kind: CatalogChangeType::PageChanged,
                    api_id: None,
                    api_slug: None,
                    page_id: Some(ID(page.to_string())),
                    version: c.after.version,
                }
            }
            CatalogEvent::PortalChanged { portal: p } if p == portal => CatalogChange {
                kind: CatalogChangeType::PortalChanged,
                api_id: None,
                api_slug: None,
                page_id: None,
                version: c.after.version,
            },
            _ => continue,
        };
        if !out.contains(&change) {
            out.push(change);
        }
    }
    out
}

#[derive(Default)]
pub struct DeveloperSubscription;

#[Subscription(name = "PortalContentSubscription")]
impl DeveloperSubscription {
    /// Changes in this portal as the viewer sees them, from now on.
    async fn catalog_changes(
        &self,
        ctx: &Context<'_>,
    ) -> impl Stream<Item = CatalogChange> + use<> {
        let st = state_of(ctx);
        let portal_id = portal(ctx).id;
        let sess: Option<DevSession> = session(ctx).cloned();
        let rx = st.catalog.subscribe();
        let pending: std::collections::VecDeque<CatalogChange> = Default::default();
        futures_util::stream::unfold((st, rx, pending), move |(st, mut rx, mut pending)| {
            let sess = sess.clone();
            async move {
                loop {
                    if let Some(c) = pending.pop_front() {
                        return Some((c, (st, rx, pending)));
                    }
                    let commit: Arc<CatalogCommit> = match rx.recv().await {
                        Ok(c) => c,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => return None,
                    };
                    // the viewer as they are now (teams, approval); a
                    // developer whose session ended is anonymous from here
                    let sess = match &sess {
                        Some(s) => crate::portal::developers::resolve_session(&st.db, &s.token_id)
                            .await
                            .ok()
                            .flatten()
                            .map(|developer| DevSession {
                                developer,
                                token_id: s.token_id.clone(),
                            }),
                        None => None,
                    };
                    let Ok(viewer) = viewer_of(&st, sess.as_ref()).await else {
                        continue;
                    };
                    pending.extend(visible_changes(&commit, portal_id, &viewer));
                }
            }
        })
    }
}

fn state_of(ctx: &Context<'_>) -> AppState {
    crate::graphql::guard::state(ctx).clone()
}
