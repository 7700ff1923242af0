//! The portals' webhook deliveries: queued when an event happens, tried until
//! delivered or out of attempts, kept as the delivery log.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::row;

pub mod delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        /// UUIDv7: later deliveries sort after earlier ones.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub webhook_id: String,
        pub portal_id: String,
        pub event: String,
        #[sea_orm(column_type = "Text")]
        pub payload: String,
        /// `pending`, `delivered` or `failed` (out of attempts).
        pub status: String,
        pub attempts: i64,
        pub next_attempt_at: i64,
        pub response_status: Option<i64>,
        pub error: Option<String>,
        pub created_at: i64,
        pub delivered_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub async fn queue(db: &DatabaseConnection, m: delivery::Model) -> Result<(), DbErr> {
    row(m).insert(db).await.map(|_| ())
}

/// Pending deliveries due at `now`, oldest first.
pub async fn due(
    db: &DatabaseConnection,
    now: i64,
    limit: u64,
) -> Result<Vec<delivery::Model>, DbErr> {
    delivery::Entity::find()
        .filter(delivery::Column::Status.eq("pending"))
        .filter(delivery::Column::NextAttemptAt.lte(now))
        .order_by_asc(delivery::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Records an attempt: its status code or error, and what comes next.
pub async fn attempted(
    db: &DatabaseConnection,
    m: &delivery::Model,
    status: &str,
    next_attempt_at: i64,
    response_status: Option<i64>,
    error: Option<String>,
    delivered_at: Option<i64>,
) -> Result<(), DbErr> {
    delivery::Entity::update_many()
        .filter(delivery::Column::Id.eq(m.id.clone()))
        .col_expr(delivery::Column::Status, Expr::value(status))
        .col_expr(delivery::Column::Attempts, Expr::value(m.attempts + 1))
        .col_expr(
            delivery::Column::NextAttemptAt,
            Expr::value(next_attempt_at),
        )
        .col_expr(
            delivery::Column::ResponseStatus,
            Expr::value(response_status),
        )
        .col_expr(delivery::Column::Error, Expr::value(error))
        .col_expr(delivery::Column::DeliveredAt, Expr::value(delivered_at))
        .exec(db)
        .await
        .map(|_| ())
}

/// A webhook's deliveries, newest first, `limit` older than `before`.
pub async fn of_webhook(
    db: &DatabaseConnection,
    webhook: &str,
    before: Option<&str>,
    limit: u64,
) -> Result<(Vec<delivery::Model>, u64), DbErr> {
    let q = delivery::Entity::find().filter(delivery::Column::WebhookId.eq(webhook));
    let total = q.clone().count(db).await?;
    let q = match before {
        Some(b) => q.filter(delivery::Column::Id.lt(b)),
        None => q,
    };
    let rows = q
        .order_by_desc(delivery::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}
