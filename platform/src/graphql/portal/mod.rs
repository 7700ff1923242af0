//! Dev Portals in the admin API (role type `portals`): portals with their
//! settings and look, pages, snippets, developers (approve, reject, revoke) and
//! developer teams with roles on APIs, and the mail outbox. The `Portal` type
//! is declared with the catalog's (publications point to it); its fields are
//! here (`objects.rs`), with the root fields (`queries.rs`, `mutations.rs`).

pub mod applications;
pub mod mutations;
pub mod objects;
pub mod people;
pub mod queries;
pub mod webhooks;

use std::sync::Arc;

use async_graphql::{Enum, SimpleObject};
use uuid::Uuid;

use super::catalog::ContentVisibility;
use super::connection::connection;
use crate::catalog::Catalog;
use crate::catalog::model;

pub use super::catalog::{Portal, portal_resource};

connection!(PortalConnection, PortalEdge, Portal);
connection!(DeveloperConnection, DeveloperEdge, Developer);
connection!(MailConnection, MailEdge, Mail);

/// A page of a portal.
#[derive(Clone)]
pub struct PortalPage {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

/// A named piece of content pages embed.
#[derive(Clone)]
pub struct PortalSnippet {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

/// A team of developers, with roles on APIs.
#[derive(Clone)]
pub struct DeveloperTeam {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

/// A developer's standing in a portal.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::portal::developers::DeveloperStatus")]
pub enum DeveloperStatus {
    Approved,
    Pending,
    Revoked,
    Rejected,
}

/// A developer team's role on an API.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::catalog::model::DeveloperRole")]
pub enum DeveloperRoleName {
    /// Read-only access to the API's documentation.
    ApiViewer,
    /// May call the API.
    ApiConsumer,
}

/// A developer of a portal.
#[derive(SimpleObject, Clone)]
pub struct Developer {
    pub id: async_graphql::ID,
    pub email: String,
    pub full_name: String,
    pub status: DeveloperStatus,
    pub email_verified: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    #[graphql(skip)]
    pub key: (i64, String),
}

impl From<crate::portal::developers::DeveloperRecord> for Developer {
    fn from(d: crate::portal::developers::DeveloperRecord) -> Developer {
        Developer {
            key: (d.created_at, d.id.clone()),
            id: async_graphql::ID(d.id),
            email: d.email,
            full_name: d.full_name,
            status: crate::portal::developers::DeveloperStatus::parse(&d.status).into(),
            email_verified: d.email_verified,
            created_at: super::connection::datetime(d.created_at),
            updated_at: super::connection::datetime(d.updated_at),
        }
    }
}

/// A message to a developer, as kept in the outbox.
#[derive(SimpleObject, Clone)]
pub struct Mail {
    pub id: async_graphql::ID,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When SMTP took it (null without SMTP, or when sending failed).
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    pub error: Option<String>,
}

/// A team's role on one API (or on every API of the portal).
#[derive(SimpleObject, Clone)]
pub struct DeveloperTeamRole {
    pub id: async_graphql::ID,
    pub role: DeveloperRoleName,
    /// Null: every API of the portal.
    pub api_id: Option<async_graphql::ID>,
}

// The look of a portal, as Konnect's customization names it.

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::catalog::model::ThemeMode")]
pub enum ThemeMode {
    Light,
    Dark,
    System,
}

#[derive(SimpleObject, Clone)]
pub struct ThemeColors {
    pub primary: String,
}

#[derive(SimpleObject, Clone)]
pub struct Theme {
    pub name: String,
    pub mode: ThemeMode,
    pub colors: ThemeColors,
}

#[derive(SimpleObject, Clone)]
pub struct MenuItem {
    pub path: String,
    pub title: String,
    pub visibility: ContentVisibility,
    /// Opens in a new tab.
    pub external: bool,
}

#[derive(SimpleObject, Clone)]
pub struct FooterSection {
    pub title: String,
    pub items: Vec<MenuItem>,
}

#[derive(SimpleObject, Clone)]
pub struct Menu {
    pub main: Vec<MenuItem>,
    pub footer_sections: Vec<FooterSection>,
    pub footer_bottom: Vec<MenuItem>,
}

#[derive(SimpleObject, Clone)]
pub struct SpecRenderer {
    pub try_it_ui: bool,
    pub try_it_insomnia: bool,
    pub infinite_scroll: bool,
    pub show_schemas: bool,
    pub hide_internal: bool,
    pub hide_deprecated: bool,
    pub allow_custom_server_urls: bool,
}

#[derive(SimpleObject, Clone)]
pub struct PortalCustomization {
    pub theme: Theme,
    pub layout: String,
    pub css: Option<String>,
    pub menu: Menu,
    pub spec_renderer: SpecRenderer,
    pub robots: Option<String>,
}

fn item(i: &model::MenuItem) -> MenuItem {
    MenuItem {
        path: i.path.clone(),
        title: i.title.clone(),
        visibility: i.visibility.into(),
        external: i.external,
    }
}

impl PortalCustomization {
    /// The look, with menu items kept only where `keep` says.
    pub fn of(
        c: &model::Customization,
        keep: impl Fn(model::Visibility) -> bool,
    ) -> PortalCustomization {
        let items = |l: &[model::MenuItem]| {
            l.iter()
                .filter(|i| keep(i.visibility))
                .map(item)
                .collect::<Vec<_>>()
        };
        let s = &c.spec_renderer;
        PortalCustomization {
            theme: Theme {
                name: c.theme.name.clone(),
                mode: c.theme.mode.into(),
                colors: ThemeColors {
                    primary: c.theme.colors.primary.clone(),
                },
            },
            layout: c.layout.clone(),
            css: c.css.clone(),
            menu: Menu {
                main: items(&c.menu.main),
                footer_sections: c
                    .menu
                    .footer_sections
                    .iter()
                    .map(|f| FooterSection {
                        title: f.title.clone(),
                        items: items(&f.items),
                    })
                    .collect(),
                footer_bottom: items(&c.menu.footer_bottom),
            },
            spec_renderer: SpecRenderer {
                try_it_ui: s.try_it_ui,
                try_it_insomnia: s.try_it_insomnia,
                infinite_scroll: s.infinite_scroll,
                show_schemas: s.show_schemas,
                hide_internal: s.hide_internal,
                hide_deprecated: s.hide_deprecated,
                allow_custom_server_urls: s.allow_custom_server_urls,
            },
            robots: c.robots.clone(),
        }
    }
}
