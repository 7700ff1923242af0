//! Portico's control plane, by layer and domain: `http` (axum wiring),
//! `graphql` (the admin API, one module per domain) and `cluster` (the node
//! endpoint) on top; `actors` (one writer per aggregate) and `auth` (identities
//! and access) below them; the domains (`config`, `catalog`, `portal`); and
//! `store` (entities,
//! migrations, queries) at the bottom. `state` holds the handles, `cli` the
//! commands, `replicas` the LISTEN/NOTIFY between replicas.

pub mod actors;
pub mod analytics;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod error;
pub mod files;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod pki;
pub mod portal;
pub mod replicas;
pub mod seal;
pub mod state;
pub mod store;
