//! Developers' applications: created by a developer (or owned by one of their
//! developer teams), registered for published APIs with a plan, decided by the
//! portal's admins (or at once when the publication approves on its own), and
//! given API keys. A key is shown once; the catalog keeps its SHA-256 and a
//! display prefix. Every function computes a catalog change against a snapshot
//! (the catalog actor commits it), so the rules hold under concurrent writes.

use uuid::Uuid;

use super::visibility::{Viewer, can_consume};
use crate::catalog::change::{CatalogEvent, Change, opt_text, text};
use crate::catalog::model::{
    ApplicationData, CredentialData, Data, RegistrationData, RegistrationStatus,
};
use crate::catalog::view::Catalog;
use crate::error::{Error, Field};

/// The prefix of keys the portal issues (`ptk_` and 64 hexadecimal characters).
pub const KEY_PREFIX: &str = "ptk_";
/// How many characters of a key stay visible (its prefix and 8 more).
const SHOWN: usize = 12;

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::invalid(Field::Input(field.into()), message)
}

fn conflict(field: &str, message: impl Into<String>) -> Error {
    Error::Conflict {
        field: Field::Input(field.into()),
        message: message.into(),
    }
}

fn not_found(what: &str, id: Uuid) -> Error {
    Error::NotFound(format!("{what} {id}"))
}

/// A new random key.
pub fn new_key() -> String {
    crate::auth::tokens::new_token(KEY_PREFIX)
}

/// The part of a key shown in lists.
pub fn prefix_of(key: &str) -> String {
    key.chars().take(SHOWN).collect()
}

/// A credential's standing at `now_ms`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CredentialState {
    Active,
    Expired,
    Revoked,
}

pub fn credential_state(c: &CredentialData, now_ms: i64) -> CredentialState {
    if c.revoked {
        CredentialState::Revoked
    } else if c.expires_at.is_some_and(|e| e <= now_ms) {
        CredentialState::Expired
    } else {
        CredentialState::Active
    }
}

/// Who acts in the developer realm: the developer and their teams.
#[derive(Clone, Debug)]
pub struct Actor {
    pub portal: Uuid,
    pub developer: Uuid,
    pub teams: Vec<Uuid>,
}

impl Actor {
    /// Whether this developer manages the application (theirs, or their team's).
    pub fn owns(&self, a: &ApplicationData) -> bool {
        a.portal_id == self.portal
            && (a.developer_id == self.developer
                || a.team_id.is_some_and(|t| self.teams.contains(&t)))
    }
}

/// The application `id` if `actor` manages it (else not found: what one may
/// not see does not exist).
pub fn owned<'a>(cat: &'a Catalog, actor: &Actor, id: Uuid) -> Result<&'a ApplicationData, Error> {
    cat.application(id)
        .filter(|a| actor.owns(a))
        .ok_or_else(|| not_found("application", id))
}

/// The applications `actor` manages, in creation order.
pub fn applications_of<'a>(cat: &'a Catalog, actor: &Actor) -> Vec<(Uuid, &'a ApplicationData)> {
    cat.applications()
        .into_iter()
        .filter(|(_, a)| actor.owns(a))
        .map(|(e, a)| (e.id, a))
        .collect()
}

fn changed(ch: &mut Change, portal: Uuid, application: Uuid) {
    ch.event(CatalogEvent::ApplicationChanged {
        portal,
        application,
    });
}

fn check_application(cat: &Catalog, id: Option<Uuid>, a: &ApplicationData) -> Result<(), Error> {
    text("name", &a.name, 1, 255)?;
    opt_text("description", &a.description, 1000)?;
    let same_owner = |o: &ApplicationData| match (a.team_id, o.team_id) {
        (Some(t), Some(u)) => t == u,
        (None, None) => o.developer_id == a.developer_id,
        _ => false,
    };
    if cat.applications().iter().any(|(e, o)| {
        Some(e.id) != id && o.portal_id == a.portal_id && same_owner(o) && o.name == a.name
    }) {
        return Err(conflict(
            "name",
            format!("an application named {:?} exists", a.name),
        ));
    }
    Ok(())
}

