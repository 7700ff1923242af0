//! The Dev Portal, without GraphQL or SQL in its signatures: portals and their
//! content (`content`: settings, look, pages, snippets, developer teams), who
//! sees what (`visibility`), developers' accounts (`developers`: sign-up,
//! verification, sign-in, reset, approval) and mail (`mail`: SMTP or the
//! outbox). Portals live in the catalog's records; developers in their own
//! tables.

pub mod applications;
pub mod content;
pub mod developers;
pub mod events;
pub mod file;
pub mod mail;
pub mod pages;
pub mod plans;
pub mod projection;
pub mod teams;
pub mod visibility;
pub mod webhooks;
