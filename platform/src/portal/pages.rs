//! A portal's pages (a tree of slugs under `/`, Kong's reserved paths refused,
//! front matter's title and description taking precedence as in Konnect) and
//! snippets (named pieces of content pages embed).

use serde_json::Value;
use uuid::Uuid;

use crate::catalog::change::{CatalogEvent, Change, opt_text, text};
use crate::catalog::view::Catalog;
use crate::error::{Error, Field};

fn conflict(field: &str, message: impl Into<String>) -> Error {
    Error::Conflict {
        field: Field::Input(field.into()),
        message: message.into(),
    }
}

fn not_found(what: &str, id: Uuid) -> Error {
    Error::NotFound(format!("{what} {id}"))
}
use crate::catalog::model::{Data, PortalPageData, PortalSnippetData, Status, Visibility};

/// Page and snippet content, at most (characters), as Konnect.
pub const MAX_CONTENT: usize = 1_000_000;
/// Pages and snippets a portal has at most.
pub const MAX_PAGES: usize = 1000;
pub const MAX_SNIPPETS: usize = 500;

/// Kong's reserved portal paths (the portal's own pages and routes).
const RESERVED: [&str; 14] = [
    "/login",
    "/register",
    "/forgot-password",
    "/reset-password",
    "/logout",
    "/apps",
    "/account",
    "/api",
    "/_core",
    "/_api",
    "/npm",
    "/_preview-mode",
    "/.well-known",
    "/apis",
];

/// Whether `path` is one of the portal's own (`/login`, `/apps/...`, ...).
pub fn reserved(path: &str) -> bool {
    RESERVED
        .iter()
        .any(|r| path == *r || path.starts_with(&format!("{r}/")))
}

/// Front matter's `title` and `description` (`---` YAML `---` at the start).
pub fn front_matter(content: &str) -> (Option<String>, Option<String>) {
    let Some(rest) = content
        .strip_prefix("---\n")
        .or_else(|| content.strip_prefix("---\r\n"))
    else {
        return (None, None);
    };
    let Some(end) = rest.find("\n---") else {
        return (None, None);
    };
    let Ok(Value::Object(m)) = serde_yaml_ng::from_str::<Value>(&rest[..end]) else {
        return (None, None);
    };
    let get = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    (get("title"), get("description"))
}

/// A page's fields; `None` leaves a field (on create: default).
#[derive(Clone, Debug, Default)]
pub struct PageFields {
    pub slug: Option<String>,
    pub title: Option<String>,
    pub content: Option<String>,
    pub visibility: Option<Visibility>,
    pub status: Option<Status>,
    pub description: Option<Option<String>>,
    pub parent_id: Option<Option<Uuid>>,
}

fn normal_slug(s: &str) -> String {
    let t = s.trim().trim_matches('/');
    format!("/{t}")
}

fn check_page(cat: &Catalog, id: Option<Uuid>, p: &PortalPageData) -> Result<(), Error> {
    text("slug", &p.slug, 1, 512)?;
    let seg = p.slug.trim_matches('/');
    if seg.contains('/')
        || !seg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(Error::invalid(
            Field::Input("slug".into()),
            "one path segment of letters, digits, -, _ and . (nest pages with parentPageId)",
        ));
    }
    text("title", &p.title, 1, 512)?;
    opt_text("description", &p.description, 160)?;
    if p.content.chars().count() > MAX_CONTENT {
        return Err(Error::invalid(
            Field::Input("content".into()),
            format!("at most {MAX_CONTENT} characters"),
        ));
    }
    if let Some(parent) = p.parent_id {
        match cat.page(parent) {
            Some(pp) if pp.portal_id == p.portal_id => {}
            _ => {
                return Err(Error::invalid(
                    Field::Input("parentPageId".into()),
                    "not a page of this portal",
                ));
            }
        }
        let mut at = Some(parent);
        let mut n = 0;
        while let Some(cur) = at {
            if Some(cur) == id || n > 64 {
                return Err(Error::invalid(
                    Field::Input("parentPageId".into()),
                    "a page cannot be its own ancestor",
                ));
            }
            n += 1;
            at = cat.page(cur).and_then(|x| x.parent_id);
        }
    }
    // the full path, as the page would have it
    let mut probe = cat.clone();
    let pid = id.unwrap_or_else(Uuid::new_v4);
    probe.entries.insert(
        pid,
        crate::catalog::model::Entry {
            id: pid,
            data: Data::PortalPage(p.clone()),
            seq: 0,
            created_at: 0,
            updated_at: 0,
        },
    );
    let path = probe.page_path(pid);
    if reserved(&path) {
        return Err(Error::invalid(
            Field::Input("slug".into()),
            format!("{path} is reserved for the portal's own pages"),
        ));
    }
    for (e, _) in cat.pages_of(p.portal_id) {
        if Some(e.id) != id && cat.page_path(e.id) == path {
            return Err(conflict("slug", format!("a page at {path} exists")));
        }
    }
    Ok(())
}

