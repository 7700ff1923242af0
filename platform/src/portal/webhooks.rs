//! A portal's webhooks as catalog records: where events go, which ones, and
//! the signing secret (sealed; never shown again after creation).

use uuid::Uuid;

use super::events::EVENTS;
use crate::catalog::change::Change;
use crate::catalog::model::{Data, WebhookData};
use crate::catalog::view::Catalog;
use crate::error::{Error, Field};

/// Webhooks a portal has, at most.
pub const MAX_WEBHOOKS: usize = 20;

fn check(w: &WebhookData) -> Result<(), Error> {
    let ok = w.url.len() <= 2048
        && reqwest::Url::parse(&w.url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok {
        return Err(Error::invalid(
            Field::Input("url".into()),
            "an http or https URL of at most 2048 characters",
        ));
    }
    for (i, e) in w.events.iter().enumerate() {
        if !EVENTS.contains(&e.as_str()) {
            return Err(Error::invalid(
                Field::Input(format!("events[{i}]")),
                format!("unknown event {e:?}; one of {}", EVENTS.join(", ")),
            ));
        }
    }
    Ok(())
}

pub fn create_webhook(
    cat: &Catalog,
    portal: Uuid,
    url: String,
    events: Vec<String>,
    secret_sealed: String,
) -> Result<Change, Error> {
    cat.portal(portal)
        .ok_or_else(|| Error::NotFound(format!("portal {portal}")))?;
    if cat
        .webhooks()
        .iter()
        .filter(|(_, w)| w.portal_id == portal)
        .count()
        >= MAX_WEBHOOKS
    {
        return Err(Error::invalid(
            Field::Input("portalId".into()),
            format!("a portal has at most {MAX_WEBHOOKS} webhooks"),
        ));
    }
    let w = WebhookData {
        portal_id: portal,
        url,
        events,
        secret_sealed,
        enabled: true,
    };
    check(&w)?;
    let mut ch = Change::default();
    ch.put(cat, None, Data::PortalWebhook(w));
    Ok(ch)
}

pub fn update_webhook(
    cat: &Catalog,
    id: Uuid,
    url: Option<String>,
    events: Option<Vec<String>>,
    enabled: Option<bool>,
    secret_sealed: Option<String>,
) -> Result<Change, Error> {
    let mut w = cat
        .webhook(id)
        .ok_or_else(|| Error::NotFound(format!("webhook {id}")))?
        .clone();
    if let Some(u) = url {
        w.url = u;
    }
    if let Some(e) = events {
        w.events = e;
    }
    if let Some(e) = enabled {
        w.enabled = e;
    }
    if let Some(s) = secret_sealed {
        w.secret_sealed = s;
    }
    check(&w)?;
    let mut ch = Change::default();
    ch.put(cat, Some(id), Data::PortalWebhook(w));
    Ok(ch)
}

pub fn delete_webhook(cat: &Catalog, id: Uuid) -> Result<Change, Error> {
    cat.webhook(id)
        .ok_or_else(|| Error::NotFound(format!("webhook {id}")))?;
    let mut ch = Change::default();
    ch.delete(cat, id);
    Ok(ch)
}
