//! The developer realm's queries: the portal, the signed-in developer, the APIs,
//! pages and snippets the viewer may see, and search over them. What the viewer
//! may not see answers as missing.

use async_graphql::{Context, ID, InputObject, Object, Result};

use super::objects::{
    DeveloperProfile, DeveloperTeamInfo, PortalApi, PortalApiConnection, PortalInfo,
    PortalPageView, PortalSnippetView, SearchResult, SearchResultConnection, SearchResultKind,
};
use super::{portal, session, viewer};
use crate::catalog::Catalog;
use crate::error::{Error, Field};
use crate::graphql::connection::{Paging, page};
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::state;
use crate::portal::developers::DeveloperStatus;
use crate::portal::visibility::{self, Viewer};

#[derive(InputObject, Default)]
pub struct PortalApiFilter {
    /// Words in the name or description (case-insensitive).
    pub text: Option<String>,
}

/// The APIs of `portal` the viewer sees, in creation order.
fn visible_apis(cat: &Catalog, portal: uuid::Uuid, v: &Viewer) -> Vec<(i64, uuid::Uuid)> {
    let mut out: Vec<(i64, uuid::Uuid)> = cat
        .publications_in(portal)
        .into_iter()
        .filter(|(_, p)| visibility::api_visible(cat, portal, p.api_id, v))
        .filter_map(|(_, p)| cat.entry(p.api_id).map(|e| (e.seq, e.id)))
        .collect();
    out.sort();
    out
}

/// Up to ~120 characters of `text` around where `needle` is.
fn excerpt(text: &str, needle: &str) -> String {
    let plain: String = text
        .chars()
        .filter(|c| !matches!(c, '#' | '*' | '_' | '`' | '>' | '|'))
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let lower = plain.to_lowercase();
    let at = lower.find(needle).unwrap_or(0);
    let chars: Vec<char> = plain.chars().collect();
    let start_char = plain[..at.min(plain.len())]
        .chars()
        .count()
        .saturating_sub(40);
    chars
        .iter()
        .skip(start_char)
        .take(120)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Default)]
pub struct DeveloperQuery;

#[Object(name = "PortalContentQuery")]
impl DeveloperQuery {
    /// This portal: name, look and menus.
    async fn portal(&self, ctx: &Context<'_>) -> PortalInfo {
        PortalInfo {
            cat: state(ctx).catalog.view(),
            id: portal(ctx).id,
        }
    }

    /// The signed-in developer (null when anonymous).
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<DeveloperProfile>> {
        let Some(s) = session(ctx) else {
            return Ok(None);
        };
        let cat = state(ctx).catalog.view();
        let teams = viewer(ctx)
            .teams
            .iter()
            .filter_map(|t| {
                cat.team(*t).map(|d| DeveloperTeamInfo {
                    id: ID(t.to_string()),
                    name: d.name.clone(),
                    description: d.description.clone(),
                })
            })
            .collect();
        let d = &s.developer;
        Ok(Some(DeveloperProfile {
            id: ID(d.id.clone()),
            email: d.email.clone(),
            full_name: d.full_name.clone(),
            status: DeveloperStatus::parse(&d.status).into(),
            teams,
        }))
    }