pub fn create_application(
    cat: &Catalog,
    actor: &Actor,
    team: Option<Uuid>,
    name: String,
    description: Option<String>,
) -> Result<Change, Error> {
    let portal = cat
        .portal(actor.portal)
        .ok_or_else(|| not_found("portal", actor.portal))?;
    if let Some(t) = team
        && (!actor.teams.contains(&t) || cat.team(t).is_none_or(|x| x.portal_id != actor.portal))
    {
        return Err(invalid("teamId", "not a team of yours"));
    }
    let max = portal.application_limits.max_applications_per_developer as usize;
    let mine = cat
        .applications()
        .iter()
        .filter(|(_, a)| a.portal_id == actor.portal && a.developer_id == actor.developer)
        .count();
    if mine >= max {
        return Err(invalid(
            "name",
            format!("a developer has at most {max} applications in this portal"),
        ));
    }
    let a = ApplicationData {
        portal_id: actor.portal,
        developer_id: actor.developer,
        team_id: team,
        name,
        description,
        suspended: false,
    };
    check_application(cat, None, &a)?;
    let mut ch = Change::default();
    let id = ch.put(cat, None, Data::Application(a));
    changed(&mut ch, actor.portal, id);
    Ok(ch)
}

pub fn update_application(
    cat: &Catalog,
    actor: &Actor,
    id: Uuid,
    name: Option<String>,
    description: Option<Option<String>>,
) -> Result<Change, Error> {
    let mut a = owned(cat, actor, id)?.clone();
    if let Some(n) = name {
        a.name = n;
    }
    if let Some(d) = description {
        a.description = d;
    }
    check_application(cat, Some(id), &a)?;
    let mut ch = Change::default();
    changed(&mut ch, a.portal_id, id);
    ch.put(cat, Some(id), Data::Application(a));
    Ok(ch)
}

/// Deletes an application with its registrations and keys (an admin's `actor`
/// is `None`).
pub fn delete_application(cat: &Catalog, actor: Option<&Actor>, id: Uuid) -> Result<Change, Error> {
    let a = match actor {
        Some(actor) => owned(cat, actor, id)?,
        None => cat
            .application(id)
            .ok_or_else(|| not_found("application", id))?,
    };
    let mut ch = Change::default();
    changed(&mut ch, a.portal_id, id);
    ch.delete(cat, id);
    Ok(ch)
}

/// Sets or clears `suspended` on a developer's applications (their keys stop
/// working while the developer is revoked or rejected).
pub fn suspend_developer(cat: &Catalog, portal: Uuid, developer: Uuid, suspended: bool) -> Change {
    let mut ch = Change::default();
    for (e, a) in cat.applications() {
        if a.portal_id == portal && a.developer_id == developer && a.suspended != suspended {
            let mut a = a.clone();
            a.suspended = suspended;
            changed(&mut ch, portal, e.id);
            ch.put(cat, Some(e.id), Data::Application(a));
        }
    }
    ch
}

// ---- registrations

/// The registration of `application` for `api`, if any.
pub fn registration_for(cat: &Catalog, application: Uuid, api: Uuid) -> Option<Uuid> {
    cat.registrations()
        .into_iter()
        .find(|(_, r)| r.application_id == application && r.api_id == api)
        .map(|(e, _)| e.id)
}

/// A developer asks to call an API with an application: approved at once when
/// the publication approves registrations on its own, else pending. A
/// rejected or revoked registration may be asked for again.
pub fn request_registration(
    cat: &Catalog,
    actor: &Actor,
    viewer: &Viewer,
    application: Uuid,
    api: Uuid,
    plan: Option<Uuid>,
    message: Option<String>,
) -> Result<Change, Error> {
    let app = owned(cat, actor, application)?;
    if app.suspended {
        return Err(invalid("applicationId", "the application is suspended"));
    }
    if !can_consume(cat, actor.portal, api, viewer) {
        return Err(invalid("apiId", "this API cannot be registered for here"));
    }
    opt_text("message", &message, 1000)?;
    let Some((pub_entry, publication)) = cat.publication(api, actor.portal) else {
        return Err(invalid("apiId", "this API cannot be registered for here"));
    };
    let plans = cat.plans_of(pub_entry.id);
    let plan = match plan {
        Some(p) if plans.iter().any(|(e, _)| e.id == p) => Some(p),
        Some(_) => return Err(invalid("planId", "not a plan of this API in this portal")),
        None if plans.is_empty() => None,
        None => return Err(invalid("planId", "pick one of the API's plans")),
    };
    let existing = registration_for(cat, application, api);
    if let Some(id) = existing
        && let Some(r) = cat.registration(id)
        && matches!(
            r.status,
            RegistrationStatus::Pending | RegistrationStatus::Approved
        )
    {
        return Err(conflict(
            "apiId",
            "the application is registered for this API already",
        ));
    }
    let r = RegistrationData {
        portal_id: actor.portal,
        application_id: application,
        api_id: api,
        plan_id: plan,
        status: if publication.auto_approve_registrations {
            RegistrationStatus::Approved
        } else {
            RegistrationStatus::Pending
        },
        message,
        reason: None,
    };
    let mut ch = Change::default();
    ch.put(cat, existing, Data::ApplicationRegistration(r));
    changed(&mut ch, actor.portal, application);
    Ok(ch)
}

