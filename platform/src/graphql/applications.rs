//! Developers' applications as both realms see them: applications with their
//! registrations (an API, a plan, a status) and API keys (never the key: its
//! prefix, status and expiry), and the plans of a publication. Objects read
//! the catalog snapshot they were made from.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::{connection, datetime};
use super::error::gql;
use crate::catalog::Catalog;
use crate::catalog::model::{self, Entry};
use crate::error::{Error, Field};
use crate::portal::applications::credential_state;

connection!(ApplicationConnection, ApplicationEdge, Application);
connection!(
    ApplicationRegistrationConnection,
    ApplicationRegistrationEdge,
    ApplicationRegistration
);

fn entry(cat: &Catalog, id: Uuid) -> Result<&Entry> {
    cat.entry(id)
        .ok_or_else(|| gql(Error::NotFound(format!("{id}"))))
}

/// A registration's standing.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::catalog::model::RegistrationStatus")]
pub enum RegistrationStatus {
    Pending,
    Approved,
    Rejected,
    Revoked,
}

/// A key's standing (whether nodes have it yet: `credentialStatus`).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::portal::applications::CredentialState")]
pub enum CredentialStatus {
    Active,
    Expired,
    Revoked,
}

/// Requests per period; the quota is requests per calendar month.
#[derive(SimpleObject, InputObject, Clone, Debug, Default)]
#[graphql(input_name = "RateLimitsInput")]
pub struct RateLimits {
    pub second: Option<f64>,
    pub minute: Option<f64>,
    pub hour: Option<f64>,
    pub day: Option<f64>,
    pub month: Option<f64>,
}

/// A plan of an API in a portal.
#[derive(Clone)]
pub struct Plan {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

fn plan(cat: &Catalog, id: Uuid) -> Result<&model::ApiPlanData> {
    cat.plan(id)
        .ok_or_else(|| gql(Error::NotFound(format!("plan {id}"))))
}

#[Object]
impl Plan {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn name(&self) -> Result<String> {
        Ok(plan(&self.cat, self.id)?.name.clone())
    }
    async fn description(&self) -> Result<Option<String>> {
        Ok(plan(&self.cat, self.id)?.description.clone())
    }
    async fn api_id(&self) -> Result<ID> {
        Ok(ID(plan(&self.cat, self.id)?.api_id.to_string()))
    }
    async fn publication_id(&self) -> Result<ID> {
        Ok(ID(plan(&self.cat, self.id)?.publication_id.to_string()))
    }
    async fn rate_limits(&self) -> Result<RateLimits> {
        let l = &plan(&self.cat, self.id)?.limits;
        Ok(RateLimits {
            second: l.second,
            minute: l.minute,
            hour: l.hour,
            day: l.day,
            month: l.month,
        })
    }
    /// Requests per calendar month.
    async fn quota(&self) -> Result<Option<f64>> {
        Ok(plan(&self.cat, self.id)?.limits.quota)
    }
    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.created_at))
    }
}

impl RateLimits {
    pub fn limits(&self, quota: Option<f64>) -> graphql_schema::entity::PlanLimits {
        graphql_schema::entity::PlanLimits {
            second: self.second,
            minute: self.minute,
            hour: self.hour,
            day: self.day,
            month: self.month,
            quota,
        }
    }
}

/// A developer's application.
#[derive(Clone)]
pub struct Application {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

fn app(cat: &Catalog, id: Uuid) -> Result<&model::ApplicationData> {
    cat.application(id)
        .ok_or_else(|| gql(Error::NotFound(format!("application {id}"))))
}

#[Object]
impl Application {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn name(&self) -> Result<String> {
        Ok(app(&self.cat, self.id)?.name.clone())
    }
    async fn description(&self) -> Result<Option<String>> {
        Ok(app(&self.cat, self.id)?.description.clone())
    }
    async fn portal_id(&self) -> Result<ID> {
        Ok(ID(app(&self.cat, self.id)?.portal_id.to_string()))
    }
    /// The developer who created it.
    async fn developer_id(&self) -> Result<ID> {
        Ok(ID(app(&self.cat, self.id)?.developer_id.to_string()))
    }
    /// The developer team that owns it, if any.
    async fn team_id(&self) -> Result<Option<ID>> {
        Ok(app(&self.cat, self.id)?.team_id.map(|t| ID(t.to_string())))
    }
    /// Whether its keys are stopped (its developer is revoked or rejected).
    async fn suspended(&self) -> Result<bool> {
        Ok(app(&self.cat, self.id)?.suspended)
    }
    /// Its registrations (at most one per API).
    async fn registrations(&self, ctx: &Context<'_>) -> Result<Vec<ApplicationRegistration>> {
        let v = self.cat.registrations_of(self.id);
        super::limits::charge(ctx, v.len())?;
        Ok(v.into_iter()
            .map(|(e, _)| ApplicationRegistration {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect())
    }
    /// Its keys (at most the portal's limit are active).
    async fn credentials(&self, ctx: &Context<'_>) -> Result<Vec<ApplicationCredential>> {
        let v = self.cat.credentials_of(self.id);
        super::limits::charge(ctx, v.len())?;
        Ok(v.into_iter()
            .map(|(e, _)| ApplicationCredential {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect())
    }
    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.created_at))
    }
    async fn updated_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.updated_at))
    }
}

