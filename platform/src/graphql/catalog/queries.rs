//! The catalog's queries: APIs (only those the caller may read), one by id or
//! slug, and spec validation without storing.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use uuid::Uuid;

use super::{Api, ApiConnection, ApiOperation, ApiSpec, api_resource};
use crate::auth::Action;
use crate::catalog::spec;
use crate::error::{Error, Field};
use crate::graphql::connection::{Paging, page};
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::{caller, check, parse_id, state};

/// What `validateApiSpec` found (nothing is stored).
#[derive(SimpleObject)]
pub struct SpecValidation {
    pub spec: ApiSpec,
    pub operations: Vec<ApiOperation>,
}

#[derive(InputObject, Default)]
pub struct ApiFilter {
    pub name: Option<String>,
    pub slug: Option<String>,
}

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// The APIs the caller may read, in creation order.
    async fn apis(
        &self,
        ctx: &Context<'_>,
        filter: Option<ApiFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<ApiConnection> {
        let c = caller(ctx)?;
        let st = state(ctx);
        let cat = st.catalog.view();
        let f = filter.unwrap_or_default();
        let ids: Vec<(i64, Uuid)> = cat
            .apis()
            .into_iter()
            .filter(|(_, a)| f.name.as_ref().is_none_or(|n| &a.name == n))
            .filter(|(_, a)| f.slug.as_ref().is_none_or(|s| &a.slug == s))
            .map(|(e, _)| (e.seq, e.id))
            .collect();
        let ids = st
            .access
            .allowed_each(c, ids, |(_, id)| api_resource(*id), Action::Read)
            .await;
        let p = page(
            ids,
            |(seq, _)| *seq,
            &Paging::new(first, after, last, before),
        )
        .gql()?;
        crate::graphql::limits::charge(ctx, p.items.len())?;
        Ok(p.map(|(_, id)| Api {
            cat: cat.clone(),
            id,
        })
        .into())
    }

    /// An API by id or slug.
    async fn api(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        slug: Option<String>,
    ) -> Result<Option<Api>> {
        let cat = state(ctx).catalog.view();
        let found = match (id, slug) {
            (Some(id), _) => {
                let id = parse_id(&id, "id")?;
                check(ctx, &api_resource(id), Action::Read).await?;
                cat.api(id).map(|_| id)
            }
            (None, Some(s)) => {
                let found = cat.api_by_slug(&s).map(|(e, _)| e.id);
                check(ctx, &api_resource(found.unwrap_or_default()), Action::Read).await?;
                found
            }
            (None, None) => return Err(gql(Error::invalid(Field::None, "give id or slug"))),
        };
        Ok(found.map(|id| Api { cat, id }))
    }

    /// Reads a spec and says what is wrong with it, storing nothing.
    async fn validate_api_spec(
        &self,
        ctx: &Context<'_>,
        content: String,
    ) -> Result<SpecValidation> {
        caller(ctx)?;
        let s = spec::read(&content, "content").gql()?;
        let operations = s
            .operations
            .iter()
            .map(|op| ApiOperation {
                method: op.method.clone(),
                path: op.path.clone(),
                operation_id: op.operation_id.clone(),
                summary: op.summary.clone(),
                deprecated: op.deprecated,
                implemented: false,
                routes: Vec::new(),
            })
            .collect();
        Ok(SpecValidation {
            spec: ApiSpec {
                version_id: None,
                spec: s,
            },
            operations,
        })
    }
}