/// An admin's decision on a registration (approve, reject, revoke; or back to
/// pending).
pub fn decide_registration(
    cat: &Catalog,
    id: Uuid,
    status: RegistrationStatus,
    reason: Option<String>,
) -> Result<Change, Error> {
    let mut r = cat
        .registration(id)
        .ok_or_else(|| not_found("registration", id))?
        .clone();
    opt_text("reason", &reason, 1000)?;
    r.status = status;
    r.reason = reason;
    let mut ch = Change::default();
    changed(&mut ch, r.portal_id, r.application_id);
    ch.put(cat, Some(id), Data::ApplicationRegistration(r));
    Ok(ch)
}

/// A developer gives up a registration (or an admin deletes it).
pub fn delete_registration(
    cat: &Catalog,
    actor: Option<&Actor>,
    id: Uuid,
) -> Result<Change, Error> {
    let r = cat
        .registration(id)
        .ok_or_else(|| not_found("registration", id))?;
    if let Some(actor) = actor {
        owned(cat, actor, r.application_id).map_err(|_| not_found("registration", id))?;
    }
    let mut ch = Change::default();
    changed(&mut ch, r.portal_id, r.application_id);
    ch.delete(cat, id);
    Ok(ch)
}

/// Changes the plan of a registration (a config change on the nodes).
pub fn change_plan(cat: &Catalog, id: Uuid, plan: Option<Uuid>) -> Result<Change, Error> {
    let mut r = cat
        .registration(id)
        .ok_or_else(|| not_found("registration", id))?
        .clone();
    if let Some(p) = plan {
        let ok = cat
            .plan(p)
            .is_some_and(|x| x.api_id == r.api_id && x.portal_id == r.portal_id);
        if !ok {
            return Err(invalid("planId", "not a plan of this API in this portal"));
        }
    }
    r.plan_id = plan;
    let mut ch = Change::default();
    changed(&mut ch, r.portal_id, r.application_id);
    ch.put(cat, Some(id), Data::ApplicationRegistration(r));
    Ok(ch)
}

// ---- credentials

/// What a new key is: its digest, prefix and expiry.
pub struct NewKey {
    pub key_sha256: String,
    pub prefix: String,
    pub imported: bool,
}

impl NewKey {
    /// A key the portal made or one brought along.
    pub fn of(key: &str, imported: bool) -> NewKey {
        NewKey {
            key_sha256: graphql_schema::entity::consumer::digest(key),
            prefix: prefix_of(key),
            imported,
        }
    }
}

fn live_keys(cat: &Catalog, application: Uuid, now_ms: i64) -> usize {
    cat.credentials()
        .iter()
        .filter(|(_, c)| {
            c.application_id == application
                && credential_state(c, now_ms) == CredentialState::Active
        })
        .count()
}

/// The expiry a new key gets: asked for in days, within the portal's limit.
fn expiry(
    cat: &Catalog,
    portal: Uuid,
    days: Option<u32>,
    now_ms: i64,
) -> Result<Option<i64>, Error> {
    let max = cat
        .portal(portal)
        .map(|p| p.application_limits.max_credential_days)
        .unwrap_or(0);
    let days = match days {
        Some(0) => return Err(invalid("expiresInDays", "1 or more")),
        Some(d) if max > 0 && d > max => {
            return Err(invalid(
                "expiresInDays",
                format!("keys of this portal live at most {max} days"),
            ));
        }
        Some(d) => Some(d),
        None if max > 0 => Some(max),
        None => None,
    };
    Ok(days.map(|d| now_ms + i64::from(d) * 86_400_000))
}

