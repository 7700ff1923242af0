//! The authorization vocabulary as types: resource types, resources (objects),
//! actions and role names. Callers build a check from these, never from string
//! pairs; the strings exist only where casbin and the database keep them.

use std::borrow::Cow;
use std::fmt;

/// The kinds of resource roles are scoped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceType {
    Organization,
    ControlPlanes,
    Portals,
    Analytics,
    ApiProducts,
}

impl ResourceType {
    pub const ALL: [ResourceType; 5] = [
        ResourceType::Organization,
        ResourceType::ControlPlanes,
        ResourceType::Portals,
        ResourceType::Analytics,
        ResourceType::ApiProducts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Organization => "organization",
            ResourceType::ControlPlanes => "control-planes",
            ResourceType::Portals => "portals",
            ResourceType::Analytics => "analytics",
            ResourceType::ApiProducts => "api-products",
        }
    }

    pub fn parse(s: &str) -> Option<ResourceType> {
        ResourceType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A role's name (each resource type has some of them; see `roles.csv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoleName {
    Admin,
    Viewer,
    Creator,
    Deployer,
    GatewayServiceAdmin,
    PluginAdmin,
    ConsumerAdmin,
    CertificateAdmin,
    Developer,
}

impl RoleName {
    pub const ALL: [RoleName; 9] = [
        RoleName::Admin,
        RoleName::Viewer,
        RoleName::Creator,
        RoleName::Deployer,
        RoleName::GatewayServiceAdmin,
        RoleName::PluginAdmin,
        RoleName::ConsumerAdmin,
        RoleName::CertificateAdmin,
        RoleName::Developer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RoleName::Admin => "Admin",
            RoleName::Viewer => "Viewer",
            RoleName::Creator => "Creator",
            RoleName::Deployer => "Deployer",
            RoleName::GatewayServiceAdmin => "Gateway Service Admin",
            RoleName::PluginAdmin => "Plugin Admin",
            RoleName::ConsumerAdmin => "Consumer Admin",
            RoleName::CertificateAdmin => "Certificate Admin",
            RoleName::Developer => "Developer",
        }
    }

    pub fn parse(s: &str) -> Option<RoleName> {
        RoleName::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a check is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    Organization,
    /// One control plane (by id).
    ControlPlane(String),
    /// The control planes not made yet (`create`).
    NewControlPlane,
    Portal(String),
    Analytics(String),
    ApiProduct(String),
}

impl Resource {
    /// The casbin object.
    pub fn object(&self) -> Cow<'static, str> {
        match self {
            Resource::Organization => Cow::Borrowed("organization"),
            Resource::NewControlPlane => Cow::Borrowed("control-planes/new"),
            Resource::ControlPlane(id) => Cow::Owned(format!("control-planes/{id}")),
            Resource::Portal(id) => Cow::Owned(format!("portals/{id}")),
            Resource::Analytics(id) => Cow::Owned(format!("analytics/{id}")),
            Resource::ApiProduct(id) => Cow::Owned(format!("api-products/{id}")),
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.object())
    }
}

/// What a caller wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    Create,
    Update,
    Delete,
    /// Write any config entity, or a whole decK document.
    Deploy,
    Publish,
    /// Issue, pin and revoke node certificates.
    NodesManage,
    /// Write config entities of one kind (`SERVICE`, `PLUGIN`, ...).
    EntitiesWrite(&'static str),
    UsersManage,
    TeamsManage,
    TokensManage,
    AuditRead,
}

impl Action {
    /// The casbin action.
    pub fn name(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Deploy => "deploy",
            Action::Publish => "publish",
            Action::NodesManage => "nodes.manage",
            Action::UsersManage => "users.manage",
            Action::TeamsManage => "teams.manage",
            Action::TokensManage => "tokens.manage",
            Action::AuditRead => "audit.read",
            Action::EntitiesWrite(kind) => return Cow::Owned(format!("entities.write.{kind}")),
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_and_type_in_the_rules_has_a_name() {
        for r in crate::roles() {
            assert!(ResourceType::parse(&r.resource_type).is_some(), "{r:?}");
            assert!(RoleName::parse(&r.name).is_some(), "{r:?}");
        }
        for t in crate::RESOURCE_TYPES {
            assert!(ResourceType::parse(t).is_some(), "{t}");
        }
    }

    #[test]
    fn objects_and_actions_read_as_casbin_has_them() {
        assert_eq!(
            Resource::ControlPlane("x".into()).object(),
            "control-planes/x"
        );
        assert_eq!(Resource::NewControlPlane.object(), "control-planes/new");
        assert_eq!(
            Action::EntitiesWrite("ROUTE").name(),
            "entities.write.ROUTE"
        );
        assert_eq!(Action::NodesManage.name(), "nodes.manage");
    }
}
