//! Portals and the API catalog as code: the `portals:` and `apis:` sections of
//! a declarative file (Konnect's names in snake_case), made true in one change.
//! A section present is the whole truth for its kind (what it leaves out is
//! deleted); a section absent leaves its kind alone. Each entity goes through
//! the same operation (and checks) as the API's mutations, against the catalog
//! as the file's earlier entities leave it; errors name the file's path.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Digest;
use uuid::Uuid;

use super::content::{self, PortalFields};
use super::pages::{self, PageFields, SnippetFields};
use crate::catalog::apis::{self, ApiFields, DocumentFields};
use crate::catalog::model::{Customization, Status, Visibility};
use crate::catalog::{Catalog, Change};
use crate::error::{Error, Field, Invalid};

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
fn at(e: Error, at: &str) -> Error {
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
struct Work {
    cat: Catalog,
    out: Applied,
}

impl Work {
    fn step(
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

/// `(control plane, service)` names (or ids) to their ids.
pub type Services = HashMap<(String, String), (Uuid, Uuid)>;

/// Makes the catalog what the file says (for the sections it has).
pub fn apply(cat: &Catalog, file: &CatalogFile, services: &Services) -> Result<Applied, Error> {
    let mut w = Work {
        cat: cat.clone(),
        out: Applied::default(),
    };
    if let Some(portals) = &file.portals {
        apply_portals(&mut w, portals)?;
    }
    if let Some(list) = &file.apis {
        apply_apis(&mut w, list, services)?;
    }
    Ok(w.out)
}

fn apply_portals(w: &mut Work, portals: &[PortalDoc]) -> Result<(), Error> {
    let mut keep = Vec::new();
    for (i, pd) in portals.iter().enumerate() {
        let path = format!("portals[{i}]");
        let customization = content::customize(
            &Customization::default(),
            pd.customization.as_ref().unwrap_or(&Value::Null),
        )
        .map_err(|e| at(e, &path))?;
        let f = PortalFields {
            name: Some(pd.name.clone()),
            display_name: Some(pd.display_name.clone().unwrap_or_else(|| pd.name.clone())),
            description: Some(pd.description.clone()),
            authentication_enabled: Some(pd.authentication_enabled.unwrap_or(true)),
            rbac_enabled: Some(pd.rbac_enabled.unwrap_or(false)),
            auto_approve_developers: Some(pd.auto_approve_developers.unwrap_or(false)),
            auto_approve_registrations: Some(pd.auto_approve_registrations.unwrap_or(false)),
            default_api_visibility: Some(pd.default_api_visibility.unwrap_or_default()),
            default_page_visibility: Some(pd.default_page_visibility.unwrap_or_default()),
            custom_domain: Some(pd.custom_domain.clone()),
            labels: None,
            customization: Some(serde_json::to_value(&customization).map_err(Error::internal)?),
        };
        let existing = w
            .cat
            .portal_by_name(&pd.name)
            .map(|(e, d)| (e.id, d.clone()));
        let id = match existing {
            Some((id, before)) => {
                let mut ch = content::update_portal(&w.cat, id, f).map_err(|e| at(e, &path))?;
                // labels are the file's, whole
                if let Some(crate::catalog::model::Entry {
                    data: crate::catalog::model::Data::Portal(p),
                    ..
                }) = ch.upserts.first_mut()
                {
                    p.labels = pd.labels.clone();
                    if *p == before {
                        ch = Change::default();
                    }
                }
                w.step(&path, Ok(ch), Some(("update", "portal", pd.name.clone())))?;
                id
            }
            None => {
                let f = PortalFields {
                    labels: Some(pd.labels.clone()),
                    ..f
                };
                w.step(
                    &path,
                    content::create_portal(&w.cat, f),
                    Some(("create", "portal", pd.name.clone())),
                )?
                .ok_or_else(|| Error::internal("no portal id"))?
            }
        };
        keep.push(id);
        apply_pages(w, id, &pd.pages, None, &format!("{path}.pages"))?;
        let wanted: Vec<String> = collect_paths(&w.cat, id, &pd.pages, "");
        let stale: Vec<(Uuid, String)> = w
            .cat
            .pages_of(id)
            .into_iter()
            .map(|(e, _)| (e.id, w.cat.page_path(e.id)))
            .filter(|(_, p)| !wanted.contains(p))
            .collect();
        for (pid, p) in stale {
            if w.cat.page(pid).is_some() {
                w.step(
                    &path,
                    pages::delete_page(&w.cat, pid),
                    Some(("delete", "page", p)),
                )?;
            }
        }
        let mut names = Vec::new();
        for (j, s) in pd.snippets.iter().enumerate() {
            let spath = format!("{path}.snippets[{j}]");
            names.push(s.name.clone());
            let sf = SnippetFields {
                name: Some(s.name.clone()),
                title: Some(s.title.clone()),
                content: Some(s.content.clone()),
                visibility: s.visibility,
                status: Some(s.status.unwrap_or_default()),
                description: Some(s.description.clone()),
            };
            match w
                .cat
                .snippets_of(id)
                .into_iter()
                .find(|(_, x)| x.name == s.name)
                .map(|(e, x)| (e.id, x.clone()))
            {
                Some((sid, before)) => {
                    let ch = pages::update_snippet(&w.cat, sid, sf).map_err(|e| at(e, &spath))?;
                    let same = matches!(ch.upserts.first().map(|e| &e.data), Some(crate::catalog::model::Data::PortalSnippet(x)) if *x == before);
                    if !same {
                        w.step(&spath, Ok(ch), Some(("update", "snippet", s.name.clone())))?;
                    }
                }
                None => {
                    w.step(
                        &spath,
                        pages::create_snippet(&w.cat, id, sf),
                        Some(("create", "snippet", s.name.clone())),
                    )?;
                }
            }
        }
        let stale: Vec<(Uuid, String)> = w
            .cat
            .snippets_of(id)
            .into_iter()
            .filter(|(_, x)| !names.contains(&x.name))
            .map(|(e, x)| (e.id, x.name.clone()))
            .collect();
        for (sid, n) in stale {
            w.step(
                &path,
                pages::delete_snippet(&w.cat, sid),
                Some(("delete", "snippet", n)),
            )?;
        }
    }
    let stale: Vec<(Uuid, String)> = w
        .cat
        .portals()
        .into_iter()
        .filter(|(e, _)| !keep.contains(&e.id))
        .map(|(e, p)| (e.id, p.name.clone()))
        .collect();
    for (id, name) in stale {
        w.step(
            "portals",
            content::delete_portal(&w.cat, id, true),
            Some(("delete", "portal", name)),
        )?;
        w.out.deleted_portals.push(id);
    }
    Ok(())
}

/// The full paths the file gives a portal's pages.
fn collect_paths(cat: &Catalog, _portal: Uuid, list: &[PageDoc], parent: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in list {
        let seg = p.slug.trim().trim_matches('/');
        let path = if seg.is_empty() {
            if parent.is_empty() {
                "/".to_string()
            } else {
                parent.to_string()
            }
        } else if parent.is_empty() || parent == "/" {
            format!("/{seg}")
        } else {
            format!("{parent}/{seg}")
        };
        out.push(path.clone());
        out.extend(collect_paths(cat, _portal, &p.pages, &path));
    }
    out
}

fn apply_pages(
    w: &mut Work,
    portal: Uuid,
    list: &[PageDoc],
    parent: Option<Uuid>,
    path: &str,
) -> Result<(), Error> {
    for (i, p) in list.iter().enumerate() {
        let ppath = format!("{path}[{i}]");
        let f = PageFields {
            slug: Some(p.slug.clone()),
            title: p.title.clone(),
            content: Some(p.content.clone()),
            visibility: p.visibility,
            status: Some(p.status.unwrap_or_default()),
            description: Some(p.description.clone()),
            parent_id: Some(parent),
        };
        let seg = p.slug.trim().trim_matches('/');
        let existing = w
            .cat
            .pages_of(portal)
            .into_iter()
            .find(|(_, x)| x.parent_id == parent && x.slug.trim_matches('/') == seg)
            .map(|(e, x)| (e.id, x.clone()));
        let id = match existing {
            Some((id, before)) => {
                let ch = pages::update_page(&w.cat, id, f).map_err(|e| at(e, &ppath))?;
                let same = matches!(ch.upserts.first().map(|e| &e.data), Some(crate::catalog::model::Data::PortalPage(x)) if *x == before);
                if !same {
                    let name = w.cat.page_path(id);
                    w.step(&ppath, Ok(ch), Some(("update", "page", name)))?;
                }
                id
            }
            None => w
                .step(
                    &ppath,
                    pages::create_page(&w.cat, portal, f),
                    Some(("create", "page", p.slug.clone())),
                )?
                .ok_or_else(|| Error::internal("no page id"))?,
        };
        apply_pages(w, portal, &p.pages, Some(id), &format!("{ppath}.pages"))?;
    }
    Ok(())
}

fn sha(content: &str) -> String {
    graphql_schema::entity::consumer::hex(&sha2::Sha256::digest(content.as_bytes()))
}

fn apply_apis(w: &mut Work, list: &[ApiDoc], services: &Services) -> Result<(), Error> {
    let mut keep = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let path = format!("apis[{i}]");
        // the version may come from the first spec
        let version = a.version.clone().or_else(|| {
            a.versions
                .first()
                .and_then(|v| crate::catalog::spec::read(&v.spec.content, "spec").ok())
                .and_then(|s| s.info_version)
        });
        let f = ApiFields {
            name: Some(a.name.clone()),
            version: Some(version.clone()),
            slug: a.slug.clone(),
            description: Some(a.description.clone()),
            labels: Some(a.labels.clone()),
            attributes: Some(a.attributes.clone()),
        };
        let label = format!("{} {}", a.name, version.clone().unwrap_or_default());
        let existing = w
            .cat
            .apis()
            .into_iter()
            .find(|(_, x)| x.name == a.name && x.version == version)
            .map(|(e, x)| (e.id, x.clone()));
        let id = match existing {
            Some((id, before)) => {
                let mut ch = apis::update_api(&w.cat, id, f).map_err(|e| at(e, &path))?;
                if let Some(crate::catalog::model::Entry {
                    data: crate::catalog::model::Data::Api(x),
                    ..
                }) = ch.upserts.first_mut()
                {
                    // the file's labels, whole (an update merges them)
                    x.labels = a.labels.clone();
                    if a.slug.is_none() {
                        x.slug = before.slug.clone();
                    }
                    if *x == before {
                        ch = Change::default();
                    }
                }
                w.step(&path, Ok(ch), Some(("update", "api", label.clone())))?;
                id
            }
            None => w
                .step(
                    &path,
                    apis::create_api(&w.cat, f, None),
                    Some(("create", "api", label.clone())),
                )?
                .ok_or_else(|| Error::internal("no API id"))?,
        };
        keep.push(id);
        // versions, by their version
        let mut versions = Vec::new();
        for (j, v) in a.versions.iter().enumerate() {
            let vpath = format!("{path}.versions[{j}]");
            let name = v.version.clone().or_else(|| {
                crate::catalog::spec::read(&v.spec.content, "spec")
                    .ok()
                    .and_then(|s| s.info_version)
            });
            let existing = name.as_ref().and_then(|n| {
                w.cat
                    .versions_of(id)
                    .into_iter()
                    .find(|(_, x)| &x.version == n)
                    .map(|(e, x)| (e.id, x.content_sha256.clone()))
            });
            match existing {
                Some((vid, old)) => {
                    versions.push(vid);
                    if old != sha(&v.spec.content) {
                        w.step(
                            &vpath,
                            apis::update_version(&w.cat, vid, v.spec.content.clone()),
                            Some((
                                "update",
                                "api-version",
                                format!("{label} {}", name.clone().unwrap_or_default()),
                            )),
                        )?;
                    }
                }
                None => {
                    let vid = w.step(
                        &vpath,
                        apis::create_version(&w.cat, id, v.version.clone(), v.spec.content.clone()),
                        Some((
                            "create",
                            "api-version",
                            format!("{label} {}", name.clone().unwrap_or_default()),
                        )),
                    )?;
                    versions.extend(vid);
                }
            }
        }
        let stale: Vec<(Uuid, String)> = w
            .cat
            .versions_of(id)
            .into_iter()
            .filter(|(e, _)| !versions.contains(&e.id))
            .map(|(e, x)| (e.id, format!("{label} {}", x.version)))
            .collect();
        for (vid, n) in stale {
            w.step(
                &path,
                apis::delete_version(&w.cat, vid),
                Some(("delete", "api-version", n)),
            )?;
        }
        // documents, a tree of slugs
        let mut docs = Vec::new();
        apply_documents(
            w,
            id,
            &a.documents,
            None,
            &format!("{path}.documents"),
            &mut docs,
        )?;
        let stale: Vec<(Uuid, String)> = w
            .cat
            .documents_of(id)
            .into_iter()
            .filter(|(e, _)| !docs.contains(&e.id))
            .map(|(e, x)| (e.id, x.slug.clone()))
            .collect();
        for (did, n) in stale {
            if w.cat.document(did).is_some() {
                w.step(
                    &path,
                    apis::delete_document(&w.cat, did),
                    Some(("delete", "api-document", n)),
                )?;
            }
        }
        // implementations
        let mut links = Vec::new();
        for (j, imp) in a.implementations.iter().enumerate() {
            let ipath = format!("{path}.implementations[{j}]");
            let (cp, svc) = *services
                .get(&(imp.control_plane.clone(), imp.service.clone()))
                .ok_or_else(|| {
                    Error::invalid(
                        Field::Document(ipath.clone()),
                        format!(
                            "no service {:?} in control plane {:?}",
                            imp.service, imp.control_plane
                        ),
                    )
                })?;
            let found = w
                .cat
                .implementations_of(id)
                .into_iter()
                .find(|(_, x)| x.control_plane_id == cp && x.service_id == svc)
                .map(|(e, _)| e.id);
            match found {
                Some(l) => links.push(l),
                None => {
                    let l = w.step(
                        &ipath,
                        apis::link_implementation(&w.cat, id, cp, svc),
                        Some((
                            "create",
                            "api-implementation",
                            format!("{label} {}", imp.service),
                        )),
                    )?;
                    links.extend(l);
                }
            }
        }
        let stale: Vec<Uuid> = w
            .cat
            .implementations_of(id)
            .into_iter()
            .filter(|(e, _)| !links.contains(&e.id))
            .map(|(e, _)| e.id)
            .collect();
        for l in stale {
            w.step(
                &path,
                apis::unlink_implementation(&w.cat, l),
                Some(("delete", "api-implementation", label.clone())),
            )?;
        }
        // publications, by portal name
        let mut portals = Vec::new();
        for (j, p) in a.publications.iter().enumerate() {
            let ppath = format!("{path}.publications[{j}]");
            let portal = w
                .cat
                .portal_by_ref(&p.portal)
                .map(|(e, d)| (e.id, d.clone()))
                .ok_or_else(|| {
                    Error::invalid(
                        Field::Document(format!("{ppath}.portal")),
                        format!("no portal {:?}", p.portal),
                    )
                })?;
            portals.push(portal.0);
            let vis = p.visibility.unwrap_or(portal.1.default_api_visibility);
            let auto = p
                .auto_approve_registrations
                .unwrap_or(portal.1.auto_approve_registrations);
            let same = w
                .cat
                .publication(id, portal.0)
                .is_some_and(|(_, x)| x.visibility == vis && x.auto_approve_registrations == auto);
            if !same {
                let action = if w.cat.publication(id, portal.0).is_some() {
                    "update"
                } else {
                    "create"
                };
                w.step(
                    &ppath,
                    apis::publish(&w.cat, id, portal.0, Some(vis), Some(auto)),
                    Some((
                        action,
                        "api-publication",
                        format!("{label} in {}", p.portal),
                    )),
                )?;
            }
        }
        let stale: Vec<(Uuid, String)> = w
            .cat
            .publications_of_api(id)
            .into_iter()
            .filter(|(_, x)| !portals.contains(&x.portal_id))
            .map(|(_, x)| {
                let n = w
                    .cat
                    .portal(x.portal_id)
                    .map(|p| p.name.clone())
                    .unwrap_or_default();
                (x.portal_id, n)
            })
            .collect();
        for (portal, n) in stale {
            w.step(
                &path,
                apis::unpublish(&w.cat, id, portal),
                Some(("delete", "api-publication", format!("{label} in {n}"))),
            )?;
        }
    }
    let stale: Vec<(Uuid, String)> = w
        .cat
        .apis()
        .into_iter()
        .filter(|(e, _)| !keep.contains(&e.id))
        .map(|(e, a)| {
            (
                e.id,
                format!("{} {}", a.name, a.version.clone().unwrap_or_default()),
            )
        })
        .collect();
    for (id, n) in stale {
        w.step(
            "apis",
            apis::delete_api(&w.cat, id),
            Some(("delete", "api", n)),
        )?;
    }
    Ok(())
}

fn apply_documents(
    w: &mut Work,
    api: Uuid,
    list: &[DocumentDoc],
    parent: Option<Uuid>,
    path: &str,
    seen: &mut Vec<Uuid>,
) -> Result<(), Error> {
    for (i, d) in list.iter().enumerate() {
        let dpath = format!("{path}[{i}]");
        let slug = d
            .slug
            .clone()
            .unwrap_or_else(|| crate::catalog::change::slugify(&[&d.title]));
        let f = DocumentFields {
            title: Some(d.title.clone()),
            slug: Some(slug.clone()),
            content: Some(d.content.clone()),
            status: Some(d.status.unwrap_or_default()),
            parent_id: Some(parent),
        };
        let existing = w
            .cat
            .documents_of(api)
            .into_iter()
            .find(|(_, x)| x.parent_id == parent && x.slug == slug)
            .map(|(e, x)| (e.id, x.clone()));
        let id = match existing {
            Some((id, before)) => {
                let ch = apis::update_document(&w.cat, id, f).map_err(|e| at(e, &dpath))?;
                let same = matches!(ch.upserts.first().map(|e| &e.data), Some(crate::catalog::model::Data::ApiDocument(x)) if *x == before);
                if !same {
                    w.step(
                        &dpath,
                        Ok(ch),
                        Some(("update", "api-document", slug.clone())),
                    )?;
                }
                id
            }
            None => w
                .step(
                    &dpath,
                    apis::create_document(&w.cat, api, f),
                    Some(("create", "api-document", slug.clone())),
                )?
                .ok_or_else(|| Error::internal("no document id"))?,
        };
        seen.push(id);
        apply_documents(
            w,
            api,
            &d.documents,
            Some(id),
            &format!("{dpath}.documents"),
            seen,
        )?;
    }
    Ok(())
}

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