/// A new key for an application (the caller made the key and keeps it to show
/// it once). `actor` is `None` for an admin.
pub fn create_credential(
    cat: &Catalog,
    actor: Option<&Actor>,
    application: Uuid,
    display_name: Option<String>,
    expires_in_days: Option<u32>,
    key: &NewKey,
    now_ms: i64,
) -> Result<Change, Error> {
    let app = match actor {
        Some(a) => owned(cat, a, application)?,
        None => cat
            .application(application)
            .ok_or_else(|| not_found("application", application))?,
    };
    opt_text("displayName", &display_name, 255)?;
    let max = cat
        .portal(app.portal_id)
        .map(|p| p.application_limits.max_credentials_per_application)
        .unwrap_or(0) as usize;
    if live_keys(cat, application, now_ms) >= max {
        return Err(invalid(
            "applicationId",
            format!("an application has at most {max} active keys in this portal"),
        ));
    }
    if cat
        .credentials()
        .iter()
        .any(|(_, c)| c.key_sha256 == key.key_sha256)
    {
        return Err(conflict("key", "this key is in use"));
    }
    let c = CredentialData {
        portal_id: app.portal_id,
        application_id: application,
        display_name,
        key_sha256: key.key_sha256.clone(),
        prefix: key.prefix.clone(),
        expires_at: expiry(cat, app.portal_id, expires_in_days, now_ms)?,
        revoked: false,
        imported: key.imported,
    };
    let mut ch = Change::default();
    changed(&mut ch, app.portal_id, application);
    ch.put(cat, None, Data::ApplicationCredential(c));
    Ok(ch)
}

fn credential_of<'a>(
    cat: &'a Catalog,
    actor: Option<&Actor>,
    id: Uuid,
) -> Result<&'a CredentialData, Error> {
    let c = cat
        .credential(id)
        .ok_or_else(|| not_found("credential", id))?;
    if let Some(a) = actor {
        owned(cat, a, c.application_id).map_err(|_| not_found("credential", id))?;
    }
    Ok(c)
}

/// A new key in place of `id`; the old one keeps working `grace_seconds`
/// more (at most the portal's limit), then stops.
pub fn rotate_credential(
    cat: &Catalog,
    actor: Option<&Actor>,
    id: Uuid,
    grace_seconds: u32,
    key: &NewKey,
    now_ms: i64,
) -> Result<Change, Error> {
    let old = credential_of(cat, actor, id)?;
    if credential_state(old, now_ms) != CredentialState::Active {
        return Err(invalid("credentialId", "only an active key can be rotated"));
    }
    let max = cat
        .portal(old.portal_id)
        .map(|p| p.application_limits.max_grace_seconds)
        .unwrap_or(0);
    if grace_seconds > max {
        return Err(invalid(
            "graceSeconds",
            format!("at most {max} in this portal"),
        ));
    }
    let mut ch = Change::default();
    let grace_end = now_ms + i64::from(grace_seconds) * 1000;
    let mut o = old.clone();
    o.expires_at = Some(o.expires_at.map_or(grace_end, |e| e.min(grace_end)));
    ch.put(cat, Some(id), Data::ApplicationCredential(o));
    if cat
        .credentials()
        .iter()
        .any(|(_, c)| c.key_sha256 == key.key_sha256)
    {
        return Err(conflict("key", "this key is in use"));
    }
    let n = CredentialData {
        key_sha256: key.key_sha256.clone(),
        prefix: key.prefix.clone(),
        imported: false,
        revoked: false,
        ..old.clone()
    };
    let new_id = Uuid::new_v4();
    ch.put(cat, Some(new_id), Data::ApplicationCredential(n));
    ch.subject = Some(new_id);
    changed(&mut ch, old.portal_id, old.application_id);
    Ok(ch)
}

/// Stops a key at once (it stays listed as revoked).
pub fn revoke_credential(cat: &Catalog, actor: Option<&Actor>, id: Uuid) -> Result<Change, Error> {
    let mut c = credential_of(cat, actor, id)?.clone();
    c.revoked = true;
    let mut ch = Change::default();
    changed(&mut ch, c.portal_id, c.application_id);
    ch.put(cat, Some(id), Data::ApplicationCredential(c));
    Ok(ch)
}

/// Deletes a key's record (revoked or expired ones, to tidy up).
pub fn delete_credential(cat: &Catalog, actor: Option<&Actor>, id: Uuid) -> Result<Change, Error> {
    let c = credential_of(cat, actor, id)?;
    let mut ch = Change::default();
    changed(&mut ch, c.portal_id, c.application_id);
    ch.delete(cat, id);
    Ok(ch)
}