/// An application's registration for an API.
#[derive(Clone)]
pub struct ApplicationRegistration {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

fn reg(cat: &Catalog, id: Uuid) -> Result<&model::RegistrationData> {
    cat.registration(id)
        .ok_or_else(|| gql(Error::NotFound(format!("registration {id}"))))
}

#[Object]
impl ApplicationRegistration {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn application(&self) -> Result<Application> {
        Ok(Application {
            cat: self.cat.clone(),
            id: reg(&self.cat, self.id)?.application_id,
        })
    }
    async fn api_id(&self) -> Result<ID> {
        Ok(ID(reg(&self.cat, self.id)?.api_id.to_string()))
    }
    async fn api_name(&self) -> Result<Option<String>> {
        let r = reg(&self.cat, self.id)?;
        Ok(self.cat.api(r.api_id).map(|a| a.name.clone()))
    }
    async fn plan(&self) -> Result<Option<Plan>> {
        let r = reg(&self.cat, self.id)?;
        Ok(r.plan_id
            .filter(|p| self.cat.plan(*p).is_some())
            .map(|id| Plan {
                cat: self.cat.clone(),
                id,
            }))
    }
    async fn status(&self) -> Result<RegistrationStatus> {
        Ok(reg(&self.cat, self.id)?.status.into())
    }
    /// The developer's note to the admins.
    async fn message(&self) -> Result<Option<String>> {
        Ok(reg(&self.cat, self.id)?.message.clone())
    }
    /// The admins' reason for their decision.
    async fn reason(&self) -> Result<Option<String>> {
        Ok(reg(&self.cat, self.id)?.reason.clone())
    }
    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.created_at))
    }
    async fn updated_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.updated_at))
    }
}

/// An API key of an application (the key itself is shown once, at creation).
#[derive(Clone)]
pub struct ApplicationCredential {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

fn cred(cat: &Catalog, id: Uuid) -> Result<&model::CredentialData> {
    cat.credential(id)
        .ok_or_else(|| gql(Error::NotFound(format!("credential {id}"))))
}

#[Object]
impl ApplicationCredential {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn application_id(&self) -> Result<ID> {
        Ok(ID(cred(&self.cat, self.id)?.application_id.to_string()))
    }
    async fn display_name(&self) -> Result<Option<String>> {
        Ok(cred(&self.cat, self.id)?.display_name.clone())
    }
    /// The key's first characters (empty for a key imported by its hash).
    async fn prefix(&self) -> Result<String> {
        Ok(cred(&self.cat, self.id)?.prefix.clone())
    }
    async fn status(&self) -> Result<CredentialStatus> {
        Ok(credential_state(
            cred(&self.cat, self.id)?,
            chrono::Utc::now().timestamp_millis(),
        )
        .into())
    }
    async fn expires_at(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(cred(&self.cat, self.id)?.expires_at.map(datetime))
    }
    /// Whether it was brought along (an existing key or its SHA-256).
    async fn imported(&self) -> Result<bool> {
        Ok(cred(&self.cat, self.id)?.imported)
    }
    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.created_at))
    }
}

/// A key, shown this once, and its record.
#[derive(SimpleObject)]
pub struct NewCredential {
    /// Send it as `apikey` or `x-api-key` (header) or `?apikey=`.
    pub key: String,
    pub credential: ApplicationCredential,
}

/// Commits a change to applications, registrations, keys or plans, and
/// answers once the control planes hold it (keys work when the answer comes):
/// the new catalog and the record the change was about.
pub async fn commit(
    st: &crate::state::AppState,
    compute: impl Fn(&Catalog) -> std::result::Result<crate::catalog::Change, Error>
    + Send
    + Sync
    + 'static,
) -> Result<(Arc<Catalog>, Uuid)> {
    use super::error::Gql;
    let c = st.catalog.mutate(compute).await.gql()?;
    st.projection.settled(c.version).await;
    let id = c
        .subject
        .ok_or_else(|| gql(Error::internal("the change has no subject")))?;
    Ok((c.catalog, id))
}

/// `expiresInDays` as the domain takes it.
pub fn days(v: Option<i32>) -> Result<Option<u32>> {
    match v {
        None => Ok(None),
        Some(d) if (1..=36_500).contains(&d) => Ok(Some(d as u32)),
        Some(_) => Err(gql(Error::invalid(
            Field::Input("expiresInDays".into()),
            "1 to 36500",
        ))),
    }
}
