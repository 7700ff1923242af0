//! The API catalog in the admin API (role type `api-products`): APIs with their
//! versions and specs, documents, implementations (with the drift between
//! documented operations and the routes that serve them) and publications to
//! portals. Changes go through the catalog actor. The types are declared here
//! (`Portal` too: publications point to it; its fields are in `graphql/portal.rs`),
//! their fields in `objects.rs`, the root fields in `queries.rs` and
//! `mutations.rs`.

pub mod file;
pub mod mutations;
pub mod objects;
pub mod queries;

use std::sync::Arc;

use async_graphql::{Enum, SimpleObject};
use uuid::Uuid;

use super::connection::connection;
use super::entities::Route;
use crate::auth::Resource;
use crate::catalog::Catalog;
use crate::catalog::spec;

/// Who may see a publication, page or menu item.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::catalog::model::Visibility")]
pub enum ContentVisibility {
    Public,
    Private,
}

/// Whether developers see a page, snippet or document.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::catalog::model::Status")]
pub enum PublishStatus {
    Published,
    Unpublished,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::catalog::spec::SpecType")]
pub enum ApiSpecType {
    #[graphql(name = "OAS2")]
    Oas2,
    #[graphql(name = "OAS3")]
    Oas3,
    Asyncapi,
    Unknown,
}

pub fn api_resource(id: Uuid) -> Resource {
    Resource::ApiProduct(id.to_string())
}

pub fn portal_resource(id: Uuid) -> Resource {
    Resource::Portal(id.to_string())
}

/// A Dev Portal (its fields are in `portal.rs`).
#[derive(Clone)]
pub struct Portal {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

/// An API of the catalog.
#[derive(Clone)]
pub struct Api {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

connection!(ApiConnection, ApiEdge, Api);

// One problem of a spec: where (a JSON pointer) and what.
#[derive(SimpleObject, Clone)]
pub struct SpecValidationMessage {
    pub path: String,
    pub message: String,
}

/// An operation a spec describes, with the routes that serve it.
#[derive(SimpleObject, Clone)]
pub struct ApiOperation {
    pub method: String,
    pub path: String,
    pub operation_id: Option<String>,
    pub summary: Option<String>,
    pub deprecated: bool,
    /// Whether a route of an implementing service serves it.
    pub implemented: bool,
    /// The routes that serve it.
    pub routes: Vec<Route>,
}

/// A spec as read.
#[derive(Clone)]
pub struct ApiSpec {
    pub version_id: Option<Uuid>,
    pub spec: spec::Spec,
}

/// A version of an API, with its spec.
#[derive(Clone)]
pub struct ApiVersion {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

/// A markdown document of an API.
#[derive(Clone)]
pub struct ApiDocument {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

/// A gateway service that implements an API.
#[derive(Clone)]
pub struct ApiImplementation {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

/// An API published to a portal.
#[derive(Clone)]
pub struct ApiPublication {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}
