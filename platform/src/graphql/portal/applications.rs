//! Developers' applications in the admin API: a portal's applications and
//! registrations (filterable by status), decisions on registrations, revoking
//! and importing keys, plans on publications, and signed webhooks for portal
//! events with their delivery log. Reads need `portals` read on the portal;
//! changes need update.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use serde_json::json;
use uuid::Uuid;

use super::portal_resource;
use crate::auth::Action;
use crate::catalog::Catalog;
use crate::catalog::model::RegistrationStatus as Status;
use crate::error::{Error, Field};
use crate::graphql::applications::{
    Application, ApplicationConnection, ApplicationCredential, ApplicationRegistration,
    ApplicationRegistrationConnection, Plan, RateLimits, RegistrationStatus, commit, days,
};
use crate::graphql::connection::{Paging, page};
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::{check, parse_id, state};
use crate::portal::applications::{self as apps, NewKey};
use crate::portal::events::PortalEvent;
use crate::portal::plans;

/// The portal a catalog record belongs to.
fn portal_of(cat: &Catalog, id: Uuid) -> Option<Uuid> {
    let d = &cat.entry(id)?.data;
    use crate::catalog::model::Data;
    Some(match d {
        Data::Application(a) => a.portal_id,
        Data::ApplicationRegistration(r) => r.portal_id,
        Data::ApplicationCredential(c) => c.portal_id,
        Data::ApiPlan(p) => p.portal_id,
        Data::ApiPublication(p) => p.portal_id,
        Data::PortalWebhook(w) => w.portal_id,
        _ => return None,
    })
}

/// Checks `action` on the portal `id` belongs to (a missing record is
/// checked against no portal, so it answers as forbidden or not found alike).
pub(super) async fn check_on(ctx: &Context<'_>, id: Uuid, action: Action) -> Result<Uuid> {
    let portal = portal_of(&state(ctx).catalog.view(), id);
    check(ctx, &portal_resource(portal.unwrap_or_default()), action).await?;
    portal.ok_or_else(|| gql(Error::NotFound(format!("{id}"))))
}

async fn event(
    ctx: &Context<'_>,
    portal: Uuid,
    name: &'static str,
    target: String,
    data: serde_json::Value,
) {
    let actor = crate::graphql::guard::caller(ctx)
        .map(|c| c.member.clone())
        .unwrap_or_else(|_| "anonymous".into());
    state(ctx)
        .events
        .publish(PortalEvent {
            portal,
            name,
            actor,
            target,
            data,
        })
        .await;
}

#[derive(InputObject, Default)]
pub struct RegistrationFilter {
    pub status: Option<RegistrationStatus>,
    pub api_id: Option<ID>,
    pub application_id: Option<ID>,
}

#[derive(Default)]
pub struct PortalApplicationsQuery;

