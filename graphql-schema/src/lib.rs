//! The contract between Portico's platform and its gateway nodes: the config
//! entities (Kong's, with Kong's field names and defaults), their validation with a
//! field path on every error, the decK file format, and the canonical config hash.

pub mod analytics;
pub mod config;
pub mod deck;
pub mod entity;
pub mod error;
pub mod fields;
pub mod operations;
pub mod plugin_config;
pub mod secrets;
pub mod sync;
pub mod tls;
pub mod uri;

pub use config::{Config, EntityCounts};
pub use deck::{Loaded, load_str};
pub use error::{InvalidConfig, InvalidField, Problem};
