//! The API catalog's operations: APIs (name + version unique, slug unique),
//! their versions (specs stored with their validation messages), documents
//! (a tree of markdown pages), implementations (gateway services) and
//! publications to portals. Each returns the change the catalog actor commits.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sha2::Digest;
use uuid::Uuid;

use super::change::{
    CatalogEvent, Change, attributes_ok, labels_ok, opt_text, slug_ok, slugify, text,
};
use super::model::{
    ApiData, ApiDocumentData, ApiImplementationData, ApiPublicationData, ApiVersionData, Data,
    Status, Visibility,
};
use super::spec;
use super::view::Catalog;
use crate::error::{Error, Field};

/// Page and document content, at most (characters), as Konnect.
pub const MAX_CONTENT: usize = 1_000_000;
/// Versions, documents and implementations one API has at most (so that the
/// lists under an API stay small enough to answer whole).
pub const MAX_VERSIONS: usize = 100;
pub const MAX_DOCUMENTS: usize = 500;
pub const MAX_IMPLEMENTATIONS: usize = 50;

fn at_most(field: &str, n: usize, max: usize, what: &str) -> Result<(), Error> {
    if n >= max {
        return Err(Error::invalid(
            Field::Input(field.into()),
            format!("an API has at most {max} {what}"),
        ));
    }
    Ok(())
}

/// An API's own fields; `None` leaves a field as it is (on create: default).
#[derive(Clone, Debug, Default)]
pub struct ApiFields {
    pub name: Option<String>,
    pub version: Option<Option<String>>,
    pub slug: Option<String>,
    pub description: Option<Option<String>>,
    pub labels: Option<Map<String, Value>>,
    pub attributes: Option<BTreeMap<String, Vec<String>>>,
}

fn conflict(field: &str, message: impl Into<String>) -> Error {
    Error::Conflict {
        field: Field::Input(field.into()),
        message: message.into(),
    }
}

fn not_found(what: &str, id: Uuid) -> Error {
    Error::NotFound(format!("{what} {id}"))
}

fn check_api(cat: &Catalog, id: Option<Uuid>, a: &ApiData) -> Result<(), Error> {
    text("name", &a.name, 1, 255)?;
    opt_text("version", &a.version, 255)?;
    if a.version.as_deref() == Some("") {
        return Err(Error::invalid(
            Field::Input("version".into()),
            "1 to 255 characters",
        ));
    }
    opt_text("description", &a.description, 10_000)?;
    slug_ok("slug", &a.slug)?;
    labels_ok(&a.labels)?;
    attributes_ok(&a.attributes)?;
    for (e, other) in cat.apis() {
        if Some(e.id) == id {
            continue;
        }
        if other.name == a.name && other.version == a.version {
            return Err(conflict(
                "name",
                format!(
                    "an API named {:?} with version {:?} exists",
                    a.name,
                    a.version.as_deref().unwrap_or("")
                ),
            ));
        }
        if other.slug == a.slug {
            return Err(conflict("slug", format!("the slug {:?} is taken", a.slug)));
        }
    }
    Ok(())
}

/// A spec read for a new version: its metadata and content hash.
fn version_data(
    api: Uuid,
    version: String,
    content: &str,
    field: &str,
) -> Result<ApiVersionData, Error> {
    let spec = spec::read(content, field)?;
    Ok(ApiVersionData {
        api_id: api,
        version,
        spec,
        content_sha256: graphql_schema::entity::consumer::hex(&sha2::Sha256::digest(
            content.as_bytes(),
        )),
    })
}

