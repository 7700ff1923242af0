//! Plans on a publication (an API in a portal): rate limits per period and a
//! monthly quota. A developer picks one when registering; changing a plan's
//! limits changes the config of every control plane implementing the API.

use graphql_schema::entity::PlanLimits;
use uuid::Uuid;

use crate::catalog::change::{CatalogEvent, Change, opt_text, text};
use crate::catalog::model::{ApiPlanData, Data};
use crate::catalog::view::Catalog;
use crate::error::{Error, Field};

/// Plans a publication has, at most.
pub const MAX_PLANS: usize = 50;

fn check(cat: &Catalog, id: Option<Uuid>, p: &ApiPlanData) -> Result<(), Error> {
    text("name", &p.name, 1, 100)?;
    opt_text("description", &p.description, 1000)?;
    let mut errors = graphql_schema::error::Errors::default();
    p.limits
        .check(&graphql_schema::error::Path::root(), &mut errors);
    if let Some(e) = errors.list.first() {
        return Err(Error::invalid(
            Field::Input(format!("rateLimits.{}", e.path.trim_start_matches('.'))),
            e.message.clone(),
        ));
    }
    if cat
        .plans_of(p.publication_id)
        .iter()
        .any(|(e, o)| Some(e.id) != id && o.name == p.name)
    {
        return Err(Error::Conflict {
            field: Field::Input("name".into()),
            message: format!("a plan named {:?} exists", p.name),
        });
    }
    Ok(())
}

pub fn create_plan(
    cat: &Catalog,
    publication: Uuid,
    name: String,
    description: Option<String>,
    limits: PlanLimits,
) -> Result<Change, Error> {
    let pb = cat
        .publication_by_id(publication)
        .ok_or_else(|| Error::NotFound(format!("publication {publication}")))?;
    if cat.plans_of(publication).len() >= MAX_PLANS {
        return Err(Error::invalid(
            Field::Input("publicationId".into()),
            format!("a publication has at most {MAX_PLANS} plans"),
        ));
    }
    let p = ApiPlanData {
        publication_id: publication,
        api_id: pb.api_id,
        portal_id: pb.portal_id,
        name,
        description,
        limits,
    };
    check(cat, None, &p)?;
    let mut ch = Change::default();
    ch.event(CatalogEvent::ApiChanged { api: p.api_id });
    ch.put(cat, None, Data::ApiPlan(p));
    Ok(ch)
}

pub fn update_plan(
    cat: &Catalog,
    id: Uuid,
    name: Option<String>,
    description: Option<Option<String>>,
    limits: Option<PlanLimits>,
) -> Result<Change, Error> {
    let mut p = cat
        .plan(id)
        .ok_or_else(|| Error::NotFound(format!("plan {id}")))?
        .clone();
    if let Some(n) = name {
        p.name = n;
    }
    if let Some(d) = description {
        p.description = d;
    }
    if let Some(l) = limits {
        p.limits = l;
    }
    check(cat, Some(id), &p)?;
    let mut ch = Change::default();
    ch.event(CatalogEvent::ApiChanged { api: p.api_id });
    ch.put(cat, Some(id), Data::ApiPlan(p));
    Ok(ch)
}

/// Deletes a plan no registration uses.
pub fn delete_plan(cat: &Catalog, id: Uuid) -> Result<Change, Error> {
    let p = cat
        .plan(id)
        .ok_or_else(|| Error::NotFound(format!("plan {id}")))?;
    let used = cat
        .registrations()
        .iter()
        .filter(|(_, r)| r.plan_id == Some(id))
        .count();
    if used > 0 {
        return Err(Error::Conflict {
            field: Field::Input("id".into()),
            message: format!("{used} registrations use this plan: move them first"),
        });
    }
    let mut ch = Change::default();
    ch.event(CatalogEvent::ApiChanged { api: p.api_id });
    ch.delete(cat, id);
    Ok(ch)
}
