//! Portals and what they hold: their settings and look (customization, logo,
//! favicon), pages (a slug tree, Kong's reserved paths refused), snippets, and
//! developer teams with their roles on APIs. Each operation returns the change
//! the catalog actor commits.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::catalog::change::{CatalogEvent, Change, labels_ok, opt_text, text};
use crate::catalog::model::{
    Customization, Data, DeveloperRole, DeveloperTeamData, DeveloperTeamRoleData, PortalData,
    PortalPageData, PortalSnippetData, Status, Visibility,
};
use crate::catalog::view::Catalog;
use crate::error::{Error, Field};

/// Page and snippet content, at most (characters), as Konnect.
pub const MAX_CONTENT: usize = 1_000_000;
/// A logo or favicon, at most (bytes, decoded).
pub const MAX_IMAGE_BYTES: usize = 1024 * 1024;
/// Custom CSS and robots.txt, at most (characters).
pub const MAX_CSS: usize = 100_000;

fn conflict(field: &str, message: impl Into<String>) -> Error {
    Error::Conflict {
        field: Field::Input(field.into()),
        message: message.into(),
    }
}

fn not_found(what: &str, id: Uuid) -> Error {
    Error::NotFound(format!("{what} {id}"))
}

/// A portal's fields; `None` leaves a field (on create: default).
#[derive(Clone, Debug, Default)]
pub struct PortalFields {
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<Option<String>>,
    pub authentication_enabled: Option<bool>,
    pub rbac_enabled: Option<bool>,
    pub auto_approve_developers: Option<bool>,
    pub auto_approve_registrations: Option<bool>,
    pub default_api_visibility: Option<Visibility>,
    pub default_page_visibility: Option<Visibility>,
    pub custom_domain: Option<Option<String>>,
    pub labels: Option<Map<String, Value>>,
    /// Merged into the current customization (JSON merge patch, Kong's names).
    pub customization: Option<Value>,
}

/// A portal name: it appears in URLs (`/portals/{name}/`).
fn name_ok(name: &str) -> Result<(), Error> {
    text("name", name, 1, 255)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::invalid(
            Field::Input("name".into()),
            "letters, digits, - and _ (the name is part of the portal's URL)",
        ));
    }
    Ok(())
}

fn hostname_ok(h: &str) -> Result<(), Error> {
    let ok = h.len() <= 253
        && h.split('.').count() >= 2
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            Field::Input("customDomain".into()),
            "a host name (portal.example.com)",
        ))
    }
}