pub fn create_page(cat: &Catalog, portal: Uuid, f: PageFields) -> Result<Change, Error> {
    let pd = cat
        .portal(portal)
        .ok_or_else(|| not_found("portal", portal))?;
    let slug = f
        .slug
        .ok_or_else(|| Error::invalid(Field::Input("slug".into()), "required"))?;
    let content = f
        .content
        .ok_or_else(|| Error::invalid(Field::Input("content".into()), "required"))?;
    // front matter wins over the fields for pages (as Konnect)
    let (fm_title, fm_description) = front_matter(&content);
    let slug = normal_slug(&slug);
    let p = PortalPageData {
        portal_id: portal,
        title: fm_title
            .or(f.title)
            .unwrap_or_else(|| slug.trim_matches('/').to_string())
            .chars()
            .take(512)
            .collect::<String>()
            .trim()
            .to_string(),
        slug,
        content,
        visibility: f.visibility.unwrap_or(pd.default_page_visibility),
        status: f.status.unwrap_or_default(),
        description: fm_description.or(f.description.flatten()),
        parent_id: f.parent_id.flatten(),
    };
    let p = PortalPageData {
        title: if p.title.is_empty() {
            "Home".into()
        } else {
            p.title
        },
        ..p
    };
    check_page(cat, None, &p)?;
    let mut ch = Change::default();
    let id = ch.put(cat, None, Data::PortalPage(p));
    ch.event(CatalogEvent::PageChanged { portal, page: id });
    Ok(ch)
}

pub fn update_page(cat: &Catalog, id: Uuid, f: PageFields) -> Result<Change, Error> {
    let mut p = cat.page(id).ok_or_else(|| not_found("page", id))?.clone();
    if let Some(s) = f.slug {
        p.slug = normal_slug(&s);
    }
    if let Some(t) = f.title {
        p.title = t;
    }
    if let Some(c) = f.content {
        let (t, d) = front_matter(&c);
        if let Some(t) = t {
            p.title = t;
        }
        if let Some(d) = d {
            p.description = Some(d);
        }
        p.content = c;
    }
    if let Some(v) = f.visibility {
        p.visibility = v;
    }
    if let Some(s) = f.status {
        p.status = s;
    }
    if let Some(d) = f.description {
        p.description = d;
    }
    if let Some(pp) = f.parent_id {
        p.parent_id = pp;
    }
    check_page(cat, Some(id), &p)?;
    let portal = p.portal_id;
    let mut ch = Change::default();
    ch.put(cat, Some(id), Data::PortalPage(p));
    ch.event(CatalogEvent::PageChanged { portal, page: id });
    Ok(ch)
}

pub fn delete_page(cat: &Catalog, id: Uuid) -> Result<Change, Error> {
    let p = cat.page(id).ok_or_else(|| not_found("page", id))?;
    let mut ch = Change::default();
    ch.event(CatalogEvent::PageChanged {
        portal: p.portal_id,
        page: id,
    });
    ch.delete(cat, id);
    Ok(ch)
}

