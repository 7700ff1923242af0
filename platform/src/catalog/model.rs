//! The catalog's records, as Konnect's API catalog and Dev Portal v3 name them:
//! APIs with their versions (specs), documents, implementations (gateway
//! services) and publications (to portals); portals with their customization,
//! pages, snippets, developer teams and the teams' roles on APIs. One record per
//! entity; the kind-specific fields are typed here and stored as JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::spec::Spec;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CatalogKind {
    Portal,
    Api,
    ApiVersion,
    ApiDocument,
    ApiImplementation,
    ApiPublication,
    PortalPage,
    PortalSnippet,
    DeveloperTeam,
    DeveloperTeamRole,
    ApiPlan,
    Application,
    ApplicationRegistration,
    ApplicationCredential,
    PortalWebhook,
}

impl CatalogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CatalogKind::Portal => "PORTAL",
            CatalogKind::Api => "API",
            CatalogKind::ApiVersion => "API_VERSION",
            CatalogKind::ApiDocument => "API_DOCUMENT",
            CatalogKind::ApiImplementation => "API_IMPLEMENTATION",
            CatalogKind::ApiPublication => "API_PUBLICATION",
            CatalogKind::PortalPage => "PORTAL_PAGE",
            CatalogKind::PortalSnippet => "PORTAL_SNIPPET",
            CatalogKind::DeveloperTeam => "DEVELOPER_TEAM",
            CatalogKind::DeveloperTeamRole => "DEVELOPER_TEAM_ROLE",
            CatalogKind::ApiPlan => "API_PLAN",
            CatalogKind::Application => "APPLICATION",
            CatalogKind::ApplicationRegistration => "APPLICATION_REGISTRATION",
            CatalogKind::ApplicationCredential => "APPLICATION_CREDENTIAL",
            CatalogKind::PortalWebhook => "PORTAL_WEBHOOK",
        }
    }

    pub fn parse(s: &str) -> Option<CatalogKind> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }
}

/// Who may see a published API, a page or a menu item.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    #[default]
    Private,
}

/// Whether developers see a page, snippet or document.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Published,
    #[default]
    Unpublished,
}