fn merge(into: &mut Value, patch: &Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    a.remove(k);
                } else {
                    merge(a.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// The customization with `patch` merged in, checked field by field.
pub fn customize(current: &Customization, patch: &Value) -> Result<Customization, Error> {
    let mut v = serde_json::to_value(current).map_err(Error::internal)?;
    merge(&mut v, patch);
    let c: Customization = serde_path_to_error::deserialize(v).map_err(|e| {
        Error::invalid(
            Field::Input(format!("customization.{}", e.path())),
            e.inner().to_string(),
        )
    })?;
    let hex = |s: &str| {
        s.strip_prefix('#').is_some_and(|h| {
            (h.len() == 3 || h.len() == 6) && h.chars().all(|c| c.is_ascii_hexdigit())
        })
    };
    if !hex(&c.theme.colors.primary) {
        return Err(Error::invalid(
            Field::Input("customization.theme.colors.primary".into()),
            "must be a valid hex color value",
        ));
    }
    text("customization.theme.name", &c.theme.name, 0, 255)?;
    text("customization.layout", &c.layout, 0, 255)?;
    opt_text("customization.css", &c.css, MAX_CSS)?;
    opt_text("customization.robots", &c.robots, MAX_CSS)?;
    let items = c
        .menu
        .main
        .iter()
        .map(|i| ("main", i))
        .chain(c.menu.footer_bottom.iter().map(|i| ("footer_bottom", i)))
        .chain(
            c.menu
                .footer_sections
                .iter()
                .flat_map(|s| s.items.iter().map(|i| ("footer_sections", i))),
        );
    for (i, (menu, item)) in items.enumerate() {
        let at = format!("customization.menu.{menu}");
        text(&format!("{at}.title"), &item.title, 1, 512)?;
        text(&format!("{at}.path"), &item.path, 1, 512)?;
        let scheme_ok = item.path.starts_with("https://") || item.path.starts_with("http://");
        if !(item.path.starts_with('/') || (item.external && scheme_ok)) {
            return Err(Error::invalid(
                Field::Input(format!("{at}[{i}].path")),
                "a path with a leading slash, or an http(s) URL for an external item",
            ));
        }
    }
    for s in &c.menu.footer_sections {
        text("customization.menu.footer_sections.title", &s.title, 1, 512)?;
    }
    Ok(c)
}

fn check_portal(cat: &Catalog, id: Option<Uuid>, p: &PortalData) -> Result<(), Error> {
    name_ok(&p.name)?;
    text("displayName", &p.display_name, 1, 255)?;
    opt_text("description", &p.description, 512)?;
    if let Some(h) = &p.custom_domain {
        hostname_ok(h)?;
    }
    labels_ok(&p.labels)?;
    if p.rbac_enabled && !p.authentication_enabled {
        return Err(Error::invalid(
            Field::Input("rbacEnabled".into()),
            "role-based access needs authenticationEnabled",
        ));
    }
    for (e, o) in cat.portals() {
        if Some(e.id) == id {
            continue;
        }
        if o.name == p.name {
            return Err(conflict(
                "name",
                format!("a portal named {:?} exists", p.name),
            ));
        }
        if p.custom_domain.is_some() && o.custom_domain == p.custom_domain {
            return Err(conflict("customDomain", "another portal has this domain"));
        }
    }
    Ok(())
}

fn apply_fields(p: &mut PortalData, f: PortalFields) -> Result<(), Error> {
    if let Some(v) = f.name {
        p.name = v;
    }
    if let Some(v) = f.display_name {
        p.display_name = v;
    }
    if let Some(v) = f.description {
        p.description = v;
    }
    if let Some(v) = f.authentication_enabled {
        p.authentication_enabled = v;
    }
    if let Some(v) = f.rbac_enabled {
        p.rbac_enabled = v;
    }
    if let Some(v) = f.auto_approve_developers {
        p.auto_approve_developers = v;
    }
    if let Some(v) = f.auto_approve_registrations {
        p.auto_approve_registrations = v;
    }
    if let Some(v) = f.default_api_visibility {
        p.default_api_visibility = v;
    }
    if let Some(v) = f.default_page_visibility {
        p.default_page_visibility = v;
    }
    if let Some(v) = f.custom_domain {
        p.custom_domain = v.map(|h| h.to_ascii_lowercase());
    }
    if let Some(l) = f.labels {
        for (k, v) in l {
            if v.is_null() {
                p.labels.remove(&k);
            } else {
                p.labels.insert(k, v);
            }
        }
    }
    if let Some(c) = f.customization {
        p.customization = customize(&p.customization, &c)?;
    }
    Ok(())
}

pub fn create_portal(cat: &Catalog, f: PortalFields) -> Result<Change, Error> {
    let name = f
        .name
        .clone()
        .ok_or_else(|| Error::invalid(Field::Input("name".into()), "required"))?;
    let mut p = PortalData {
        display_name: name.clone(),
        name,
        description: None,
        authentication_enabled: true,
        rbac_enabled: false,
        auto_approve_developers: false,
        auto_approve_registrations: false,
        default_api_visibility: Visibility::Private,
        default_page_visibility: Visibility::Private,
        custom_domain: None,
        labels: Map::new(),
        customization: Customization::default(),
        logo: None,
        favicon: None,
    };
    apply_fields(&mut p, f)?;
    check_portal(cat, None, &p)?;
    let mut ch = Change::default();
    let id = ch.put(cat, None, Data::Portal(p));
    ch.event(CatalogEvent::PortalChanged { portal: id });
    Ok(ch)
}

pub fn update_portal(cat: &Catalog, id: Uuid, f: PortalFields) -> Result<Change, Error> {
    let mut p = cat
        .portal(id)
        .ok_or_else(|| not_found("portal", id))?
        .clone();
    apply_fields(&mut p, f)?;
    check_portal(cat, Some(id), &p)?;
    let mut ch = Change::default();
    ch.put(cat, Some(id), Data::Portal(p));
    ch.event(CatalogEvent::PortalChanged { portal: id });
    Ok(ch)
}

/// Deletes a portal with its pages, snippets and teams; with APIs published to
/// it only when `force` (the publications go too), as Konnect.
pub fn delete_portal(cat: &Catalog, id: Uuid, force: bool) -> Result<Change, Error> {
    cat.portal(id).ok_or_else(|| not_found("portal", id))?;
    let published = cat.publications_in(id);
    if !published.is_empty() && !force {
        return Err(Error::invalid(
            Field::Input("force".into()),
            format!(
                "{} APIs are published to this portal; unpublish them or delete with force",
                published.len()
            ),
        ));
    }
    let mut ch = Change::default();
    for (_, p) in published {
        ch.event(CatalogEvent::ApiUnpublished {
            api: p.api_id,
            portal: id,
        });
    }
    ch.event(CatalogEvent::PortalChanged { portal: id });
    ch.delete(cat, id);
    Ok(ch)
}

/// Which image of a portal.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Asset {
    Logo,
    Favicon,
}

/// Checks a data URL (`data:image/png;base64,...`) of an accepted type and size.
pub fn image_ok(field: &str, data_url: &str) -> Result<(), Error> {
    use base64::Engine;
    let bad = |m: &str| Error::invalid(Field::Input(field.into()), m.to_string());
    let rest = data_url
        .strip_prefix("data:")
        .ok_or_else(|| bad("a data URL: data:image/png;base64,..."))?;
    let (mime, b64) = rest
        .split_once(";base64,")
        .ok_or_else(|| bad("a base64 data URL: data:image/png;base64,..."))?;
    const TYPES: [&str; 8] = [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/x-icon",
        "image/ico",
        "image/icon",
        "image/vnd.microsoft.icon",
        "image/svg+xml",
    ];
    if !TYPES.contains(&mime) {
        return Err(bad("png, jpeg, gif, ico or svg"));
    }
    if b64.len() > MAX_IMAGE_BYTES * 4 / 3 + 4 {
        return Err(bad(&format!("at most {MAX_IMAGE_BYTES} bytes")));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad("the base64 does not decode"))?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(bad(&format!("at most {MAX_IMAGE_BYTES} bytes")));
    }
    let magic_ok = match mime {
        "image/png" => bytes.starts_with(b"\x89PNG"),
        "image/jpeg" => bytes.starts_with(&[0xff, 0xd8]),
        "image/gif" => bytes.starts_with(b"GIF8"),
        "image/svg+xml" => {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_lowercase();
            head.contains("<svg") || head.contains("<?xml")
        }
        _ => bytes.starts_with(&[0, 0, 1, 0]),
    };
    if !magic_ok {
        return Err(bad(&format!("the data is not a {mime}")));
    }
    Ok(())
}

