//! A portal's webhooks in the admin API: where portal events go (signed with
//! the webhook's secret, shown once), and each webhook's delivery log.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::applications::{AdminDeletedPayload, AdminIdInput, check_on};
use super::portal_resource;
use crate::auth::Action;
use crate::catalog::Catalog;
use crate::error::{Error, Field};
use crate::graphql::applications::commit;
use crate::graphql::connection::{Paging, connection, datetime};
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::{check, parse_id, state};
use crate::portal::events::{DeliveryRecord, EVENTS};
use crate::portal::webhooks;
use crate::state::AppState;

connection!(
    WebhookDeliveryConnection,
    WebhookDeliveryEdge,
    WebhookDelivery
);

/// A portal's webhook (its secret is never shown again).
#[derive(Clone)]
pub struct PortalWebhook {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

fn hook(cat: &Catalog, id: Uuid) -> Result<&crate::catalog::model::WebhookData> {
    cat.webhook(id)
        .ok_or_else(|| gql(Error::NotFound(format!("webhook {id}"))))
}

#[Object]
impl PortalWebhook {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn url(&self) -> Result<String> {
        Ok(hook(&self.cat, self.id)?.url.clone())
    }
    /// The events it gets (empty: all of them).
    async fn events(&self) -> Result<Vec<String>> {
        Ok(hook(&self.cat, self.id)?.events.clone())
    }
    async fn enabled(&self) -> Result<bool> {
        Ok(hook(&self.cat, self.id)?.enabled)
    }
    /// Its deliveries, newest first.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<WebhookDeliveryConnection> {
        let p = Paging::new(first, after, None, None);
        let (size, _) = p.size().gql()?;
        let after = p.after_key::<String>().gql()?;
        let (rows, total) = crate::portal::events::deliveries(
            &state(ctx).db,
            self.id,
            after.as_deref(),
            size as u64 + 1,
        )
        .await
        .gql()?;
        crate::graphql::limits::charge(ctx, rows.len())?;
        let more = rows.len() > size;
        let items: Vec<(String, WebhookDelivery)> = rows
            .into_iter()
            .take(size)
            .map(|d| {
                use crate::graphql::connection::CursorKey;
                (d.id.cursor(), WebhookDelivery::from(d))
            })
            .collect();
        Ok(crate::graphql::connection::Page {
            info: crate::graphql::connection::PageInfo {
                has_next_page: more,
                has_previous_page: false,
                start_cursor: items.first().map(|(c, _)| c.clone()),
                end_cursor: items.last().map(|(c, _)| c.clone()),
            },
            items,
            total: total as usize,
        }
        .into())
    }
}

/// One event sent (or being sent) to a webhook.
#[derive(SimpleObject, Clone)]
pub struct WebhookDelivery {
    pub id: ID,
    pub event: String,
    /// PENDING, DELIVERED or FAILED (out of attempts).
    pub status: String,
    pub attempts: i64,
    /// The last answer's HTTP status.
    pub response_status: Option<i64>,
    pub error: Option<String>,
    /// The JSON body sent.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl From<DeliveryRecord> for WebhookDelivery {
    fn from(d: DeliveryRecord) -> Self {
        WebhookDelivery {
            id: ID(d.id),
            event: d.event,
            next_attempt_at: (d.status == "pending").then(|| datetime(d.next_attempt_at)),
            status: d.status.to_uppercase(),
            attempts: d.attempts,
            response_status: d.response_status,
            error: d.error,
            payload: d.payload,
            created_at: datetime(d.created_at),
            delivered_at: d.delivered_at.map(datetime),
        }
    }
}

#[derive(InputObject)]
pub struct CreatePortalWebhookInput {
    pub portal_id: ID,
    pub url: String,
    /// Left out or empty: every event.
    pub events: Option<Vec<String>>,
    /// The signing secret (left out: one is made and shown this once).
    #[graphql(secret)]
    pub secret: Option<String>,
}

#[derive(InputObject)]
pub struct UpdatePortalWebhookInput {
    pub id: ID,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
    #[graphql(secret)]
    pub secret: Option<String>,
}

#[derive(SimpleObject)]
pub struct CreatePortalWebhookPayload {
    pub webhook: PortalWebhook,
    /// The signing secret, shown this once.
    pub secret: String,
}

fn seal(st: &AppState, secret: &str) -> Result<String> {
    if secret.len() < 16 || secret.len() > 256 {
        return Err(gql(Error::invalid(
            Field::Input("secret".into()),
            "16 to 256 characters",
        )));
    }
    st.sealer
        .seal_str(secret)
        .map_err(|e| gql(Error::internal(e.to_string())))
}

#[derive(Default)]
pub struct PortalWebhookQuery;

#[Object]
impl PortalWebhookQuery {
    /// A portal's webhooks (at most 20).
    async fn portal_webhooks(
        &self,
        ctx: &Context<'_>,
        portal_id: ID,
    ) -> Result<Vec<PortalWebhook>> {
        let portal = parse_id(&portal_id, "portalId")?;
        check(ctx, &portal_resource(portal), Action::Read).await?;
        let cat = state(ctx).catalog.view();
        Ok(cat
            .webhooks()
            .into_iter()
            .filter(|(_, w)| w.portal_id == portal)
            .map(|(e, _)| PortalWebhook {
                cat: cat.clone(),
                id: e.id,
            })
            .collect())
    }

    /// The events webhooks may ask for.
    async fn portal_webhook_events(&self) -> Vec<String> {
        EVENTS.iter().map(|e| e.to_string()).collect()
    }
}

#[derive(Default)]
pub struct PortalWebhookMutation;

#[Object]
impl PortalWebhookMutation {
    async fn create_portal_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreatePortalWebhookInput,
    ) -> Result<CreatePortalWebhookPayload> {
        let portal = parse_id(&input.portal_id, "input.portalId")?;
        check(ctx, &portal_resource(portal), Action::Update).await?;
        let st = state(ctx);
        let secret = input
            .secret
            .unwrap_or_else(|| crate::auth::tokens::new_token("whsec_"));
        let sealed = seal(st, &secret)?;
        let (url, events) = (input.url, input.events.unwrap_or_default());
        let (cat, id) = commit(st, move |cat| {
            webhooks::create_webhook(cat, portal, url.clone(), events.clone(), sealed.clone())
        })
        .await?;
        Ok(CreatePortalWebhookPayload {
            webhook: PortalWebhook { cat, id },
            secret,
        })
    }

    async fn update_portal_webhook(
        &self,
        ctx: &Context<'_>,
        input: UpdatePortalWebhookInput,
    ) -> Result<PortalWebhook> {
        let id = parse_id(&input.id, "input.id")?;
        check_on(ctx, id, Action::Update).await?;
        let st = state(ctx);
        let sealed = input.secret.as_deref().map(|s| seal(st, s)).transpose()?;
        let (url, events, enabled) = (input.url, input.events, input.enabled);
        let (cat, _) = commit(st, move |cat| {
            webhooks::update_webhook(
                cat,
                id,
                url.clone(),
                events.clone(),
                enabled,
                sealed.clone(),
            )
        })
        .await?;
        Ok(PortalWebhook { cat, id })
    }

    async fn delete_portal_webhook(
        &self,
        ctx: &Context<'_>,
        input: AdminIdInput,
    ) -> Result<AdminDeletedPayload> {
        let id = parse_id(&input.id, "input.id")?;
        check_on(ctx, id, Action::Update).await?;
        commit(state(ctx), move |cat| webhooks::delete_webhook(cat, id)).await?;
        Ok(AdminDeletedPayload {
            deleted_id: input.id,
        })
    }
}
