//! Applying a file's `portals:` section (and the walk every section shares).

use serde_json::Value;
use uuid::Uuid;

use super::{PageDoc, PortalDoc, Work, at};
use crate::catalog::Change;
use crate::catalog::model::Customization;
use crate::error::Error;
use crate::portal::content::{self, PortalFields};
use crate::portal::pages::{self, PageFields, SnippetFields};

pub(super) fn apply_portals(w: &mut Work, portals: &[PortalDoc]) -> Result<(), Error> {
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
            application_limits: None,
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
        let wanted: Vec<String> = collect_paths(&pd.pages, "");
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
fn collect_paths(list: &[PageDoc], parent: &str) -> Vec<String> {
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
        out.extend(collect_paths(&p.pages, &path));
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
