//! A developer's applications: create, rename, delete, register for APIs
//! (with a plan), and API keys (create, rotate with a grace period, revoke).
//! Only an approved, signed-in developer acts here, on applications they or
//! their teams own; others' applications answer as missing.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use serde_json::json;
use uuid::Uuid;

use super::{portal, viewer};
use crate::error::Error;
use crate::graphql::applications::{
    Application, ApplicationConnection, ApplicationCredential, ApplicationRegistration,
    NewCredential, commit, days,
};
use crate::graphql::connection::{Paging, page};
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::{parse_id, state};
use crate::portal::applications::{self as apps, Actor, NewKey};
use crate::portal::events::PortalEvent;
use crate::state::AppState;

/// The signed-in, approved developer acting.
pub(super) fn actor(ctx: &Context<'_>) -> Result<Actor> {
    let v = viewer(ctx);
    match (v.developer, v.approved) {
        (Some(d), true) => Ok(Actor {
            portal: portal(ctx).id,
            developer: d,
            teams: v.teams.clone(),
        }),
        (Some(_), false) => Err(gql(Error::Forbidden(
            "your account is not approved yet".into(),
        ))),
        (None, _) => Err(gql(Error::Unauthenticated("sign in first".into()))),
    }
}

async fn event(
    st: &AppState,
    a: &Actor,
    name: &'static str,
    target: String,
    data: serde_json::Value,
) {
    st.events
        .publish(PortalEvent {
            portal: a.portal,
            name,
            actor: format!("developer:{}", a.developer),
            target,
            data,
        })
        .await;
}

#[derive(InputObject)]
pub struct CreateApplicationInput {
    pub name: String,
    pub description: Option<String>,
    /// One of your developer teams, to own it with you.
    pub team_id: Option<ID>,
}

#[derive(InputObject)]
pub struct UpdateApplicationInput {
    pub id: ID,
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct IdInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct DeletedApplicationPayload {
    pub deleted_id: ID,
}

#[derive(InputObject)]
pub struct RequestRegistrationInput {
    pub application_id: ID,
    pub api_id: ID,
    /// One of the API's plans in this portal (required when it has any).
    pub plan_id: Option<ID>,
    /// A note to the portal's admins.
    pub message: Option<String>,
}

#[derive(InputObject)]
pub struct CreateCredentialInput {
    pub application_id: ID,
    pub display_name: Option<String>,
    /// Left out: the portal's longest (or never, when it has no limit).
    pub expires_in_days: Option<i32>,
}

#[derive(InputObject)]
pub struct RotateCredentialInput {
    pub credential_id: ID,
    /// How long the old key keeps working (default 0: it stops now).
    pub grace_seconds: Option<i32>,
}

#[derive(InputObject)]
pub struct CredentialIdInput {
    pub credential_id: ID,
}

/// An application's use of one API this month.
#[derive(SimpleObject)]
pub struct ApiUsage {
    pub api_id: ID,
    pub api_name: Option<String>,
    pub plan_name: Option<String>,
    /// Requests this calendar month (UTC), as the nodes counted them.
    pub requests: u64,
    /// The plan's monthly quota, if it has one.
    pub quota: Option<f64>,
    pub remaining: Option<f64>,
}

#[derive(SimpleObject)]
pub struct ApplicationUsage {
    pub application_id: ID,
    /// The start of the month counted.
    pub since: chrono::DateTime<chrono::Utc>,
    pub requests: u64,
    pub apis: Vec<ApiUsage>,
}

#[derive(Default)]
pub struct ApplicationQuery;

#[Object]
impl ApplicationQuery {
    /// The applications you (or your teams) own, oldest first.
    async fn my_applications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<ApplicationConnection> {
        let a = actor(ctx)?;
        let cat = state(ctx).catalog.view();
        let list: Vec<(i64, Uuid)> = apps::applications_of(&cat, &a)
            .into_iter()
            .filter_map(|(id, _)| cat.entry(id).map(|e| (e.seq, id)))
            .collect();
        let p = page(
            list,
            |(seq, _)| *seq,
            &Paging::new(first, after, last, before),
        )
        .gql()?;
        crate::graphql::limits::charge(ctx, p.items.len())?;
        Ok(p.map(|(_, id)| Application {
            cat: cat.clone(),
            id,
        })
        .into())
    }

