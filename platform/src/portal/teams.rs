//! Developer teams of a portal and their roles on APIs (Konnect's `API Viewer`
//! and `API Consumer`).

use uuid::Uuid;

use crate::catalog::change::{CatalogEvent, Change, opt_text, text};
use crate::catalog::view::Catalog;
use crate::error::{Error, Field};

fn conflict(field: &str, message: impl Into<String>) -> Error {
    Error::Conflict {
        field: Field::Input(field.into()),
        message: message.into(),
    }
}

fn not_found(what: &str, id: Uuid) -> Error {
    Error::NotFound(format!("{what} {id}"))
}
use crate::catalog::model::{Data, DeveloperRole, DeveloperTeamData, DeveloperTeamRoleData};

/// Teams a portal has, and roles a team has, at most.
pub const MAX_TEAMS: usize = 500;
pub const MAX_ROLES: usize = 1000;

fn check_team(cat: &Catalog, id: Option<Uuid>, t: &DeveloperTeamData) -> Result<(), Error> {
    text("name", &t.name, 1, 250)?;
    opt_text("description", &t.description, 250)?;
    for (e, o) in cat.teams_of(t.portal_id) {
        if Some(e.id) != id && o.name == t.name {
            return Err(conflict(
                "name",
                format!("a team named {:?} exists", t.name),
            ));
        }
    }
    Ok(())
}

pub fn create_team(
    cat: &Catalog,
    portal: Uuid,
    name: String,
    description: Option<String>,
) -> Result<Change, Error> {
    cat.portal(portal)
        .ok_or_else(|| not_found("portal", portal))?;
    let t = DeveloperTeamData {
        portal_id: portal,
        name,
        description,
    };
    check_team(cat, None, &t)?;
    let mut ch = Change::default();
    ch.put(cat, None, Data::DeveloperTeam(t));
    ch.event(CatalogEvent::PortalChanged { portal });
    Ok(ch)
}

pub fn update_team(
    cat: &Catalog,
    id: Uuid,
    name: Option<String>,
    description: Option<Option<String>>,
) -> Result<Change, Error> {
    let mut t = cat.team(id).ok_or_else(|| not_found("team", id))?.clone();
    if let Some(n) = name {
        t.name = n;
    }
    if let Some(d) = description {
        t.description = d;
    }
    check_team(cat, Some(id), &t)?;
    let portal = t.portal_id;
    let mut ch = Change::default();
    ch.put(cat, Some(id), Data::DeveloperTeam(t));
    ch.event(CatalogEvent::PortalChanged { portal });
    Ok(ch)
}

pub fn delete_team(cat: &Catalog, id: Uuid) -> Result<Change, Error> {
    let t = cat.team(id).ok_or_else(|| not_found("team", id))?;
    let mut ch = Change::default();
    ch.event(CatalogEvent::PortalChanged {
        portal: t.portal_id,
    });
    ch.delete(cat, id);
    Ok(ch)
}

/// Gives a team a role on one API of its portal, or on all of them.
pub fn assign_role(
    cat: &Catalog,
    team: Uuid,
    api: Option<Uuid>,
    role: DeveloperRole,
) -> Result<Change, Error> {
    let t = cat.team(team).ok_or_else(|| not_found("team", team))?;
    if cat.roles_of(team).len() >= MAX_ROLES {
        return Err(Error::invalid(
            Field::Input("teamId".into()),
            format!("a team has at most {MAX_ROLES} roles"),
        ));
    }
    if let Some(a) = api
        && cat.api(a).is_none()
    {
        return Err(Error::invalid(
            Field::Input("apiId".into()),
            format!("no API {a}"),
        ));
    }
    if cat
        .roles_of(team)
        .iter()
        .any(|(_, r)| r.api_id == api && r.role == role)
    {
        return Err(conflict("role", "the team has this role already"));
    }
    let portal = t.portal_id;
    let mut ch = Change::default();
    ch.put(
        cat,
        None,
        Data::DeveloperTeamRole(DeveloperTeamRoleData {
            portal_id: portal,
            team_id: team,
            api_id: api,
            role,
        }),
    );
    ch.event(CatalogEvent::PortalChanged { portal });
    if let Some(a) = api {
        ch.event(CatalogEvent::ApiPublished { api: a, portal });
    }
    Ok(ch)
}

pub fn remove_role(cat: &Catalog, id: Uuid) -> Result<Change, Error> {
    let r = cat
        .team_role(id)
        .ok_or_else(|| not_found("team role", id))?;
    let mut ch = Change::default();
    ch.event(CatalogEvent::PortalChanged {
        portal: r.portal_id,
    });
    if let Some(a) = r.api_id {
        ch.event(CatalogEvent::ApiUnpublished {
            api: a,
            portal: r.portal_id,
        });
    }
    ch.delete(cat, id);
    Ok(ch)
}
