//! Platform-wide settings, as key and value.

use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait};

use super::row;

pub mod setting {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        #[sea_orm(column_type = "Text")]
        pub value: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub async fn setting(db: &DatabaseConnection, key: &str) -> Result<Option<String>, DbErr> {
    Ok(setting::Entity::find_by_id(key.to_string())
        .one(db)
        .await?
        .map(|m| m.value))
}

pub async fn insert_setting(db: &DatabaseConnection, key: &str, value: &str) -> Result<(), DbErr> {
    row(setting::Model {
        key: key.into(),
        value: value.into(),
    })
    .insert(db)
    .await
    .map(|_| ())
}
