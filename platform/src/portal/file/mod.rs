//! Portals and the API catalog as code: the `portals:` and `apis:` sections of
//! a declarative file (Konnect's names in snake_case), made true in one change.
//! A section present is the whole truth for its kind (what it leaves out is
//! deleted); a section absent leaves its kind alone. Each entity goes through
//! the same operation (and checks) as the API's mutations, against the catalog
//! as the file's earlier entities leave it; errors name the file's path.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::catalog::model::{Status, Visibility};
use crate::catalog::{Catalog, Change};
use crate::error::{Error, Field, Invalid};

mod apis;
mod apply;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portals: Option<Vec<PortalDoc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apis: Option<Vec<ApiDoc>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortalDoc {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rbac_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve_developers: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve_registrations: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_api_visibility: Option<Visibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_page_visibility: Option<Visibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub labels: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customization: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<PageDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snippets: Vec<SnippetDoc>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PageDoc {
    pub slug: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Pages under this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<PageDoc>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SnippetDoc {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiDoc {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub labels: Map<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<VersionDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<DocumentDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub implementations: Vec<ImplementationDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publications: Vec<PublicationDoc>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VersionDoc {
    /// Defaults to the spec's `info.version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub spec: SpecDoc,
}

/// A spec inline (`content`); the CLI reads `file` (relative to the file) into
/// `content`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpecDoc {
    pub content: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentDoc {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<DocumentDoc>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImplementationDoc {
    /// The control plane's name (or id).
    pub control_plane: String,
    /// The service's name (or id).
    pub service: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PublicationDoc {
    /// The portal's name.
    pub portal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve_registrations: Option<bool>,
}

/// Reads the catalog sections of a file (JSON); unknown fields are named with
/// their path.
pub fn read(doc: &Value) -> Result<CatalogFile, Error> {
    let mut only = Map::new();
    for k in ["portals", "apis"] {
        if let Some(v) = doc.get(k) {
            only.insert(k.into(), v.clone());
        }
    }
    serde_path_to_error::deserialize(Value::Object(only))
        .map_err(|e| Error::invalid(Field::Document(e.path().to_string()), e.inner().to_string()))
}

/// One line of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanLine {
    pub action: &'static str,
    pub kind: &'static str,
    pub name: String,
}

/// What applying a file does: the change, its plan, and the portals it deletes
/// (whose developers go too).
#[derive(Default)]
pub struct Applied {
    pub change: Change,
    pub plan: Vec<PlanLine>,
    pub deleted_portals: Vec<Uuid>,
}

/// `(control plane, service)` names (or ids) to their ids.
pub type Services = HashMap<(String, String), (Uuid, Uuid)>;

/// Spec contents by version id, and services' names by their ids.
pub struct Names {
    pub contents: HashMap<Uuid, String>,
    pub services: HashMap<(Uuid, Uuid), (String, String)>,
}

/// The catalog as a file that applies back with an empty plan.
pub fn export(cat: &Catalog, names: &Names) -> CatalogFile {
    let portals = cat
        .portals()
        .into_iter()
        .map(|(e, p)| PortalDoc {
            name: p.name.clone(),
            display_name: Some(p.display_name.clone()),
            description: p.description.clone(),
            authentication_enabled: Some(p.authentication_enabled),
            rbac_enabled: Some(p.rbac_enabled),
            auto_approve_developers: Some(p.auto_approve_developers),
            auto_approve_registrations: Some(p.auto_approve_registrations),
            default_api_visibility: Some(p.default_api_visibility),
            default_page_visibility: Some(p.default_page_visibility),
            custom_domain: p.custom_domain.clone(),
            labels: p.labels.clone(),
            customization: serde_json::to_value(&p.customization).ok(),
            pages: export_pages(cat, e.id, None),
            snippets: cat
                .snippets_of(e.id)
                .into_iter()
                .map(|(_, s)| SnippetDoc {
                    name: s.name.clone(),
                    title: s.title.clone(),
                    content: s.content.clone(),
                    visibility: Some(s.visibility),
                    status: Some(s.status),
                    description: s.description.clone(),
                })
                .collect(),
        })
        .collect();
    let apis = cat
        .apis()
        .into_iter()
        .map(|(e, a)| ApiDoc {
            name: a.name.clone(),
            version: a.version.clone(),
            slug: Some(a.slug.clone()),
            description: a.description.clone(),
            labels: a.labels.clone(),
            attributes: a.attributes.clone(),
            versions: cat
                .versions_of(e.id)
                .into_iter()
                .map(|(ve, v)| VersionDoc {
                    version: Some(v.version.clone()),
                    spec: SpecDoc {
                        content: names.contents.get(&ve.id).cloned().unwrap_or_default(),
                    },
                })
                .collect(),
            documents: export_documents(cat, e.id, None),
            implementations: cat
                .implementations_of(e.id)
                .into_iter()
                .map(|(_, i)| {
                    let (cp, svc) = names
                        .services
                        .get(&(i.control_plane_id, i.service_id))
                        .cloned()
                        .unwrap_or_else(|| {
                            (i.control_plane_id.to_string(), i.service_id.to_string())
                        });
                    ImplementationDoc {
                        control_plane: cp,
                        service: svc,
                    }
                })
                .collect(),
            publications: cat
                .publications_of_api(e.id)
                .into_iter()
                .map(|(_, p)| PublicationDoc {
                    portal: cat
                        .portal(p.portal_id)
                        .map(|x| x.name.clone())
                        .unwrap_or_default(),
                    visibility: Some(p.visibility),
                    auto_approve_registrations: Some(p.auto_approve_registrations),
                })
                .collect(),
        })
        .collect();
    CatalogFile {
        portals: Some(portals),
        apis: Some(apis),
    }
}

fn export_pages(cat: &Catalog, portal: Uuid, parent: Option<Uuid>) -> Vec<PageDoc> {
    cat.pages_of(portal)
        .into_iter()
        .filter(|(_, p)| p.parent_id == parent)
        .map(|(e, p)| PageDoc {
            slug: p.slug.clone(),
            title: Some(p.title.clone()),
            content: p.content.clone(),
            visibility: Some(p.visibility),
            status: Some(p.status),
            description: p.description.clone(),
            pages: export_pages(cat, portal, Some(e.id)),
        })
        .collect()
}

fn export_documents(cat: &Catalog, api: Uuid, parent: Option<Uuid>) -> Vec<DocumentDoc> {
    cat.documents_of(api)
        .into_iter()
        .filter(|(_, d)| d.parent_id == parent)
        .map(|(e, d)| DocumentDoc {
            title: d.title.clone(),
            slug: Some(d.slug.clone()),
            content: d.content.clone(),
            status: Some(d.status),
            documents: export_documents(cat, api, Some(e.id)),
        })
        .collect()
}

/// `strip_path` from `stripPath`.
fn snake(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An operation's error at `at` in the file.
pub(super) fn at(e: Error, at: &str) -> Error {
    let place = |f: Field| match f {
        Field::Input(p) if !p.is_empty() => Field::Document(format!("{at}.{}", snake(&p))),
        _ => Field::Document(at.to_string()),
    };
    match e {
        Error::Invalid(list) => Error::Invalid(
            list.into_iter()
                .map(|i| Invalid {
                    field: place(i.field),
                    ..i
                })
                .collect(),
        ),
        Error::Conflict { field, message } => Error::Conflict {
            field: place(field),
            message,
        },
        Error::NotFound(what) => {
            Error::invalid(Field::Document(at.into()), format!("{what} not found"))
        }
        other => other,
    }
}

/// The file's changes, one operation at a time, each against the catalog as
/// the earlier ones left it.
pub(super) struct Work {
    pub(super) cat: Catalog,
    pub(super) out: Applied,
}

impl Work {
    pub(super) fn step(
        &mut self,
        path: &str,
        r: Result<Change, Error>,
        line: Option<(&'static str, &'static str, String)>,
    ) -> Result<Option<Uuid>, Error> {
        let ch = r.map_err(|e| at(e, path))?;
        if ch.is_empty() {
            return Ok(ch.subject);
        }
        let subject = ch.subject;
        self.cat = ch.applied(&self.cat, self.cat.version);
        absorb(&mut self.out.change, ch);
        if let Some((action, kind, name)) = line {
            self.out.plan.push(PlanLine { action, kind, name });
        }
        Ok(subject)
    }
}

fn absorb(total: &mut Change, ch: Change) {
    for d in &ch.deletes {
        total.upserts.retain(|e| e.id != *d);
        if !total.deletes.contains(d) {
            total.deletes.push(*d);
        }
    }
    for e in ch.upserts {
        total.upserts.retain(|x| x.id != e.id);
        total.deletes.retain(|d| *d != e.id);
        total.upserts.push(e);
    }
    for (id, c) in ch.contents {
        total.contents.retain(|(x, _)| *x != id);
        total.contents.push((id, c));
    }
    for ev in ch.events {
        total.event(ev);
    }
}

/// Makes the catalog what the file says (for the sections it has).
pub fn apply(cat: &Catalog, file: &CatalogFile, services: &Services) -> Result<Applied, Error> {
    let mut w = Work {
        cat: cat.clone(),
        out: Applied::default(),
    };
    if let Some(portals) = &file.portals {
        apply::apply_portals(&mut w, portals)?;
    }
    if let Some(list) = &file.apis {
        apis::apply_apis(&mut w, list, services)?;
    }
    Ok(w.out)
}