    /// The APIs the viewer may see, in the order they were created.
    async fn apis(
        &self,
        ctx: &Context<'_>,
        filter: Option<PortalApiFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<PortalApiConnection> {
        let cat = state(ctx).catalog.view();
        let p = portal(ctx).id;
        let text = filter
            .and_then(|f| f.text)
            .map(|t| t.to_lowercase())
            .filter(|t| !t.trim().is_empty());
        let ids: Vec<(i64, uuid::Uuid)> = visible_apis(&cat, p, viewer(ctx))
            .into_iter()
            .filter(|(_, id)| {
                text.as_ref().is_none_or(|t| {
                    cat.api(*id).is_some_and(|a| {
                        a.name.to_lowercase().contains(t)
                            || a.description
                                .as_deref()
                                .is_some_and(|d| d.to_lowercase().contains(t))
                    })
                })
            })
            .collect();
        let pg = page(
            ids,
            |(seq, _)| *seq,
            &Paging::new(first, after, last, before),
        )
        .gql()?;
        crate::graphql::limits::charge(ctx, pg.items.len())?;
        Ok(pg
            .map(|(_, id)| PortalApi {
                cat: cat.clone(),
                portal: p,
                id,
            })
            .into())
    }

    /// An API by slug (null when there is none the viewer may see).
    async fn api(&self, ctx: &Context<'_>, slug: String) -> Option<PortalApi> {
        let cat = state(ctx).catalog.view();
        let p = portal(ctx).id;
        let (e, _) = cat.api_by_slug(&slug)?;
        let id = e.id;
        visibility::api_visible(&cat, p, id, viewer(ctx)).then_some(PortalApi {
            cat: cat.clone(),
            portal: p,
            id,
        })
    }

    /// The pages the viewer may see (`parentId` and `path` give the tree).
    async fn pages(&self, ctx: &Context<'_>) -> Vec<PortalPageView> {
        let cat = state(ctx).catalog.view();
        let v = viewer(ctx);
        cat.pages_of(portal(ctx).id)
            .into_iter()
            .filter(|(e, _)| visibility::page_visible(&cat, e.id, v))
            .map(|(e, _)| PortalPageView {
                cat: cat.clone(),
                id: e.id,
            })
            .collect()
    }

    /// A page by its full path (`/`, `/about/team`).
    async fn page(&self, ctx: &Context<'_>, path: String) -> Option<PortalPageView> {
        let cat = state(ctx).catalog.view();
        let v = viewer(ctx);
        let want = format!("/{}", path.trim().trim_matches('/'));
        cat.pages_of(portal(ctx).id)
            .into_iter()
            .find(|(e, _)| cat.page_path(e.id) == want && visibility::page_visible(&cat, e.id, v))
            .map(|(e, _)| PortalPageView {
                cat: cat.clone(),
                id: e.id,
            })
    }

    async fn snippets(&self, ctx: &Context<'_>) -> Vec<PortalSnippetView> {
        let cat = state(ctx).catalog.view();
        let v = viewer(ctx);
        cat.snippets_of(portal(ctx).id)
            .into_iter()
            .filter(|(e, _)| visibility::snippet_visible(&cat, e.id, v))
            .map(|(_, s)| PortalSnippetView {
                name: s.name.clone(),
                title: s.title.clone(),
                content: s.content.clone(),
            })
            .collect()
    }

    async fn snippet(&self, ctx: &Context<'_>, name: String) -> Option<PortalSnippetView> {
        let cat = state(ctx).catalog.view();
        let v = viewer(ctx);
        cat.snippets_of(portal(ctx).id)
            .into_iter()
            .find(|(e, s)| s.name == name && visibility::snippet_visible(&cat, e.id, v))
            .map(|(_, s)| PortalSnippetView {
                name: s.name.clone(),
                title: s.title.clone(),
                content: s.content.clone(),
            })
    }

    /// APIs, operations, documents and pages the viewer may see that mention
    /// `text`, best first.
    async fn search(
        &self,
        ctx: &Context<'_>,
        text: String,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<SearchResultConnection> {
        let needle = text.trim().to_lowercase();
        if needle.chars().count() < 2 || needle.chars().count() > 200 {
            return Err(gql(Error::invalid(
                Field::Arg("text".into()),
                "2 to 200 characters",
            )));
        }
        let cat = state(ctx).catalog.view();
        let p = portal(ctx).id;
        let v = viewer(ctx);
        let mut hits: Vec<(u8, SearchResult)> = Vec::new();
        let has = |s: &str| s.to_lowercase().contains(&needle);
        for (_, id) in visible_apis(&cat, p, v) {
            let Some(a) = cat.api(id) else { continue };
            let desc = a.description.clone().unwrap_or_default();
            if has(&a.name) || has(&desc) {
                hits.push((
                    if has(&a.name) { 3 } else { 1 },
                    SearchResult {
                        kind: SearchResultKind::Api,
                        title: a.name.clone(),
                        excerpt: excerpt(if has(&desc) { &desc } else { &a.name }, &needle),
                        api_slug: Some(a.slug.clone()),
                        path: None,
                        operation: None,
                    },
                ));
            }
            if let Some((_, ver)) = cat.current_version(id) {
                for op in &ver.spec.operations {
                    let summary = op.summary.clone().unwrap_or_default();
                    let opid = op.operation_id.clone().unwrap_or_default();
                    if has(&op.path) || has(&summary) || has(&opid) {
                        hits.push((
                            2,
                            SearchResult {
                                kind: SearchResultKind::Operation,
                                title: if summary.is_empty() {
                                    op.path.clone()
                                } else {
                                    summary.clone()
                                },
                                excerpt: format!("{} {}", op.method, op.path),
                                api_slug: Some(a.slug.clone()),
                                path: None,
                                operation: Some(format!("{} {}", op.method, op.path)),
                            },
                        ));
                    }
                }
            }
            for (e, d) in cat.documents_of(id) {
                if visibility::document_visible(&cat, p, e.id, v)
                    && (has(&d.title) || has(&d.content))
                {
                    hits.push((
                        if has(&d.title) { 3 } else { 1 },
                        SearchResult {
                            kind: SearchResultKind::Document,
                            title: d.title.clone(),
                            excerpt: excerpt(&d.content, &needle),
                            api_slug: Some(a.slug.clone()),
                            path: Some(d.slug.clone()),
                            operation: None,
                        },
                    ));
                }
            }
        }
        for (e, pg) in cat.pages_of(p) {
            if visibility::page_visible(&cat, e.id, v) && (has(&pg.title) || has(&pg.content)) {
                hits.push((
                    if has(&pg.title) { 3 } else { 1 },
                    SearchResult {
                        kind: SearchResultKind::Page,
                        title: pg.title.clone(),
                        excerpt: excerpt(&pg.content, &needle),
                        api_slug: None,
                        path: Some(cat.page_path(e.id)),
                        operation: None,
                    },
                ));
            }
        }
        // best first, stable
        hits.sort_by_key(|h| std::cmp::Reverse(h.0));
        let ranked: Vec<(i64, SearchResult)> = hits
            .into_iter()
            .enumerate()
            .map(|(i, (_, r))| (i as i64, r))
            .collect();
        let pg = page(ranked, |(i, _)| *i, &Paging::new(first, after, None, None)).gql()?;
        crate::graphql::limits::charge(ctx, pg.items.len())?;
        Ok(pg.map(|(_, r)| r).into())
    }
}
