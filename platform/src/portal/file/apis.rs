//! Applying a file's `apis:` section: APIs, their versions (specs), documents,
//! implementations and publications.

use sha2::Digest;
use uuid::Uuid;

use super::{ApiDoc, DocumentDoc, Services, Work, at};
use crate::catalog::Change;
use crate::catalog::apis::{self, ApiFields, DocumentFields};
use crate::error::{Error, Field};

fn sha(content: &str) -> String {
    graphql_schema::entity::consumer::hex(&sha2::Sha256::digest(content.as_bytes()))
}

pub(super) fn apply_apis(w: &mut Work, list: &[ApiDoc], services: &Services) -> Result<(), Error> {
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
