//! Portals: their settings and look (customization, logo, favicon), created,
//! changed and deleted (pages: `pages.rs`; developer teams: `teams.rs`). Each
//! operation returns the change the catalog actor commits.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::catalog::change::{CatalogEvent, Change, labels_ok, opt_text, text};
use crate::catalog::model::{ApplicationLimitsPatch, Customization, Data, PortalData, Visibility};
use crate::catalog::view::Catalog;
use crate::error::{Error, Field};

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
    pub application_limits: Option<ApplicationLimitsPatch>,
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
    if !patch.is_null() {
        merge(&mut v, patch);
    }
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
    if let Some(l) = f.application_limits {
        p.application_limits.patch(l);
        let l = &p.application_limits;
        for (field, v, max) in [
            (
                "applicationLimits.maxApplicationsPerDeveloper",
                l.max_applications_per_developer,
                10_000,
            ),
            (
                "applicationLimits.maxCredentialsPerApplication",
                l.max_credentials_per_application,
                1_000,
            ),
            (
                "applicationLimits.maxCredentialDays",
                l.max_credential_days,
                36_500,
            ),
            (
                "applicationLimits.maxGraceSeconds",
                l.max_grace_seconds,
                90 * 86_400,
            ),
        ] {
            if v > max {
                return Err(Error::invalid(
                    Field::Input(field.into()),
                    format!("at most {max}"),
                ));
            }
        }
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
        application_limits: Default::default(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
