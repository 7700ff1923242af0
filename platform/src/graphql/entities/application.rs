//! Dev Portal applications as the gateway sees them: the config entities the
//! portal writes into a plane (an application, the APIs it is registered for
//! with its plan's limits, and its keys, kept as SHA-256). The key itself is
//! never a field.

use async_graphql::{Context, Result, SimpleObject};

use super::{
    GatewayApplication, GatewayApplicationCredential, GatewayApplicationCredentialConnection,
    children, entity_object, page_of, paging,
};
use crate::config::Kind;

/// A plan's limits as the node enforces them.
#[derive(SimpleObject, Clone)]
pub struct GatewayPlanLimits {
    pub second: Option<f64>,
    pub minute: Option<f64>,
    pub hour: Option<f64>,
    pub day: Option<f64>,
    pub month: Option<f64>,
    /// Requests per calendar month.
    pub quota: Option<f64>,
}

/// An API the application may call.
#[derive(SimpleObject, Clone)]
pub struct GatewayRegistration {
    pub api_id: async_graphql::ID,
    pub plan: Option<GatewayPlanLimits>,
}

entity_object!(
    /// A Dev Portal application in a plane's config (written by the portal when
    /// a registration is approved, or declared by hand).
    GatewayApplication, Kind::Application, {
    async fn name(&self) -> Result<String> {
        Ok(self.0.get(|t, id| t.application(id))?.name.clone())
    }

    async fn developer_id(&self) -> Result<Option<async_graphql::ID>> {
        Ok(self.0.get(|t, id| t.application(id))?.developer_id.map(|u| u.to_string().into()))
    }

    async fn portal_id(&self) -> Result<Option<async_graphql::ID>> {
        Ok(self.0.get(|t, id| t.application(id))?.portal_id.map(|u| u.to_string().into()))
    }

    /// The APIs it may call, with each plan's limits.
    async fn registrations(&self) -> Result<Vec<GatewayRegistration>> {
        Ok(self
            .0
            .get(|t, id| t.application(id))?
            .registrations
            .iter()
            .map(|r| GatewayRegistration {
                api_id: r.api_id.to_string().into(),
                plan: r.plan.as_ref().map(|p| GatewayPlanLimits {
                    second: p.second,
                    minute: p.minute,
                    hour: p.hour,
                    day: p.day,
                    month: p.month,
                    quota: p.quota,
                }),
            })
            .collect())
    }

    /// Its keys, in creation order.
    async fn credentials(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<GatewayApplicationCredentialConnection> {
        let list = children(&self.0, Kind::ApplicationCredential);
        Ok(page_of(ctx, &self.0.view, list, &paging(first, after, last, before), GatewayApplicationCredential)?.into())
    }
});

entity_object!(
    /// An application's API key (its SHA-256 only; the key is write-only).
    GatewayApplicationCredential, Kind::ApplicationCredential, {
    async fn application(&self) -> Result<GatewayApplication> {
        Ok(GatewayApplication(self.0.other(
            self.0.get(|t, id| t.application_credential(id))?.application_id,
        )))
    }

    async fn display_name(&self) -> Option<String> {
        self.0.data("display_name").and_then(|v| v.as_str()).map(str::to_string)
    }

    /// The key's first characters, to recognise it.
    async fn prefix(&self) -> Option<String> {
        self.0.data("prefix").and_then(|v| v.as_str()).map(str::to_string)
    }

    /// When the key stops working, if it expires.
    async fn expires_at(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        Ok(self
            .0
            .get(|t, id| t.application_credential(id))?
            .expires_at
            .map(|s| crate::graphql::connection::datetime(s.saturating_mul(1000))))
    }
});
