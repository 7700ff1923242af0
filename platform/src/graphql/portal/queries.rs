//! The portals the caller may read, one by id or name, and the mail outbox.

use async_graphql::{Context, ID, InputObject, Object, Result};

use super::{Mail, MailConnection, Portal, PortalConnection, portal_resource};
use crate::auth::{Action, Resource};
use crate::error::{Error, Field};
use crate::graphql::connection::{CursorKey, Page, PageInfo, Paging, datetime, page};
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::{caller, check, state};
use crate::portal::mail::outbox;

#[derive(InputObject, Default)]
pub struct PortalFilter {
    pub name: Option<String>,
}

#[derive(Default)]
pub struct PortalQuery;

#[Object]
impl PortalQuery {
    /// The portals the caller may read, in creation order.
    async fn portals(
        &self,
        ctx: &Context<'_>,
        filter: Option<PortalFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<PortalConnection> {
        let c = caller(ctx)?;
        let st = state(ctx);
        let cat = st.catalog.view();
        let f = filter.unwrap_or_default();
        let ids: Vec<(i64, uuid::Uuid)> = cat
            .portals()
            .into_iter()
            .filter(|(_, p)| f.name.as_ref().is_none_or(|n| &p.name == n))
            .map(|(e, _)| (e.seq, e.id))
            .collect();
        let ids = st
            .access
            .allowed_each(c, ids, |(_, id)| portal_resource(*id), Action::Read)
            .await;
        let p = page(
            ids,
            |(seq, _)| *seq,
            &Paging::new(first, after, last, before),
        )
        .gql()?;
        crate::graphql::limits::charge(ctx, p.items.len())?;
        Ok(p.map(|(_, id)| Portal {
            cat: cat.clone(),
            id,
        })
        .into())
    }

    /// A portal by id or by name.
    async fn portal(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        name: Option<String>,
    ) -> Result<Option<Portal>> {
        let cat = state(ctx).catalog.view();
        let r = match (id, name) {
            (Some(id), _) => id.to_string(),
            (None, Some(n)) => n,
            (None, None) => return Err(gql(Error::invalid(Field::None, "give id or name"))),
        };
        let found = cat.portal_by_ref(&r).map(|(e, _)| e.id);
        check(
            ctx,
            &portal_resource(found.unwrap_or_default()),
            Action::Read,
        )
        .await?;
        Ok(found.map(|id| Portal { cat, id }))
    }

    /// Mail to developers, newest first (organization admins): what went out
    /// through SMTP, or, without SMTP, what would have.
    async fn mail_outbox(
        &self,
        ctx: &Context<'_>,
        to: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<MailConnection> {
        check(ctx, &Resource::Organization, Action::Read).await?;
        let p = Paging::new(first, after, None, None);
        let (size, _) = p.size().gql()?;
        let after = p.after_key::<String>().gql()?;
        let (mails, total) = outbox(
            &state(ctx).db,
            to.as_deref(),
            after.as_deref(),
            size as u64 + 1,
        )
        .await
        .gql()?;
        let more = mails.len() > size;
        let items: Vec<(String, Mail)> = mails
            .into_iter()
            .take(size)
            .map(|m| {
                (
                    m.id.cursor(),
                    Mail {
                        id: ID(m.id),
                        to: m.to_addr,
                        subject: m.subject,
                        body: m.body,
                        created_at: datetime(m.created_at),
                        sent_at: m.sent_at.map(datetime),
                        error: m.error,
                    },
                )
            })
            .collect();
        crate::graphql::limits::charge(ctx, items.len())?;
        Ok(Page {
            info: PageInfo {
                has_next_page: more,
                has_previous_page: after.is_some(),
                start_cursor: items.first().map(|(c, _)| c.clone()),
                end_cursor: items.last().map(|(c, _)| c.clone()),
            },
            items,
            total: total as usize,
        }
        .into())
    }
}