pub fn create_api(
    cat: &Catalog,
    f: ApiFields,
    spec_content: Option<String>,
) -> Result<Change, Error> {
    let name = f
        .name
        .ok_or_else(|| Error::invalid(Field::Input("name".into()), "required"))?;
    // the version may come from the spec
    let read = match &spec_content {
        Some(c) => Some(spec::read(c, "specContent")?),
        None => None,
    };
    let version = f
        .version
        .flatten()
        .or_else(|| read.as_ref().and_then(|s| s.info_version.clone()));
    let slug = f.slug.unwrap_or_else(|| {
        let v = version.clone().unwrap_or_default();
        slugify(&[&name, &v])
    });
    let a = ApiData {
        name,
        slug,
        version: version.clone(),
        description: f.description.flatten(),
        labels: f.labels.unwrap_or_default(),
        attributes: f.attributes.unwrap_or_default(),
    };
    check_api(cat, None, &a)?;
    let mut ch = Change::default();
    let id = ch.put(cat, None, Data::Api(a));
    if let Some(content) = spec_content {
        let v = version.ok_or_else(|| {
            Error::invalid(
                Field::Input("version".into()),
                "version must be given when the spec's info.version is missing",
            )
        })?;
        let vd = version_data(id, v, &content, "specContent")?;
        let vid = ch.put(cat, Some(Uuid::new_v4()), Data::ApiVersion(vd));
        ch.contents.push((vid, Some(content)));
    }
    ch.subject = Some(id);
    ch.event(CatalogEvent::ApiChanged { api: id });
    Ok(ch)
}

pub fn update_api(cat: &Catalog, id: Uuid, f: ApiFields) -> Result<Change, Error> {
    let mut a = cat.api(id).ok_or_else(|| not_found("API", id))?.clone();
    if let Some(n) = f.name {
        a.name = n;
    }
    if let Some(v) = f.version {
        a.version = v;
    }
    if let Some(s) = f.slug {
        a.slug = s;
    }
    if let Some(d) = f.description {
        a.description = d;
    }
    if let Some(l) = f.labels {
        // Konnect: a null label value removes the label
        for (k, v) in l {
            if v.is_null() {
                a.labels.remove(&k);
            } else {
                a.labels.insert(k, v);
            }
        }
    }
    if let Some(at) = f.attributes {
        a.attributes = at;
    }
    check_api(cat, Some(id), &a)?;
    let mut ch = Change::default();
    ch.put(cat, Some(id), Data::Api(a));
    ch.event(CatalogEvent::ApiChanged { api: id });
    Ok(ch)
}

pub fn delete_api(cat: &Catalog, id: Uuid) -> Result<Change, Error> {
    cat.api(id).ok_or_else(|| not_found("API", id))?;
    let mut ch = Change::default();
    for (_, p) in cat.publications_of_api(id) {
        ch.event(CatalogEvent::ApiUnpublished {
            api: id,
            portal: p.portal_id,
        });
    }
    ch.delete(cat, id);
    Ok(ch)
}

pub fn create_version(
    cat: &Catalog,
    api: Uuid,
    version: Option<String>,
    content: String,
) -> Result<Change, Error> {
    let a = cat.api(api).ok_or_else(|| not_found("API", api))?;
    let read = spec::read(&content, "spec.content")?;
    let version = version.or(read.info_version.clone()).ok_or_else(|| {
        Error::invalid(
            Field::Input("version".into()),
            "version must be given when the spec's info.version is missing",
        )
    })?;
    text("version", &version, 1, 255)?;
    if cat
        .versions_of(api)
        .iter()
        .any(|(_, v)| v.version == version)
    {
        return Err(conflict(
            "version",
            format!("version {version:?} of {:?} exists", a.name),
        ));
    }
    let vd = version_data(api, version, &content, "spec.content")?;
    let mut ch = Change::default();
    let id = ch.put(cat, None, Data::ApiVersion(vd));
    ch.contents.push((id, Some(content)));
    ch.event(CatalogEvent::ApiChanged { api });
    Ok(ch)
}

/// Replaces a version's spec.
pub fn update_version(cat: &Catalog, id: Uuid, content: String) -> Result<Change, Error> {
    let v = cat
        .api_version(id)
        .ok_or_else(|| not_found("API version", id))?
        .clone();
    let vd = version_data(v.api_id, v.version, &content, "spec.content")?;
    let mut ch = Change::default();
    let api = vd.api_id;
    ch.put(cat, Some(id), Data::ApiVersion(vd));
    ch.contents.push((id, Some(content)));
    ch.event(CatalogEvent::ApiChanged { api });
    Ok(ch)
}