pub fn set_asset(
    cat: &Catalog,
    portal: Uuid,
    which: Asset,
    data_url: Option<String>,
) -> Result<Change, Error> {
    let mut p = cat
        .portal(portal)
        .ok_or_else(|| not_found("portal", portal))?
        .clone();
    if let Some(d) = &data_url {
        image_ok("data", d)?;
    }
    match which {
        Asset::Logo => p.logo = data_url,
        Asset::Favicon => p.favicon = data_url,
    }
    let mut ch = Change::default();
    ch.put(cat, Some(portal), Data::Portal(p));
    ch.event(CatalogEvent::PortalChanged { portal });
    Ok(ch)
}

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

fn check_team(cat: &Catalog, id: Option<Uuid>, t: &DeveloperTeamData) -> Result<(), Error> {
    text("name", &t.name, 1, 250)?;
    opt_text("description", &t.description, 250)?;
    for (e, o) in cat.teams_of(t.portal_id) {
        if Some(e.id) != id && o.name == t.name {
            return Err(conflict(
                "name",
                format!("a team named {:?} exists", t.name),
            ));
        }
    }
    Ok(())
}

pub fn create_team(
    cat: &Catalog,
    portal: Uuid,
    name: String,
    description: Option<String>,
) -> Result<Change, Error> {
    cat.portal(portal)
        .ok_or_else(|| not_found("portal", portal))?;
    let t = DeveloperTeamData {
        portal_id: portal,
        name,
        description,
    };
    check_team(cat, None, &t)?;
    let mut ch = Change::default();
    ch.put(cat, None, Data::DeveloperTeam(t));
    ch.event(CatalogEvent::PortalChanged { portal });
    Ok(ch)
}