/// A snippet's fields; `None` leaves a field (on create: default).
#[derive(Clone, Debug, Default)]
pub struct SnippetFields {
    pub name: Option<String>,
    pub title: Option<Option<String>>,
    pub content: Option<String>,
    pub visibility: Option<Visibility>,
    pub status: Option<Status>,
    pub description: Option<Option<String>>,
}

fn check_snippet(cat: &Catalog, id: Option<Uuid>, s: &PortalSnippetData) -> Result<(), Error> {
    crate::catalog::change::slug_ok("name", &s.name)?;
    opt_text("title", &s.title, 512)?;
    opt_text("description", &s.description, 160)?;
    if s.content.is_empty() || s.content.chars().count() > MAX_CONTENT {
        return Err(Error::invalid(
            Field::Input("content".into()),
            format!("1 to {MAX_CONTENT} characters"),
        ));
    }
    for (e, o) in cat.snippets_of(s.portal_id) {
        if Some(e.id) != id && o.name == s.name {
            return Err(conflict(
                "name",
                format!("a snippet named {:?} exists", s.name),
            ));
        }
    }
    Ok(())
}

pub fn create_snippet(cat: &Catalog, portal: Uuid, f: SnippetFields) -> Result<Change, Error> {
    let pd = cat
        .portal(portal)
        .ok_or_else(|| not_found("portal", portal))?;
    let s = PortalSnippetData {
        portal_id: portal,
        name: f
            .name
            .ok_or_else(|| Error::invalid(Field::Input("name".into()), "required"))?,
        title: f.title.flatten(),
        content: f.content.unwrap_or_default(),
        visibility: f.visibility.unwrap_or(pd.default_page_visibility),
        status: f.status.unwrap_or_default(),
        description: f.description.flatten(),
    };
    check_snippet(cat, None, &s)?;
    let mut ch = Change::default();
    let id = ch.put(cat, None, Data::PortalSnippet(s));
    ch.event(CatalogEvent::PageChanged { portal, page: id });
    Ok(ch)
}

pub fn update_snippet(cat: &Catalog, id: Uuid, f: SnippetFields) -> Result<Change, Error> {
    let mut s = cat
        .snippet(id)
        .ok_or_else(|| not_found("snippet", id))?
        .clone();
    if let Some(v) = f.name {
        s.name = v;
    }
    if let Some(v) = f.title {
        s.title = v;
    }
    if let Some(v) = f.content {
        s.content = v;
    }
    if let Some(v) = f.visibility {
        s.visibility = v;
    }
    if let Some(v) = f.status {
        s.status = v;
    }
    if let Some(v) = f.description {
        s.description = v;
    }
    check_snippet(cat, Some(id), &s)?;
    let portal = s.portal_id;
    let mut ch = Change::default();
    ch.put(cat, Some(id), Data::PortalSnippet(s));
    ch.event(CatalogEvent::PageChanged { portal, page: id });
    Ok(ch)
}

pub fn delete_snippet(cat: &Catalog, id: Uuid) -> Result<Change, Error> {
    let s = cat.snippet(id).ok_or_else(|| not_found("snippet", id))?;
    let mut ch = Change::default();
    ch.event(CatalogEvent::PageChanged {
        portal: s.portal_id,
        page: id,
    });
    ch.delete(cat, id);
    Ok(ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_paths_and_front_matter() {
        assert!(reserved("/login"));
        assert!(reserved("/apps/new"));
        assert!(reserved("/api/v3/x"));
        assert!(!reserved("/apidocs"));
        assert!(!reserved("/about"));
        assert_eq!(
            front_matter("---\ntitle: Hello\ndescription: World\n---\n# Hi"),
            (Some("Hello".into()), Some("World".into()))
        );
        assert_eq!(front_matter("# no front matter"), (None, None));
    }
}