pub fn delete_version(cat: &Catalog, id: Uuid) -> Result<Change, Error> {
    let v = cat
        .api_version(id)
        .ok_or_else(|| not_found("API version", id))?;
    let mut ch = Change::default();
    ch.event(CatalogEvent::ApiChanged { api: v.api_id });
    ch.delete(cat, id);
    ch.contents.push((id, None));
    Ok(ch)
}

/// A document's fields; `None` leaves a field (on create: default).
#[derive(Clone, Debug, Default)]
pub struct DocumentFields {
    pub title: Option<String>,
    pub slug: Option<String>,
    pub content: Option<String>,
    pub status: Option<Status>,
    pub parent_id: Option<Option<Uuid>>,
}

fn check_document(cat: &Catalog, id: Option<Uuid>, d: &ApiDocumentData) -> Result<(), Error> {
    text("title", &d.title, 1, 512)?;
    slug_ok("slug", &d.slug)?;
    if d.content.chars().count() > MAX_CONTENT {
        return Err(Error::invalid(
            Field::Input("content".into()),
            format!("at most {MAX_CONTENT} characters"),
        ));
    }
    if let Some(p) = d.parent_id {
        match cat.document(p) {
            Some(pd) if pd.api_id == d.api_id => {}
            _ => {
                return Err(Error::invalid(
                    Field::Input("parentDocumentId".into()),
                    "not a document of this API",
                ));
            }
        }
        // no cycles: the parent's ancestors must not include this document
        let mut at = Some(p);
        let mut n = 0;
        while let Some(cur) = at {
            if Some(cur) == id || n > 64 {
                return Err(Error::invalid(
                    Field::Input("parentDocumentId".into()),
                    "a document cannot be its own ancestor",
                ));
            }
            n += 1;
            at = cat.document(cur).and_then(|x| x.parent_id);
        }
    }
    for (e, o) in cat.documents_of(d.api_id) {
        if Some(e.id) != id && o.parent_id == d.parent_id && o.slug == d.slug {
            return Err(conflict(
                "slug",
                format!("a document with the slug {:?} exists here", d.slug),
            ));
        }
    }
    Ok(())
}

pub fn create_document(cat: &Catalog, api: Uuid, f: DocumentFields) -> Result<Change, Error> {
    cat.api(api).ok_or_else(|| not_found("API", api))?;
    at_most(
        "apiId",
        cat.documents_of(api).len(),
        MAX_DOCUMENTS,
        "documents",
    )?;
    let title = f
        .title
        .ok_or_else(|| Error::invalid(Field::Input("title".into()), "required"))?;
    let d = ApiDocumentData {
        api_id: api,
        slug: f.slug.unwrap_or_else(|| slugify(&[&title])),
        title,
        content: f.content.unwrap_or_default(),
        status: f.status.unwrap_or_default(),
        parent_id: f.parent_id.flatten(),
    };
    check_document(cat, None, &d)?;
    let mut ch = Change::default();
    ch.put(cat, None, Data::ApiDocument(d));
    ch.event(CatalogEvent::ApiChanged { api });
    Ok(ch)
}

pub fn update_document(cat: &Catalog, id: Uuid, f: DocumentFields) -> Result<Change, Error> {
    let mut d = cat
        .document(id)
        .ok_or_else(|| not_found("API document", id))?
        .clone();
    if let Some(t) = f.title {
        d.title = t;
    }
    if let Some(s) = f.slug {
        d.slug = s;
    }
    if let Some(c) = f.content {
        d.content = c;
    }
    if let Some(s) = f.status {
        d.status = s;
    }
    if let Some(p) = f.parent_id {
        d.parent_id = p;
    }
    check_document(cat, Some(id), &d)?;
    let api = d.api_id;
    let mut ch = Change::default();
    ch.put(cat, Some(id), Data::ApiDocument(d));
    ch.event(CatalogEvent::ApiChanged { api });
    Ok(ch)
}

