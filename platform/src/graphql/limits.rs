//! Bounds on one GraphQL request, so that no caller (a read-only one included)
//! can take the platform's memory: fields whose answer grows with the data charge
//! a per-request budget by what they return (a plane's entity count, a page's
//! length), the fields that return the most may appear only a few times in one
//! operation, and engine errors carry a code. (Body and response size limits are
//! the HTTP layer's.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Context, ErrorExtensions, Positioned, ServerError, ServerResult, Variables};

/// Items (entities, rows, nodes) one request may return in all, by default.
pub const MAX_ITEMS: usize = 50_000;

/// Fields whose answer grows with the data, and how often each may appear in
/// one operation (aliases included).
const EXPENSIVE: &[(&str, usize)] = &[
    ("controlPlaneConfig", 2),
    ("entities", 10),
    ("auditLog", 2),
    ("dataPlaneNodes", 5),
    ("controlPlanes", 5),
];

/// A request's item budget: what it started with, and what is left.
pub struct Budget {
    max: usize,
    left: AtomicUsize,
}

impl Budget {
    pub fn new(max: usize) -> Budget {
        Budget {
            max,
            left: AtomicUsize::new(max),
        }
    }
}

/// Charges `items` to the request's budget; an error once it is spent. A
/// request without a budget (the in-process tests, subscriptions) is not charged.
pub fn charge(ctx: &Context<'_>, items: usize) -> async_graphql::Result<()> {
    let Some(b) = ctx.data_opt::<Budget>() else {
        return Ok(());
    };
    let left = b.left.load(Ordering::Relaxed);
    if items > left {
        b.left.store(0, Ordering::Relaxed);
        return Err(async_graphql::Error::new(format!(
            "this request asks for more than {} items in all; ask for less (smaller pages, fewer fields)",
            b.max
        ))
        .extend_with(|_, e| e.set("code", "VALIDATION")));
    }
    b.left.fetch_sub(items, Ordering::Relaxed);
    Ok(())
}

/// The extension that counts expensive fields when a query is parsed.
pub struct FieldCaps;

impl ExtensionFactory for FieldCaps {
    fn create(&self) -> std::sync::Arc<dyn Extension> {
        std::sync::Arc::new(FieldCapsExt)
    }
}

struct FieldCapsExt;

#[async_trait::async_trait]
impl Extension for FieldCapsExt {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut deepest = 0;
        for (_, op) in doc.operations.iter() {
            count(&doc, &op.node.selection_set, &mut counts, 0, &mut deepest);
        }
        if deepest > super::MAX_DEPTH {
            // the depth limit refuses it, with its own message
            return Ok(doc);
        }
        for (name, max) in EXPENSIVE {
            if counts.get(*name).copied().unwrap_or(0) > *max {
                return Err(validation(format!(
                    "at most {max} '{name}' fields in one request"
                )));
            }
        }
        Ok(doc)
    }
}

fn count(
    doc: &ExecutableDocument,
    set: &Positioned<SelectionSet>,
    counts: &mut HashMap<String, usize>,
    depth: usize,
    deepest: &mut usize,
) {
    *deepest = (*deepest).max(depth);
    // the depth limit refuses deeper queries later; this only guards the walk
    if depth > super::MAX_DEPTH + 1 {
        return;
    }
    for item in &set.node.items {
        match &item.node {
            Selection::Field(f) => {
                *counts.entry(f.node.name.node.to_string()).or_default() += 1;
                count(doc, &f.node.selection_set, counts, depth + 1, deepest);
            }
            Selection::FragmentSpread(s) => {
                if let Some(frag) = doc.fragments.get(&s.node.fragment_name.node) {
                    count(doc, &frag.node.selection_set, counts, depth, deepest);
                }
            }
            Selection::InlineFragment(i) => {
                count(doc, &i.node.selection_set, counts, depth, deepest)
            }
        }
    }
}

/// A request-level error with the VALIDATION code.
pub fn validation(message: String) -> ServerError {
    let mut e = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", "VALIDATION");
    e.extensions = Some(ext);
    e
}

/// Errors the engine raises (parse and validation errors, limits) carry a code
/// too: VALIDATION when they have none.
pub fn code_engine_errors(resp: &mut async_graphql::Response) {
    for e in &mut resp.errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", "VALIDATION");
        }
    }
}