#[Object]
impl PortalApplicationsQuery {
    /// A portal's applications, oldest first; with `status`, those with a
    /// registration in that status.
    #[allow(clippy::too_many_arguments)]
    async fn portal_applications(
        &self,
        ctx: &Context<'_>,
        portal_id: ID,
        status: Option<RegistrationStatus>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<ApplicationConnection> {
        let portal = parse_id(&portal_id, "portalId")?;
        check(ctx, &portal_resource(portal), Action::Read).await?;
        let cat = state(ctx).catalog.view();
        let want: Option<Status> = status.map(Into::into);
        let list: Vec<(i64, Uuid)> = cat
            .applications()
            .into_iter()
            .filter(|(e, a)| {
                a.portal_id == portal
                    && want.is_none_or(|s| {
                        cat.registrations_of(e.id)
                            .iter()
                            .any(|(_, r)| r.status == s)
                    })
            })
            .map(|(e, _)| (e.seq, e.id))
            .collect();
        let p = page(list, |(s, _)| *s, &Paging::new(first, after, last, before)).gql()?;
        crate::graphql::limits::charge(ctx, p.items.len())?;
        Ok(p.map(|(_, id)| Application {
            cat: cat.clone(),
            id,
        })
        .into())
    }

    /// A portal's registrations, oldest first, filtered.
    #[allow(clippy::too_many_arguments)]
    async fn portal_registrations(
        &self,
        ctx: &Context<'_>,
        portal_id: ID,
        filter: Option<RegistrationFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<ApplicationRegistrationConnection> {
        let portal = parse_id(&portal_id, "portalId")?;
        check(ctx, &portal_resource(portal), Action::Read).await?;
        let f = filter.unwrap_or_default();
        let api = f
            .api_id
            .as_ref()
            .map(|a| parse_id(a, "filter.apiId"))
            .transpose()?;
        let app = f
            .application_id
            .as_ref()
            .map(|a| parse_id(a, "filter.applicationId"))
            .transpose()?;
        let want: Option<Status> = f.status.map(Into::into);
        let cat = state(ctx).catalog.view();
        let list: Vec<(i64, Uuid)> = cat
            .registrations()
            .into_iter()
            .filter(|(_, r)| {
                r.portal_id == portal
                    && want.is_none_or(|s| r.status == s)
                    && api.is_none_or(|a| r.api_id == a)
                    && app.is_none_or(|a| r.application_id == a)
            })
            .map(|(e, _)| (e.seq, e.id))
            .collect();
        let p = page(list, |(s, _)| *s, &Paging::new(first, after, last, before)).gql()?;
        crate::graphql::limits::charge(ctx, p.items.len())?;
        Ok(p.map(|(_, id)| ApplicationRegistration {
            cat: cat.clone(),
            id,
        })
        .into())
    }
}

#[derive(InputObject)]
pub struct DecideRegistrationInput {
    pub registration_id: ID,
    /// APPROVED, REJECTED, REVOKED (or back to PENDING).
    pub status: RegistrationStatus,
    /// Shown to the developer.
    pub reason: Option<String>,
}

#[derive(InputObject)]
pub struct ChangeRegistrationPlanInput {
    pub registration_id: ID,
    /// Left out: no plan (no limits).
    pub plan_id: Option<ID>,
}

#[derive(InputObject)]
pub struct ImportCredentialInput {
    pub application_id: ID,
    /// The key as the developer uses it (at least 8 characters).
    #[graphql(secret)]
    pub key: Option<String>,
    /// Or only its SHA-256 (hex): the key never reaches Portico.
    pub key_sha256: Option<String>,
    pub display_name: Option<String>,
    pub expires_in_days: Option<i32>,
}

#[derive(InputObject)]
pub struct AdminCredentialInput {
    pub credential_id: ID,
}

#[derive(InputObject)]
pub struct CreatePlanInput {
    pub publication_id: ID,
    pub name: String,
    pub description: Option<String>,
    pub rate_limits: Option<RateLimits>,
    /// Requests per calendar month.
    pub quota: Option<f64>,
}

#[derive(InputObject)]
pub struct UpdatePlanInput {
    pub id: ID,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Replaces the limits (and the quota) as a whole.
    pub rate_limits: Option<RateLimits>,
    pub quota: Option<f64>,
}

#[derive(InputObject)]
pub struct AdminIdInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct AdminDeletedPayload {
    pub deleted_id: ID,
}

#[derive(Default)]
pub struct PortalApplicationsMutation;

#[Object]
impl PortalApplicationsMutation {
    /// Approves, rejects or revokes a registration (its keys work for the API
    /// only while APPROVED).
    async fn decide_registration(
        &self,
        ctx: &Context<'_>,
        input: DecideRegistrationInput,
    ) -> Result<ApplicationRegistration> {
        let id = parse_id(&input.registration_id, "input.registrationId")?;
        let portal = check_on(ctx, id, Action::Update).await?;
        let status: Status = input.status.into();
        let reason = input.reason;
        let (cat, _) = commit(state(ctx), move |cat| {
            apps::decide_registration(cat, id, status, reason.clone())
        })
        .await?;
        let r = cat.registration(id).cloned();
        event(
            ctx,
            portal,
            "registration.decided",
            format!("registration:{id}"),
            json!({"registration_id": id, "status": status,
                   "application_id": r.as_ref().map(|r| r.application_id),
                   "api_id": r.as_ref().map(|r| r.api_id),
                   "reason": r.as_ref().and_then(|r| r.reason.clone())}),
        )
        .await;
        Ok(ApplicationRegistration { cat, id })
    }

    /// Moves a registration to another plan of its API.
    async fn change_registration_plan(
        &self,
        ctx: &Context<'_>,
        input: ChangeRegistrationPlanInput,
    ) -> Result<ApplicationRegistration> {
        let id = parse_id(&input.registration_id, "input.registrationId")?;
        check_on(ctx, id, Action::Update).await?;
        let plan = input
            .plan_id
            .as_ref()
            .map(|p| parse_id(p, "input.planId"))
            .transpose()?;
        let (cat, _) = commit(state(ctx), move |cat| apps::change_plan(cat, id, plan)).await?;
        Ok(ApplicationRegistration { cat, id })
    }

    /// Deletes an application with its registrations and keys.
    async fn delete_portal_application(
        &self,
        ctx: &Context<'_>,
        input: AdminIdInput,
    ) -> Result<AdminDeletedPayload> {
        let id = parse_id(&input.id, "input.id")?;
        check_on(ctx, id, Action::Update).await?;
        commit(state(ctx), move |cat| {
            apps::delete_application(cat, None, id)
        })
        .await?;
        Ok(AdminDeletedPayload {
            deleted_id: input.id,
        })
    }

    /// Stops a developer's key at once.
    async fn revoke_application_credential(
        &self,
        ctx: &Context<'_>,
        input: AdminCredentialInput,
    ) -> Result<ApplicationCredential> {
        let id = parse_id(&input.credential_id, "input.credentialId")?;
        let portal = check_on(ctx, id, Action::Update).await?;
        let (cat, _) = commit(state(ctx), move |cat| {
            apps::revoke_credential(cat, None, id)
        })
        .await?;
        event(
            ctx,
            portal,
            "credential.revoked",
            format!("credential:{id}"),
            json!({"credential_id": id}),
        )
        .await;
        Ok(ApplicationCredential { cat, id })
    }

    /// Brings an existing key along (or only its SHA-256), so developers
    /// moving from another gateway keep their keys.
    async fn import_credential(
        &self,
        ctx: &Context<'_>,
        input: ImportCredentialInput,
    ) -> Result<ApplicationCredential> {
        let app = parse_id(&input.application_id, "input.applicationId")?;
        let portal = check_on(ctx, app, Action::Update).await?;
        let key = match (&input.key, &input.key_sha256) {
            (Some(k), None) if (8..=1024).contains(&k.len()) => NewKey::of(k, true),
            (Some(_), None) => {
                return Err(gql(Error::invalid(
                    Field::Input("key".into()),
                    "8 to 1024 characters",
                )));
            }
            (None, Some(h)) => match graphql_schema::entity::consumer::sha256_hex(h) {
                Some(h) => NewKey {
                    key_sha256: h,
                    prefix: String::new(),
                    imported: true,
                },
                None => {
                    return Err(gql(Error::invalid(
                        Field::Input("keySha256".into()),
                        "expected a SHA-256 digest: 64 hexadecimal characters",
                    )));
                }
            },
            _ => {
                return Err(gql(Error::invalid(
                    Field::Input("key".into()),
                    "give one of key and keySha256",
                )));
            }
        };
        let expires = days(input.expires_in_days)?;
        let (name, now) = (input.display_name, chrono::Utc::now().timestamp_millis());
        let (cat, id) = commit(state(ctx), move |cat| {
            apps::create_credential(cat, None, app, name.clone(), expires, &key, now)
        })
        .await?;
        event(
            ctx,
            portal,
            "credential.created",
            format!("credential:{id}"),
            json!({"credential_id": id, "application_id": app, "imported": true}),
        )
        .await;
        Ok(ApplicationCredential { cat, id })
    }

    async fn create_plan(&self, ctx: &Context<'_>, input: CreatePlanInput) -> Result<Plan> {
        let publication = parse_id(&input.publication_id, "input.publicationId")?;
        check_on(ctx, publication, Action::Update).await?;
        let limits = input.rate_limits.unwrap_or_default().limits(input.quota);
        let (name, description) = (input.name, input.description);
        let (cat, id) = commit(state(ctx), move |cat| {
            plans::create_plan(
                cat,
                publication,
                name.clone(),
                description.clone(),
                limits.clone(),
            )
        })
        .await?;
        Ok(Plan { cat, id })
    }

    /// Changes a plan; its limits change on every node with the next sync.
    async fn update_plan(&self, ctx: &Context<'_>, input: UpdatePlanInput) -> Result<Plan> {
        let id = parse_id(&input.id, "input.id")?;
        check_on(ctx, id, Action::Update).await?;
        let limits = match (input.rate_limits, input.quota) {
            (None, None) => None,
            (r, q) => Some(r.unwrap_or_default().limits(q)),
        };
        let (name, description) = (input.name, input.description.map(Some));
        let (cat, _) = commit(state(ctx), move |cat| {
            plans::update_plan(cat, id, name.clone(), description.clone(), limits.clone())
        })
        .await?;
        Ok(Plan { cat, id })
    }

    async fn delete_plan(
        &self,
        ctx: &Context<'_>,
        input: AdminIdInput,
    ) -> Result<AdminDeletedPayload> {
        let id = parse_id(&input.id, "input.id")?;
        check_on(ctx, id, Action::Update).await?;
        commit(state(ctx), move |cat| plans::delete_plan(cat, id)).await?;
        Ok(AdminDeletedPayload {
            deleted_id: input.id,
        })
    }
}
