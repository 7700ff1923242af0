//! The migrations after the catalog's (M0007 on): portal webhooks' deliveries,
//! analytics.

use sea_orm_migration::prelude::*;

use super::{drop_tables, id, int, int_null, string, t, table, text, text_null};

/// The delivery log of the portals' webhooks (the webhooks themselves are
/// catalog records).
pub struct M0007WebhookDeliveries;

impl MigrationName for M0007WebhookDeliveries {
    fn name(&self) -> &str {
        "m0007_webhook_deliveries"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0007WebhookDeliveries {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(table(
                "webhook_deliveries",
                vec![
                    id("id"),
                    string("webhook_id"),
                    string("portal_id"),
                    string("event"),
                    text("payload"),
                    string("status"),
                    int("attempts"),
                    int("next_attempt_at"),
                    int_null("response_status"),
                    text_null("error"),
                    int("created_at"),
                    int_null("delivered_at"),
                ],
                &[],
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_due")
                    .table(t("webhook_deliveries"))
                    .col(t("status"))
                    .col(t("next_attempt_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_webhook")
                    .table(t("webhook_deliveries"))
                    .col(t("webhook_id"))
                    .col(t("id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["webhook_deliveries"]).await
    }
}

/// Analytics: batches seen (by node and sequence, so a batch counts once),
/// rollups of the nodes' 10-second cells per minute, hour and day (sketches
/// merged), and sampled request records.
pub struct M0008Analytics;

impl MigrationName for M0008Analytics {
    fn name(&self) -> &str {
        "m0008_analytics"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0008Analytics {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(table(
                "analytics_batches",
                vec![
                    string("node_id"),
                    int("seq"),
                    string("control_plane_id"),
                    int("received_at"),
                ],
                &["node_id", "seq"],
            ))
            .await?;
        manager
            .create_table(table(
                "analytics_rollups",
                vec![
                    id("cell"),
                    int("tier"),
                    int("bucket"),
                    string("control_plane_id"),
                    string("node_id"),
                    string("service"),
                    string("route"),
                    string("consumer"),
                    string("application"),
                    string("api"),
                    int("status"),
                    int("count"),
                    int("gateway_answers"),
                    int("request_bytes"),
                    int("response_bytes"),
                    text("sketches"),
                ],
                &[],
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("analytics_rollups_time")
                    .table(t("analytics_rollups"))
                    .col(t("tier"))
                    .col(t("bucket"))
                    .col(t("control_plane_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(table(
                "analytics_samples",
                vec![
                    id("id"),
                    int("at_ms"),
                    string("control_plane_id"),
                    string("node_id"),
                    int("status"),
                    text("record"),
                ],
                &[],
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("analytics_samples_time")
                    .table(t("analytics_samples"))
                    .col(t("at_ms"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "analytics_samples",
                "analytics_minutes",
                "analytics_batches",
            ],
        )
        .await
    }
}
