//! Who sees what in a portal. Anonymous viewers see published public content;
//! signed-in, approved developers also see private pages and private APIs (with
//! role-based access on, only the APIs their teams have a role on). What a viewer
//! may not see does not exist for them: lists leave it out, lookups answer as
//! for a missing thing.

use uuid::Uuid;

use crate::catalog::model::{DeveloperRole, Status, Visibility};
use crate::catalog::view::Catalog;

/// The person looking at a portal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Viewer {
    /// A signed-in developer of this portal.
    pub developer: Option<Uuid>,
    /// Whether that developer is approved (only approved ones see more than
    /// anonymous viewers).
    pub approved: bool,
    /// The developer's teams.
    pub teams: Vec<Uuid>,
}

impl Viewer {
    pub fn anonymous() -> Viewer {
        Viewer::default()
    }

    fn signed_in(&self) -> bool {
        self.developer.is_some() && self.approved
    }
}

/// The roles `viewer`'s teams have on `api` in `portal`.
fn roles(cat: &Catalog, portal: Uuid, api: Uuid, viewer: &Viewer) -> Vec<DeveloperRole> {
    cat.team_roles()
        .into_iter()
        .filter(|(_, r)| {
            r.portal_id == portal
                && viewer.teams.contains(&r.team_id)
                && r.api_id.is_none_or(|a| a == api)
        })
        .map(|(_, r)| r.role)
        .collect()
}

/// Whether `viewer` sees `api` in `portal`.
pub fn api_visible(cat: &Catalog, portal: Uuid, api: Uuid, viewer: &Viewer) -> bool {
    let (Some(p), Some((_, publication))) = (cat.portal(portal), cat.publication(api, portal))
    else {
        return false;
    };
    match publication.visibility {
        Visibility::Public => true,
        Visibility::Private => {
            p.authentication_enabled
                && viewer.signed_in()
                && (!p.rbac_enabled || !roles(cat, portal, api, viewer).is_empty())
        }
    }
}

/// Whether `viewer` may call `api` (register applications for it): a signed-in
/// developer of a portal it is published to, with the API Consumer role when
/// role-based access is on.
pub fn can_consume(cat: &Catalog, portal: Uuid, api: Uuid, viewer: &Viewer) -> bool {
    let Some(p) = cat.portal(portal) else {
        return false;
    };
    api_visible(cat, portal, api, viewer)
        && p.authentication_enabled
        && viewer.signed_in()
        && (!p.rbac_enabled
            || roles(cat, portal, api, viewer).contains(&DeveloperRole::ApiConsumer))
}

fn shown(status: Status, visibility: Visibility, viewer: &Viewer) -> bool {
    status == Status::Published && (visibility == Visibility::Public || viewer.signed_in())
}

/// Whether `viewer` sees page `id` (and every page above it).
pub fn page_visible(cat: &Catalog, id: Uuid, viewer: &Viewer) -> bool {
    let mut at = Some(id);
    let mut n = 0;
    while let (Some(cur), true) = (at, n < 64) {
        n += 1;
        let Some(p) = cat.page(cur) else { return false };
        if !shown(p.status, p.visibility, viewer) {
            return false;
        }
        at = p.parent_id;
    }
    true
}

pub fn snippet_visible(cat: &Catalog, id: Uuid, viewer: &Viewer) -> bool {
    cat.snippet(id)
        .is_some_and(|s| shown(s.status, s.visibility, viewer))
}

/// Whether `viewer` sees document `id` of an API in `portal`: the API is
/// visible and the document and its parents are published.
pub fn document_visible(cat: &Catalog, portal: Uuid, id: Uuid, viewer: &Viewer) -> bool {
    let Some(d) = cat.document(id) else {
        return false;
    };
    if !api_visible(cat, portal, d.api_id, viewer) {
        return false;
    }
    let mut at = Some(id);
    let mut n = 0;
    while let (Some(cur), true) = (at, n < 64) {
        n += 1;
        match cat.document(cur) {
            Some(x) if x.status == Status::Published => at = x.parent_id,
            _ => return false,
        }
    }
    true
}

/// Whether a menu item (or any content of `visibility`) shows to `viewer`.
pub fn item_visible(visibility: Visibility, viewer: &Viewer) -> bool {
    visibility == Visibility::Public || viewer.signed_in()
}