/// A developer team's role on an API (Konnect's portal roles).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeveloperRole {
    /// Read-only access to the API's documentation.
    #[serde(rename = "API Viewer")]
    ApiViewer,
    /// May call the API (register applications for it).
    #[serde(rename = "API Consumer")]
    ApiConsumer,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiData {
    pub name: String,
    pub slug: String,
    pub version: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub labels: Map<String, Value>,
    #[serde(default)]
    pub attributes: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiVersionData {
    pub api_id: Uuid,
    pub version: String,
    /// The spec as read (its content is stored apart).
    pub spec: Spec,
    /// SHA-256 of the content, to tell an unchanged spec.
    pub content_sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiDocumentData {
    pub api_id: Uuid,
    pub title: String,
    pub slug: String,
    /// Markdown, as written (the front end sanitizes what it renders).
    pub content: String,
    pub status: Status,
    pub parent_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiImplementationData {
    pub api_id: Uuid,
    pub control_plane_id: Uuid,
    pub service_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiPublicationData {
    pub api_id: Uuid,
    pub portal_id: Uuid,
    pub visibility: Visibility,
    pub auto_approve_registrations: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortalData {
    pub name: String,
    pub display_name: String,
    pub description: Option<String>,
    pub authentication_enabled: bool,
    pub rbac_enabled: bool,
    pub auto_approve_developers: bool,
    pub auto_approve_registrations: bool,
    pub default_api_visibility: Visibility,
    pub default_page_visibility: Visibility,
    pub custom_domain: Option<String>,
    #[serde(default)]
    pub labels: Map<String, Value>,
    #[serde(default)]
    pub customization: Customization,
    /// A data URL (`data:image/png;base64,...`).
    pub logo: Option<String>,
    pub favicon: Option<String>,
    /// What developers' applications may have.
    #[serde(default)]
    pub application_limits: ApplicationLimits,
}

/// Limits on developers' applications, per portal (settings, not constants).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApplicationLimits {
    pub max_applications_per_developer: u32,
    pub max_credentials_per_application: u32,
    /// The longest a key may live (days); keys asked for without an expiry
    /// get this one when it is set (0: keys may live forever).
    pub max_credential_days: u32,
    /// The longest an old key keeps working after a rotation.
    pub max_grace_seconds: u32,
}

impl Default for ApplicationLimits {
    fn default() -> Self {
        ApplicationLimits {
            max_applications_per_developer: 20,
            max_credentials_per_application: 10,
            max_credential_days: 0,
            max_grace_seconds: 7 * 24 * 3600,
        }
    }
}

/// Changes to [`ApplicationLimits`] (fields left out stay).
#[derive(Clone, Debug, Default)]
pub struct ApplicationLimitsPatch {
    pub max_applications_per_developer: Option<u32>,
    pub max_credentials_per_application: Option<u32>,
    pub max_credential_days: Option<u32>,
    pub max_grace_seconds: Option<u32>,
}

impl ApplicationLimits {
    pub fn patch(&mut self, p: ApplicationLimitsPatch) {
        if let Some(v) = p.max_applications_per_developer {
            self.max_applications_per_developer = v;
        }
        if let Some(v) = p.max_credentials_per_application {
            self.max_credentials_per_application = v;
        }
        if let Some(v) = p.max_credential_days {
            self.max_credential_days = v;
        }
        if let Some(v) = p.max_grace_seconds {
            self.max_grace_seconds = v;
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortalPageData {
    pub portal_id: Uuid,
    pub slug: String,
    pub title: String,
    pub content: String,
    pub visibility: Visibility,
    pub status: Status,
    pub description: Option<String>,
    pub parent_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortalSnippetData {
    pub portal_id: Uuid,
    pub name: String,
    pub title: Option<String>,
    pub content: String,
    pub visibility: Visibility,
    pub status: Status,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeveloperTeamData {
    pub portal_id: Uuid,
    pub name: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeveloperTeamRoleData {
    pub portal_id: Uuid,
    pub team_id: Uuid,
    /// One API, or every API of the portal.
    pub api_id: Option<Uuid>,
    pub role: DeveloperRole,
}

/// A plan developers pick when they register for a published API: rate
/// limits per period and a monthly quota, enforced per application by the
/// `portal-auth` plugin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiPlanData {
    pub publication_id: Uuid,
    pub api_id: Uuid,
    pub portal_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub limits: graphql_schema::entity::PlanLimits,
}

/// A developer's (or a developer team's) application in a portal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplicationData {
    pub portal_id: Uuid,
    /// The developer who created it.
    pub developer_id: Uuid,
    /// The developer team that owns it (its members manage it), if any.
    pub team_id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
    /// Set while its developer is revoked or rejected: its keys stop working.
    #[serde(default)]
    pub suspended: bool,
}

/// Konnect's registration statuses.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationStatus {
    Pending,
    Approved,
    Rejected,
    Revoked,
}

/// An application's request to call an API, and the admins' decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegistrationData {
    pub portal_id: Uuid,
    pub application_id: Uuid,
    pub api_id: Uuid,
    pub plan_id: Option<Uuid>,
    pub status: RegistrationStatus,
    pub message: Option<String>,
    pub reason: Option<String>,
}

/// An API key of an application: only its SHA-256 and a display prefix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CredentialData {
    pub portal_id: Uuid,
    pub application_id: Uuid,
    pub display_name: Option<String>,
    pub key_sha256: String,
    /// The key's first characters (empty for a key imported by its hash).
    pub prefix: String,
    /// Unix milliseconds after which the key no longer works.
    pub expires_at: Option<i64>,
    pub revoked: bool,
    /// Whether it was imported (an existing key or its hash).
    #[serde(default)]
    pub imported: bool,
}

/// Where a portal's events are POSTed, signed with HMAC-SHA256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookData {
    pub portal_id: Uuid,
    pub url: String,
    /// Event names (`registration.requested`, ...); empty: every event.
    pub events: Vec<String>,
    /// The signing secret, sealed.
    pub secret_sealed: String,
    pub enabled: bool,
}

/// A portal's look (Konnect's `PortalCustomizationV3`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Customization {
    pub theme: Theme,
    pub layout: String,
    pub css: Option<String>,
    pub menu: Menu,
    pub spec_renderer: SpecRenderer,
    pub robots: Option<String>,
}

impl Default for Customization {
    fn default() -> Self {
        Customization {
            theme: Theme::default(),
            layout: "Top navigation".into(),
            css: None,
            menu: Menu::default(),
            spec_renderer: SpecRenderer::default(),
            robots: None,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ThemeMode {
    #[default]
    Light,
    Dark,
    System,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Theme {
    pub name: String,
    pub mode: ThemeMode,
    pub colors: ThemeColors,
}

impl Default for Theme {
    fn default() -> Self {
        Theme {
            name: "Portico".into(),
            mode: ThemeMode::Light,
            colors: ThemeColors::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThemeColors {
    /// `#rgb` or `#rrggbb`.
    pub primary: String,
}

impl Default for ThemeColors {
    fn default() -> Self {
        ThemeColors {
            primary: "#1155cb".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Menu {
    pub main: Vec<MenuItem>,
    pub footer_sections: Vec<FooterSection>,
    pub footer_bottom: Vec<MenuItem>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuItem {
    pub path: String,
    pub title: String,
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default)]
    pub external: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FooterSection {
    pub title: String,
    pub items: Vec<MenuItem>,
}

/// How API specs are shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpecRenderer {
    pub try_it_ui: bool,
    pub try_it_insomnia: bool,
    pub infinite_scroll: bool,
    pub show_schemas: bool,
    pub hide_internal: bool,
    pub hide_deprecated: bool,
    pub allow_custom_server_urls: bool,
}

impl Default for SpecRenderer {
    fn default() -> Self {
        SpecRenderer {
            try_it_ui: true,
            try_it_insomnia: true,
            infinite_scroll: true,
            show_schemas: true,
            hide_internal: false,
            hide_deprecated: false,
            allow_custom_server_urls: true,
        }
    }
}

/// A record's kind-specific fields.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum Data {
    Portal(PortalData),
    Api(ApiData),
    ApiVersion(ApiVersionData),
    ApiDocument(ApiDocumentData),
    ApiImplementation(ApiImplementationData),
    ApiPublication(ApiPublicationData),
    PortalPage(PortalPageData),
    PortalSnippet(PortalSnippetData),
    DeveloperTeam(DeveloperTeamData),
    DeveloperTeamRole(DeveloperTeamRoleData),
    ApiPlan(ApiPlanData),
    Application(ApplicationData),
    ApplicationRegistration(RegistrationData),
    ApplicationCredential(CredentialData),
    PortalWebhook(WebhookData),
}

impl Data {
    pub fn kind(&self) -> CatalogKind {
        match self {
            Data::Portal(_) => CatalogKind::Portal,
            Data::Api(_) => CatalogKind::Api,
            Data::ApiVersion(_) => CatalogKind::ApiVersion,
            Data::ApiDocument(_) => CatalogKind::ApiDocument,
            Data::ApiImplementation(_) => CatalogKind::ApiImplementation,
            Data::ApiPublication(_) => CatalogKind::ApiPublication,
            Data::PortalPage(_) => CatalogKind::PortalPage,
            Data::PortalSnippet(_) => CatalogKind::PortalSnippet,
            Data::DeveloperTeam(_) => CatalogKind::DeveloperTeam,
            Data::DeveloperTeamRole(_) => CatalogKind::DeveloperTeamRole,
            Data::ApiPlan(_) => CatalogKind::ApiPlan,
            Data::Application(_) => CatalogKind::Application,
            Data::ApplicationRegistration(_) => CatalogKind::ApplicationRegistration,
            Data::ApplicationCredential(_) => CatalogKind::ApplicationCredential,
            Data::PortalWebhook(_) => CatalogKind::PortalWebhook,
        }
    }

    /// Reads stored JSON of a kind.
    pub fn read(kind: CatalogKind, json: &str) -> Result<Data, serde_json::Error> {
        Ok(match kind {
            CatalogKind::Portal => Data::Portal(serde_json::from_str(json)?),
            CatalogKind::Api => Data::Api(serde_json::from_str(json)?),
            CatalogKind::ApiVersion => Data::ApiVersion(serde_json::from_str(json)?),
            CatalogKind::ApiDocument => Data::ApiDocument(serde_json::from_str(json)?),
            CatalogKind::ApiImplementation => Data::ApiImplementation(serde_json::from_str(json)?),
            CatalogKind::ApiPublication => Data::ApiPublication(serde_json::from_str(json)?),
            CatalogKind::PortalPage => Data::PortalPage(serde_json::from_str(json)?),
            CatalogKind::PortalSnippet => Data::PortalSnippet(serde_json::from_str(json)?),
            CatalogKind::DeveloperTeam => Data::DeveloperTeam(serde_json::from_str(json)?),
            CatalogKind::DeveloperTeamRole => Data::DeveloperTeamRole(serde_json::from_str(json)?),
            CatalogKind::ApiPlan => Data::ApiPlan(serde_json::from_str(json)?),
            CatalogKind::Application => Data::Application(serde_json::from_str(json)?),
            CatalogKind::ApplicationRegistration => {
                Data::ApplicationRegistration(serde_json::from_str(json)?)
            }
            CatalogKind::ApplicationCredential => {
                Data::ApplicationCredential(serde_json::from_str(json)?)
            }
            CatalogKind::PortalWebhook => Data::PortalWebhook(serde_json::from_str(json)?),
        })
    }

    /// The record this one belongs to (deleted with it).
    pub fn parent(&self) -> Option<Uuid> {
        match self {
            Data::Portal(_) | Data::Api(_) => None,
            Data::ApiVersion(d) => Some(d.api_id),
            Data::ApiDocument(d) => Some(d.parent_id.unwrap_or(d.api_id)),
            Data::ApiImplementation(d) => Some(d.api_id),
            Data::ApiPublication(d) => Some(d.api_id),
            Data::PortalPage(d) => Some(d.parent_id.unwrap_or(d.portal_id)),
            Data::PortalSnippet(d) => Some(d.portal_id),
            Data::DeveloperTeam(d) => Some(d.portal_id),
            Data::DeveloperTeamRole(d) => Some(d.team_id),
            Data::ApiPlan(d) => Some(d.publication_id),
            Data::Application(d) => Some(d.portal_id),
            Data::ApplicationRegistration(d) => Some(d.application_id),
            Data::ApplicationCredential(d) => Some(d.application_id),
            Data::PortalWebhook(d) => Some(d.portal_id),
        }
    }

    /// Other records whose deletion takes this one with it.
    pub fn also_owned_by(&self) -> Option<Uuid> {
        match self {
            Data::ApiPublication(d) => Some(d.portal_id),
            Data::ApiDocument(d) if d.parent_id.is_some() => Some(d.api_id),
            Data::PortalPage(d) if d.parent_id.is_some() => Some(d.portal_id),
            Data::DeveloperTeamRole(d) => d.api_id,
            Data::ApplicationRegistration(d) => Some(d.api_id),
            Data::Application(d) => d.team_id,
            _ => None,
        }
    }
}

/// One catalog record.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub id: Uuid,
    pub data: Data,
    /// Creation order.
    pub seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Entry {
    pub fn kind(&self) -> CatalogKind {
        self.data.kind()
    }
}