    /// Your application's requests this month, per registered API, with what
    /// its plans' quotas leave (analytics arrive within about ten seconds).
    async fn application_usage(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
    ) -> Result<ApplicationUsage> {
        use chrono::Datelike;
        let a = actor(ctx)?;
        let id = parse_id(&application_id, "applicationId")?;
        let st = state(ctx);
        let cat = st.catalog.view();
        apps::owned(&cat, &a, id).gql()?;
        let now = chrono::Utc::now();
        let since = chrono::NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc())
            .unwrap_or(now);
        let used = crate::analytics::application_usage(&st.analytics.db, id, since.timestamp())
            .await
            .gql()?;
        let apis: Vec<ApiUsage> = cat
            .registrations_of(id)
            .into_iter()
            .map(|(_, r)| {
                let plan = r.plan_id.and_then(|p| cat.plan(p));
                let requests = used.get(&r.api_id.to_string()).copied().unwrap_or(0);
                let quota = plan.and_then(|p| p.limits.quota);
                ApiUsage {
                    api_id: ID(r.api_id.to_string()),
                    api_name: cat.api(r.api_id).map(|x| x.name.clone()),
                    plan_name: plan.map(|p| p.name.clone()),
                    requests,
                    quota,
                    remaining: quota.map(|q| (q - requests as f64).max(0.0)),
                }
            })
            .collect();
        Ok(ApplicationUsage {
            application_id,
            since,
            requests: used.values().sum(),
            apis,
        })
    }

    /// One of your applications.
    async fn application(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Application>> {
        let a = actor(ctx)?;
        let id = parse_id(&id, "id")?;
        let cat = state(ctx).catalog.view();
        Ok(apps::owned(&cat, &a, id).ok().map(|_| Application {
            cat: cat.clone(),
            id,
        }))
    }
}

#[derive(Default)]
pub struct ApplicationMutation;

#[Object]
impl ApplicationMutation {
    async fn create_application(
        &self,
        ctx: &Context<'_>,
        input: CreateApplicationInput,
    ) -> Result<Application> {
        let a = actor(ctx)?;
        let team = input
            .team_id
            .as_ref()
            .map(|t| parse_id(t, "input.teamId"))
            .transpose()?;
        let (name, description) = (input.name, input.description);
        let act = a.clone();
        let (cat, id) = commit(state(ctx), move |cat| {
            apps::create_application(cat, &act, team, name.clone(), description.clone())
        })
        .await?;
        Ok(Application { cat, id })
    }

    async fn update_application(
        &self,
        ctx: &Context<'_>,
        input: UpdateApplicationInput,
    ) -> Result<Application> {
        let a = actor(ctx)?;
        let id = parse_id(&input.id, "input.id")?;
        let (name, description) = (input.name, input.description.map(Some));
        let (cat, _) = commit(state(ctx), move |cat| {
            apps::update_application(cat, &a, id, name.clone(), description.clone())
        })
        .await?;
        Ok(Application { cat, id })
    }

    /// Deletes an application with its registrations and keys (they stop
    /// working on the nodes with the next sync).
    async fn delete_application(
        &self,
        ctx: &Context<'_>,
        input: IdInput,
    ) -> Result<DeletedApplicationPayload> {
        let a = actor(ctx)?;
        let id = parse_id(&input.id, "input.id")?;
        commit(state(ctx), move |cat| {
            apps::delete_application(cat, Some(&a), id)
        })
        .await?;
        Ok(DeletedApplicationPayload {
            deleted_id: input.id,
        })
    }

