//! The admin API's GraphQL schema, one module per domain (control planes, config,
//! hybrid mode, identity, teams, audit), merged at the root. Resolvers check
//! access, call the domain's actor or store, and map domain errors through
//! `error.rs`, the one place that knows GraphQL's error shape.

pub mod analytics;
pub mod analytics_requests;
pub mod applications;
pub mod audit;
pub mod catalog;
pub mod changes;
pub mod config;
pub mod connection;
pub mod control_plane;
pub mod data_plane;
pub mod developer;
pub mod entities;
pub mod error;
pub mod guard;
pub mod identity;
pub mod limits;
pub mod portal;
pub mod team;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::state::AppState;

pub type PorticoSchema = Schema<Query, Mutation, Subscription>;

/// Every query.
#[derive(MergedObject, Default)]
pub struct Query(
    control_plane::ControlPlaneQuery,
    data_plane::DataPlaneQuery,
    config::ConfigQuery,
    identity::IdentityQuery,
    team::TeamQuery,
    audit::AuditQuery,
    catalog::queries::CatalogQuery,
    catalog::file::CatalogFileQuery,
    portal::queries::PortalQuery,
    portal::applications::PortalApplicationsQuery,
    portal::webhooks::PortalWebhookQuery,
    analytics::AnalyticsQuery,
    analytics_requests::ApiRequestsQuery,
);

/// Every mutation.
#[derive(MergedObject, Default)]
pub struct Mutation(
    control_plane::ControlPlaneMutation,
    config::ConfigMutation,
    entities::mutations::EntityMutation,
    data_plane::DataPlaneMutation,
    identity::IdentityMutation,
    team::TeamMutation,
    catalog::mutations::CatalogMutation,
    catalog::file::CatalogFileMutation,
    portal::mutations::PortalMutation,
    portal::people::PortalPeopleMutation,
    portal::applications::PortalApplicationsMutation,
    portal::webhooks::PortalWebhookMutation,
);

/// Every subscription.
#[derive(MergedSubscription, Default)]
pub struct Subscription(
    data_plane::DataPlaneSubscription,
    changes::ConfigSubscription,
    analytics::AnalyticsSubscription,
);

pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 5000;

pub fn schema(state: AppState) -> PorticoSchema {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .data(state)
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .extension(audit::AuditExtension)
    .extension(limits::FieldCaps)
    .finish()
}

/// The SDL of the schema (without data), for the snapshot in `graphql-schema`.
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .finish()
    .sdl()
}