pub fn delete_document(cat: &Catalog, id: Uuid) -> Result<Change, Error> {
    let d = cat
        .document(id)
        .ok_or_else(|| not_found("API document", id))?;
    let mut ch = Change::default();
    ch.event(CatalogEvent::ApiChanged { api: d.api_id });
    ch.delete(cat, id);
    Ok(ch)
}

/// Links an API to a gateway service (which the caller has checked exists).
pub fn link_implementation(
    cat: &Catalog,
    api: Uuid,
    control_plane_id: Uuid,
    service_id: Uuid,
) -> Result<Change, Error> {
    cat.api(api).ok_or_else(|| not_found("API", api))?;
    at_most(
        "apiId",
        cat.implementations_of(api).len(),
        MAX_IMPLEMENTATIONS,
        "implementations",
    )?;
    for (_, i) in cat.implementations() {
        if i.service_id == service_id && i.control_plane_id == control_plane_id {
            return Err(conflict(
                "service.id",
                if i.api_id == api {
                    "this service is linked to this API already"
                } else {
                    "this gateway service is already linked to another API"
                },
            ));
        }
    }
    let mut ch = Change::default();
    ch.put(
        cat,
        None,
        Data::ApiImplementation(ApiImplementationData {
            api_id: api,
            control_plane_id,
            service_id,
        }),
    );
    ch.event(CatalogEvent::ApiChanged { api });
    Ok(ch)
}

pub fn unlink_implementation(cat: &Catalog, id: Uuid) -> Result<Change, Error> {
    let i = cat
        .implementation(id)
        .ok_or_else(|| not_found("API implementation", id))?;
    let mut ch = Change::default();
    ch.event(CatalogEvent::ApiChanged { api: i.api_id });
    ch.delete(cat, id);
    Ok(ch)
}

/// Publishes an API to a portal, or changes how (an upsert, as Konnect's PUT).
pub fn publish(
    cat: &Catalog,
    api: Uuid,
    portal: Uuid,
    visibility: Option<Visibility>,
    auto_approve_registrations: Option<bool>,
) -> Result<Change, Error> {
    cat.api(api).ok_or_else(|| not_found("API", api))?;
    let p = cat
        .portal(portal)
        .ok_or_else(|| not_found("portal", portal))?;
    let existing = cat.publication(api, portal);
    let data = ApiPublicationData {
        api_id: api,
        portal_id: portal,
        visibility: visibility
            .or(existing.map(|(_, e)| e.visibility))
            .unwrap_or(p.default_api_visibility),
        auto_approve_registrations: auto_approve_registrations
            .or(existing.map(|(_, e)| e.auto_approve_registrations))
            .unwrap_or(p.auto_approve_registrations),
    };
    let mut ch = Change::default();
    ch.put(cat, existing.map(|(e, _)| e.id), Data::ApiPublication(data));
    // a visibility change is an unpublish for some viewers and a publish for others
    ch.event(CatalogEvent::ApiUnpublished { api, portal });
    ch.event(CatalogEvent::ApiPublished { api, portal });
    Ok(ch)
}

pub fn unpublish(cat: &Catalog, api: Uuid, portal: Uuid) -> Result<Change, Error> {
    let (e, _) = cat
        .publication(api, portal)
        .ok_or_else(|| Error::NotFound(format!("a publication of API {api} in portal {portal}")))?;
    let mut ch = Change::default();
    ch.event(CatalogEvent::ApiUnpublished { api, portal });
    ch.delete(cat, e.id);
    Ok(ch)
}

/// A version's spec text.
pub async fn spec_content(
    db: &sea_orm::DatabaseConnection,
    version: Uuid,
) -> Result<Option<String>, Error> {
    Ok(crate::store::catalog::spec_content(db, &version.to_string()).await?)
}