    /// Asks to call an API with an application: approved at once when the
    /// API's publication approves registrations on its own, else PENDING.
    async fn request_registration(
        &self,
        ctx: &Context<'_>,
        input: RequestRegistrationInput,
    ) -> Result<ApplicationRegistration> {
        let a = actor(ctx)?;
        let app = parse_id(&input.application_id, "input.applicationId")?;
        let api = parse_id(&input.api_id, "input.apiId")?;
        let plan = input
            .plan_id
            .as_ref()
            .map(|p| parse_id(p, "input.planId"))
            .transpose()?;
        let v = viewer(ctx).clone();
        let message = input.message;
        let act = a.clone();
        let st = state(ctx);
        let (cat, _) = commit(st, move |cat| {
            apps::request_registration(cat, &act, &v, app, api, plan, message.clone())
        })
        .await?;
        let id = apps::registration_for(&cat, app, api)
            .ok_or_else(|| gql(Error::internal("no registration")))?;
        let status = cat.registration(id).map(|r| r.status);
        event(
            st,
            &a,
            "registration.requested",
            format!("registration:{id}"),
            json!({"registration_id": id, "application_id": app, "api_id": api,
                   "plan_id": plan, "status": status}),
        )
        .await;
        Ok(ApplicationRegistration { cat, id })
    }

    /// Gives up a registration.
    async fn cancel_registration(
        &self,
        ctx: &Context<'_>,
        input: IdInput,
    ) -> Result<DeletedApplicationPayload> {
        let a = actor(ctx)?;
        let id = parse_id(&input.id, "input.id")?;
        commit(state(ctx), move |cat| {
            apps::delete_registration(cat, Some(&a), id)
        })
        .await?;
        Ok(DeletedApplicationPayload {
            deleted_id: input.id,
        })
    }

    /// A new API key, shown this once (stored as its SHA-256 and a prefix).
    async fn create_credential(
        &self,
        ctx: &Context<'_>,
        input: CreateCredentialInput,
    ) -> Result<NewCredential> {
        let a = actor(ctx)?;
        let app = parse_id(&input.application_id, "input.applicationId")?;
        let expires = days(input.expires_in_days)?;
        let key = apps::new_key();
        let nk = NewKey::of(&key, false);
        let (name, act, now) = (
            input.display_name,
            a.clone(),
            chrono::Utc::now().timestamp_millis(),
        );
        let st = state(ctx);
        let (cat, id) = commit(st, move |cat| {
            apps::create_credential(cat, Some(&act), app, name.clone(), expires, &nk, now)
        })
        .await?;
        event(
            st,
            &a,
            "credential.created",
            format!("credential:{id}"),
            json!({"credential_id": id, "application_id": app, "prefix": apps::prefix_of(&key)}),
        )
        .await;
        Ok(NewCredential {
            key,
            credential: ApplicationCredential { cat, id },
        })
    }

    /// A new key in place of an old one, which keeps working `graceSeconds`
    /// more (at most the portal's limit).
    async fn rotate_credential(
        &self,
        ctx: &Context<'_>,
        input: RotateCredentialInput,
    ) -> Result<NewCredential> {
        let a = actor(ctx)?;
        let old = parse_id(&input.credential_id, "input.credentialId")?;
        let grace = u32::try_from(input.grace_seconds.unwrap_or(0)).map_err(|_| {
            gql(Error::invalid(
                crate::error::Field::Input("graceSeconds".into()),
                "0 or more",
            ))
        })?;
        let key = apps::new_key();
        let nk = NewKey::of(&key, false);
        let (act, now) = (a.clone(), chrono::Utc::now().timestamp_millis());
        let st = state(ctx);
        let (cat, id) = commit(st, move |cat| {
            apps::rotate_credential(cat, Some(&act), old, grace, &nk, now)
        })
        .await?;
        event(
            st,
            &a,
            "credential.rotated",
            format!("credential:{old}"),
            json!({"credential_id": id, "replaces": old, "grace_seconds": grace}),
        )
        .await;
        Ok(NewCredential {
            key,
            credential: ApplicationCredential { cat, id },
        })
    }

    /// Stops a key at once, on every node with the next sync.
    async fn revoke_credential(
        &self,
        ctx: &Context<'_>,
        input: CredentialIdInput,
    ) -> Result<ApplicationCredential> {
        let a = actor(ctx)?;
        let id = parse_id(&input.credential_id, "input.credentialId")?;
        let act = a.clone();
        let st = state(ctx);
        let (cat, _) = commit(st, move |cat| apps::revoke_credential(cat, Some(&act), id)).await?;
        event(
            st,
            &a,
            "credential.revoked",
            format!("credential:{id}"),
            json!({"credential_id": id}),
        )
        .await;
        Ok(ApplicationCredential { cat, id })
    }
}