pub fn update_team(
    cat: &Catalog,
    id: Uuid,
    name: Option<String>,
    description: Option<Option<String>>,
) -> Result<Change, Error> {
    let mut t = cat.team(id).ok_or_else(|| not_found("team", id))?.clone();
    if let Some(n) = name {
        t.name = n;
    }
    if let Some(d) = description {
        t.description = d;
    }
    check_team(cat, Some(id), &t)?;
    let portal = t.portal_id;
    let mut ch = Change::default();
    ch.put(cat, Some(id), Data::DeveloperTeam(t));
    ch.event(CatalogEvent::PortalChanged { portal });
    Ok(ch)
}

pub fn delete_team(cat: &Catalog, id: Uuid) -> Result<Change, Error> {
    let t = cat.team(id).ok_or_else(|| not_found("team", id))?;
    let mut ch = Change::default();
    ch.event(CatalogEvent::PortalChanged {
        portal: t.portal_id,
    });
    ch.delete(cat, id);
    Ok(ch)
}

/// Gives a team a role on one API of its portal, or on all of them.
pub fn assign_role(
    cat: &Catalog,
    team: Uuid,
    api: Option<Uuid>,
    role: DeveloperRole,
) -> Result<Change, Error> {
    let t = cat.team(team).ok_or_else(|| not_found("team", team))?;
    if let Some(a) = api
        && cat.api(a).is_none()
    {
        return Err(Error::invalid(
            Field::Input("apiId".into()),
            format!("no API {a}"),
        ));
    }
    if cat
        .roles_of(team)
        .iter()
        .any(|(_, r)| r.api_id == api && r.role == role)
    {
        return Err(conflict("role", "the team has this role already"));
    }
    let portal = t.portal_id;
    let mut ch = Change::default();
    ch.put(
        cat,
        None,
        Data::DeveloperTeamRole(DeveloperTeamRoleData {
            portal_id: portal,
            team_id: team,
            api_id: api,
            role,
        }),
    );
    ch.event(CatalogEvent::PortalChanged { portal });
    if let Some(a) = api {
        ch.event(CatalogEvent::ApiPublished { api: a, portal });
    }
    Ok(ch)
}

pub fn remove_role(cat: &Catalog, id: Uuid) -> Result<Change, Error> {
    let r = cat
        .team_role(id)
        .ok_or_else(|| not_found("team role", id))?;
    let mut ch = Change::default();
    ch.event(CatalogEvent::PortalChanged {
        portal: r.portal_id,
    });
    if let Some(a) = r.api_id {
        ch.event(CatalogEvent::ApiUnpublished {
            api: a,
            portal: r.portal_id,
        });
    }
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

    #[test]
    fn images_are_checked_by_type_and_content() {
        assert!(image_ok("data", "data:image/png;base64,iVBORw0KGgo=").is_ok());
        assert!(image_ok("data", "data:image/png;base64,R0lGODlh").is_err());
        assert!(image_ok("data", "data:text/html;base64,PGgxPg==").is_err());
        assert!(image_ok("data", "https://example.com/logo.png").is_err());
    }

    #[test]
    fn customization_merges_and_names_the_bad_field() {
        let c = customize(
            &Customization::default(),
            &serde_json::json!({"theme": {"colors": {"primary": "#abc"}}, "spec_renderer": {"try_it_ui": false}}),
        )
        .expect("valid");
        assert_eq!(c.theme.colors.primary, "#abc");
        assert!(!c.spec_renderer.try_it_ui && c.spec_renderer.show_schemas);
        let e = customize(
            &Customization::default(),
            &serde_json::json!({"theme": {"colours": {}}}),
        )
        .expect_err("unknown field");
        assert!(format!("{e:?}").contains("customization.theme"), "{e:?}");
        assert!(
            customize(
                &Customization::default(),
                &serde_json::json!({"theme": {"colors": {"primary": "red"}}})
            )
            .is_err()
        );
    }
}
