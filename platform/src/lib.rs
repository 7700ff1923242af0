//! Portico's control plane: storage (sea-orm), the control plane actors (ractor),
//! the GraphQL API (async-graphql on axum) and the `portico` CLI.

pub mod actor;
pub mod api;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod files;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod replicas;
pub mod seal;
pub mod server;
pub mod store;
pub mod teams;
pub mod up;
