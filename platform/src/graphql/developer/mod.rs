//! The developer realm: one portal's API for its developers, at
//! `/portals/{name}/graphql` (and `/ws`), with its own schema (SDL snapshot
//! `graphql-schema/portal.graphql`). Anonymous callers see the portal's public
//! content; signed-in developers (a session token as bearer, or the HttpOnly
//! cookie a browser got at sign-in) also what they may see. Nothing of the
//! admin realm is reachable here, and admin tokens mean nothing.

pub mod applications;
pub mod credential_status;
pub mod mutations;
pub mod objects;
pub mod queries;
pub mod subscription;

use async_graphql::{Context, MergedObject, MergedSubscription, Schema};
use uuid::Uuid;

use crate::error::Error;
use crate::portal::developers::{self, DeveloperRecord};
use crate::portal::visibility::Viewer;
use crate::state::AppState;

pub type DeveloperSchema =
    Schema<DeveloperQueryRoot, DeveloperMutationRoot, DeveloperSubscriptionRoot>;

#[derive(MergedObject, Default)]
#[graphql(name = "DeveloperQuery")]
pub struct DeveloperQueryRoot(queries::DeveloperQuery, applications::ApplicationQuery);

#[derive(MergedObject, Default)]
#[graphql(name = "DeveloperMutation")]
pub struct DeveloperMutationRoot(
    mutations::DeveloperMutation,
    applications::ApplicationMutation,
);

#[derive(MergedSubscription, Default)]
#[graphql(name = "DeveloperSubscription")]
pub struct DeveloperSubscriptionRoot(
    subscription::DeveloperSubscription,
    credential_status::CredentialSubscription,
);

/// The cookie a browser keeps the developer's session in.
pub const SESSION_COOKIE: &str = "portico_portal_session";

/// The portal a request is for.
#[derive(Clone, Debug)]
pub struct PortalCtx {
    pub id: Uuid,
    pub name: String,
    /// Where links in mails point (`https://host/portals/name`).
    pub base_url: String,
    /// Whether the portal is served over HTTPS (cookies get `Secure`).
    pub secure: bool,
}

/// A signed-in developer: the record and the session token's id.
#[derive(Clone, Debug)]
pub struct DevSession {
    pub developer: DeveloperRecord,
    pub token_id: String,
}

pub fn schema(state: AppState) -> DeveloperSchema {
    Schema::build(
        DeveloperQueryRoot::default(),
        DeveloperMutationRoot::default(),
        DeveloperSubscriptionRoot::default(),
    )
    .data(state)
    .limit_depth(super::MAX_DEPTH)
    .limit_complexity(super::MAX_COMPLEXITY)
    .extension(super::limits::FieldCaps)
    .finish()
}

/// The SDL (the snapshot in `graphql-schema/portal.graphql`).
pub fn sdl() -> String {
    Schema::build(
        DeveloperQueryRoot::default(),
        DeveloperMutationRoot::default(),
        DeveloperSubscriptionRoot::default(),
    )
    .finish()
    .sdl()
}

pub fn portal<'a>(ctx: &Context<'a>) -> &'a PortalCtx {
    ctx.data_unchecked::<PortalCtx>()
}

pub fn session<'a>(ctx: &Context<'a>) -> Option<&'a DevSession> {
    ctx.data_opt::<DevSession>()
}

/// Who is looking: a signed-in developer with their teams, or anonymous.
pub async fn viewer_of(st: &AppState, s: Option<&DevSession>) -> Result<Viewer, Error> {
    let Some(s) = s else {
        return Ok(Viewer::anonymous());
    };
    Ok(Viewer {
        developer: Uuid::parse_str(&s.developer.id).ok(),
        approved: developers::DeveloperStatus::parse(&s.developer.status)
            == developers::DeveloperStatus::Approved,
        teams: developers::teams_of(&st.db, &s.developer.id).await?,
    })
}

pub fn viewer<'a>(ctx: &Context<'a>) -> &'a Viewer {
    ctx.data_unchecked::<Viewer>()
}
