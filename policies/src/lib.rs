//! Portico's authorization rules, as files this crate embeds: the casbin model
//! (`rules/model.conf`), the roles per resource type (`rules/roles.csv`) and the
//! predefined teams (`rules/teams.csv`, Konnect's). [`Authorizer`] turns team role
//! assignments and memberships into casbin policies and answers "may this member
//! do this action on this object?".
//!
//! Objects: `organization`, `control-planes/<id>` (`control-planes/*` for all),
//! `portals/<id>`, `analytics/<id>`, `api-products/<id>`. Actions: `read`,
//! `create`, `update`, `delete`, `deploy`, `nodes.manage`,
//! `entities.write.<KIND>`, and on the organization `users.manage`,
//! `teams.manage`, `tokens.manage`, `audit.read`.

mod vocab;

pub use vocab::{Action, Resource, ResourceType, RoleName};

use casbin::{CachedApi, CachedEnforcer, CoreApi, DefaultModel, MemoryAdapter, MgmtApi, RbacApi};

pub const MODEL: &str = include_str!("../rules/model.conf");
const ROLES: &str = include_str!("../rules/roles.csv");
const TEAMS: &str = include_str!("../rules/teams.csv");

/// The resource types roles are scoped to.
pub const RESOURCE_TYPES: &[&str] = &[
    "organization",
    "control-planes",
    "portals",
    "analytics",
    "api-products",
];

/// A role: what it allows on one resource type.
#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    pub resource_type: String,
    pub name: String,
    /// A regex over action names.
    pub actions: String,
}

/// A role given to a team on one resource (`scope` = its id) or all of a type
/// (`scope` = `*`).
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub resource_type: String,
    pub role: String,
    pub scope: String,
}

fn rows(text: &str) -> impl Iterator<Item = Vec<String>> + '_ {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            // the last field of roles.csv is a regex that may contain commas
            let mut parts: Vec<String> = Vec::new();
            let mut rest = l;
            for _ in 0..2 {
                if let Some((a, b)) = rest.split_once(',') {
                    parts.push(a.trim().to_string());
                    rest = b;
                }
            }
            parts.push(rest.trim().to_string());
            parts
        })
}

/// Every role of every resource type.
pub fn roles() -> Vec<Role> {
    rows(ROLES)
        .filter(|r| r.len() == 3)
        .map(|r| Role {
            resource_type: r[0].clone(),
            name: r[1].clone(),
            actions: r[2].clone(),
        })
        .collect()
}

pub fn role(resource_type: &str, name: &str) -> Option<Role> {
    roles()
        .into_iter()
        .find(|r| r.resource_type == resource_type && r.name == name)
}

/// The predefined teams and their role assignments, in file order.
pub fn predefined_teams() -> Vec<(String, Vec<Assignment>)> {
    let mut out: Vec<(String, Vec<Assignment>)> = Vec::new();
    for line in TEAMS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let f: Vec<&str> = line.rsplitn(4, ',').map(str::trim).collect();
        // rsplitn: [scope, role, type, team]
        if f.len() != 4 {
            continue;
        }
        let a = Assignment {
            resource_type: f[2].into(),
            role: f[1].into(),
            scope: f[0].into(),
        };
        match out.iter_mut().find(|(n, _)| n == f[3]) {
            Some((_, v)) => v.push(a),
            None => out.push((f[3].into(), vec![a])),
        }
    }
    out
}

/// The object an assignment covers.
pub fn object(resource_type: &str, scope: &str) -> String {
    if resource_type == "organization" {
        "organization".into()
    } else {
        format!("{resource_type}/{scope}")
    }
}

/// Checks an assignment: a known type and role, a scope of `*` or an id.
pub fn check(a: &Assignment) -> Result<Role, String> {
    if !RESOURCE_TYPES.contains(&a.resource_type.as_str()) {
        return Err(format!(
            "unknown resource type {:?}; one of {RESOURCE_TYPES:?}",
            a.resource_type
        ));
    }
    let r = role(&a.resource_type, &a.role).ok_or_else(|| {
        let names: Vec<String> = roles()
            .into_iter()
            .filter(|r| r.resource_type == a.resource_type)
            .map(|r| r.name)
            .collect();
        format!(
            "unknown role {:?} for {}; one of {names:?}",
            a.role, a.resource_type
        )
    })?;
    if a.scope.is_empty() || a.scope.contains('/') || (a.scope.contains('*') && a.scope != "*") {
        return Err(format!("scope {:?}: an id or *", a.scope));
    }
    Ok(r)
}

/// The policy rows of a team.
pub fn policy_rows(team: &str, assignments: &[Assignment]) -> Result<Vec<Vec<String>>, String> {
    let mut out = Vec::new();
    for a in assignments {
        let r = check(a)?;
        out.push(vec![
            team.to_string(),
            object(&a.resource_type, &a.scope),
            r.actions,
        ]);
    }
    Ok(out)
}

/// The casbin enforcer with Portico's model; policies are kept in memory and
/// rebuilt from the database by the platform. Decisions are cached per (member,
/// object, action) and the cache is emptied by every policy change: an uncached
/// check evaluates the model (tens of microseconds), a cached one is a lookup.
pub struct Authorizer {
    e: CachedEnforcer,
}

impl Authorizer {
    pub async fn new() -> Result<Authorizer, String> {
        let m = DefaultModel::from_str(MODEL)
            .await
            .map_err(|e| e.to_string())?;
        let mut e = CachedEnforcer::new(m, MemoryAdapter::default())
            .await
            .map_err(|e| e.to_string())?;
        e.set_cache(Box::new(casbin::DefaultCache::new(200_000)));
        Ok(Authorizer { e })
    }

    /// Replaces a team's policies.
    pub async fn set_team(&mut self, team: &str, assignments: &[Assignment]) -> Result<(), String> {
        let rows = policy_rows(team, assignments)?;
        self.e
            .remove_filtered_policy(0, vec![team.to_string()])
            .await
            .map_err(|e| e.to_string())?;
        if !rows.is_empty() {
            self.e.add_policies(rows).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    pub async fn remove_team(&mut self, team: &str) -> Result<(), String> {
        self.e
            .remove_filtered_policy(0, vec![team.to_string()])
            .await
            .map_err(|e| e.to_string())?;
        self.e
            .remove_filtered_grouping_policy(1, vec![team.to_string()])
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Replaces a member's teams.
    pub async fn set_member(&mut self, member: &str, teams: &[String]) -> Result<(), String> {
        self.e
            .remove_filtered_grouping_policy(0, vec![member.to_string()])
            .await
            .map_err(|e| e.to_string())?;
        if !teams.is_empty() {
            let rows: Vec<Vec<String>> = teams
                .iter()
                .map(|t| vec![member.to_string(), t.clone()])
                .collect();
            self.e
                .add_grouping_policies(rows)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The teams a member is in.
    pub fn teams_of(&self, member: &str) -> Vec<String> {
        self.e.get_roles_for_user(member, None)
    }

    /// Whether `member` may do `action` on `object`.
    pub fn allowed(&self, member: &str, object: &str, action: &str) -> bool {
        self.e.enforce((member, object, action)).unwrap_or(false)
    }

    /// Whether `member` may do `action` on `resource`.
    pub fn permits(&self, member: &str, resource: &Resource, action: Action) -> bool {
        self.allowed(member, &resource.object(), &action.name())
    }
}

#[cfg(test)]
mod tests;
