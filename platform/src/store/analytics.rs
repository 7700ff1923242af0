//! Analytics rows: batches seen, rollups per minute, hour and day (one row per
//! bucket and dimensions, sketches as JSON), and sampled request records.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::row;

pub mod batch {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "analytics_batches")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub node_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub control_plane_id: String,
        pub received_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod rollup {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "analytics_rollups")]
    pub struct Model {
        /// The tier, the bucket and every dimension, joined: the row's identity.
        #[sea_orm(primary_key, auto_increment = false)]
        pub cell: String,
        /// Seconds per bucket: 60, 3600 or 86400.
        pub tier: i64,
        /// Unix seconds at the start of the bucket.
        pub bucket: i64,
        pub control_plane_id: String,
        pub node_id: String,
        /// Empty when none.
        pub service: String,
        pub route: String,
        pub consumer: String,
        pub application: String,
        pub api: String,
        pub status: i64,
        pub count: i64,
        pub gateway_answers: i64,
        pub request_bytes: i64,
        pub response_bytes: i64,
        #[sea_orm(column_type = "Text")]
        pub sketches: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sample {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "analytics_samples")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub at_ms: i64,
        pub control_plane_id: String,
        pub node_id: String,
        pub status: i64,
        #[sea_orm(column_type = "Text")]
        pub record: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Writes one batch: its key (false, and nothing written, when it was seen
/// before), the merged minute rows (`merge` folds a stored row into the new
/// one), and its samples, in one transaction.
pub async fn write_batch(
    db: &DatabaseConnection,
    key: batch::Model,
    rollups: Vec<rollup::Model>,
    merge: impl Fn(&rollup::Model, &mut rollup::Model),
    samples: Vec<sample::Model>,
) -> Result<bool, DbErr> {
    let tx = db.begin().await?;
    if batch::Entity::find_by_id((key.node_id.clone(), key.seq))
        .one(&tx)
        .await?
        .is_some()
    {
        tx.rollback().await?;
        return Ok(false);
    }
    row::<_, batch::ActiveModel>(key).insert(&tx).await?;
    for mut m in rollups {
        match rollup::Entity::find_by_id(m.cell.clone()).one(&tx).await? {
            Some(old) => {
                merge(&old, &mut m);
                row::<_, rollup::ActiveModel>(m).update(&tx).await?;
            }
            None => {
                row::<_, rollup::ActiveModel>(m).insert(&tx).await?;
            }
        }
    }
    for s in samples {
        row::<_, sample::ActiveModel>(s).insert(&tx).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Rows of one tier of these planes in [from, to) (Unix seconds).
pub async fn rollups(
    db: &impl ConnectionTrait,
    tier: i64,
    planes: &[String],
    from: i64,
    to: i64,
    limit: u64,
) -> Result<Vec<rollup::Model>, DbErr> {
    rollup::Entity::find()
        .filter(rollup::Column::Tier.eq(tier))
        .filter(rollup::Column::Bucket.gte(from))
        .filter(rollup::Column::Bucket.lt(to))
        .filter(rollup::Column::ControlPlaneId.is_in(planes.to_vec()))
        .order_by_asc(rollup::Column::Bucket)
        .limit(limit)
        .all(db)
        .await
}

/// Sampled records of these planes since `from_ms`, newest first, older than
/// `before`; and how many there are since `from_ms`.
pub async fn samples(
    db: &DatabaseConnection,
    planes: &[String],
    from_ms: i64,
    status: Option<i64>,
    before: Option<&str>,
    limit: u64,
) -> Result<(Vec<sample::Model>, u64), DbErr> {
    use sea_orm::PaginatorTrait;
    let mut q = sample::Entity::find()
        .filter(sample::Column::ControlPlaneId.is_in(planes.to_vec()))
        .filter(sample::Column::AtMs.gte(from_ms));
    if let Some(s) = status {
        q = q.filter(sample::Column::Status.eq(s));
    }
    let total = q.clone().count(db).await?;
    let q = match before {
        Some(b) => q.filter(sample::Column::Id.lt(b)),
        None => q,
    };
    let rows = q
        .order_by_desc(sample::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Deletes what is past its retention: rollups of `tier` older than the
/// bucket `before`, samples and batch keys older than `samples_before_ms`.
pub async fn prune(
    db: &DatabaseConnection,
    tiers: &[(i64, i64)],
    samples_before_ms: i64,
) -> Result<u64, DbErr> {
    let mut n = 0;
    for (tier, before) in tiers {
        n += rollup::Entity::delete_many()
            .filter(rollup::Column::Tier.eq(*tier))
            .filter(rollup::Column::Bucket.lt(*before))
            .exec(db)
            .await?
            .rows_affected;
    }
    n += sample::Entity::delete_many()
        .filter(sample::Column::AtMs.lt(samples_before_ms))
        .exec(db)
        .await?
        .rows_affected;
    n += batch::Entity::delete_many()
        .filter(batch::Column::ReceivedAt.lt(samples_before_ms))
        .exec(db)
        .await?
        .rows_affected;
    Ok(n)
}

/// Rows of one tier of an application since `from` (Unix seconds).
pub async fn rollups_of_application(
    db: &DatabaseConnection,
    tier: i64,
    application: &str,
    from: i64,
) -> Result<Vec<rollup::Model>, DbErr> {
    rollup::Entity::find()
        .filter(rollup::Column::Tier.eq(tier))
        .filter(rollup::Column::Application.eq(application))
        .filter(rollup::Column::Bucket.gte(from))
        .limit(1_000_000)
        .all(db)
        .await
}
