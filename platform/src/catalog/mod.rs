//! The API catalog (Konnect's "APIs"), without GraphQL or SQL: its records and
//! snapshot (`model`, `view`), specs read and checked (`spec`), the operations on
//! APIs and their versions, documents, implementations and publications
//! (`apis`), how an API's operations line up with the routes that serve them
//! (`drift`), and the change the catalog actor commits (`change`). The portals
//! that publish APIs are the `portal` domain's.

pub mod apis;
pub mod change;
pub mod drift;
pub mod model;
pub mod spec;
pub mod view;

pub use change::{CatalogCommit, CatalogEvent, Change};
pub use view::Catalog;
