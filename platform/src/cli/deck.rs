//! `portico apply | diff | dump`: decK-style automation over the GraphQL API.

use std::path::PathBuf;

use serde_json::{Value, json};

pub struct Client {
    pub server: String,
    pub token: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(server: &str, token: &str) -> anyhow::Result<Client> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Client {
            server: server.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http: reqwest::Client::builder().build()?,
        })
    }

    /// Runs one operation; GraphQL errors become one error listing them all.
    pub async fn run(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let resp = self
            .http
            .post(format!("{}/graphql", self.server))
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach the platform at {}: {e}", self.server))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|e| anyhow::anyhow!("the platform answered {status} without JSON: {e}"))?;
        if let Some(errs) = body
            .get("errors")
            .and_then(Value::as_array)
            .filter(|e| !e.is_empty())
        {
            let mut lines = Vec::new();
            for e in errs {
                lines.push(e["message"].as_str().unwrap_or("error").to_string());
                for p in e["extensions"]["problems"].as_array().into_iter().flatten() {
                    lines.push(p["message"].as_str().unwrap_or("error").to_string());
                }
            }
            anyhow::bail!("{}", lines.join("\n"));
        }
        Ok(body["data"].clone())
    }
}

const APPLY: &str = r#"mutation Apply($input: ApplyConfigInput!) {
  applyConfig(input: $input) {
    configVersion dryRun
    plan {
      creates { kind id name }
      updates { kind id name }
      deletes { kind id name }
    }
  }
}"#;

const VALIDATE: &str = r#"query Validate($d: JSON!) { validateConfig(document: $d) { valid problems { field message } plan { creates { kind id name } updates { kind id name } deletes { kind id name } } } }"#;
const DELETE: &str = r#"mutation Delete($i: DeleteControlPlaneInput!) { deleteControlPlane(input: $i) { deletedControlPlaneId } }"#;
const ENSURE: &str = r#"query Plane($name: String) { controlPlane(name: $name) { id } }"#;
const CREATE: &str = r#"mutation Create($input: CreateControlPlaneInput!) { createControlPlane(input: $input) { id } }"#;
const APPLY_CATALOG: &str = r#"mutation ApplyCatalog($input: ApplyCatalogInput!) { applyCatalog(input: $input) { version dryRun plan { action kind name } } }"#;
const CATALOG: &str = r#"query Catalog { catalogDocument }"#;
const DUMP: &str = r#"query Dump($id: ID!, $secrets: Boolean) { controlPlaneConfig(id: $id, withSecrets: $secrets) { version hash document } }"#;

fn read_document(file: &PathBuf) -> anyhow::Result<Value> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
    };
    graphql_schema::deck::parse_text(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

/// The sections of a file that are the catalog's, not a control plane's.
const CATALOG_KEYS: [&str; 2] = ["portals", "apis"];

/// Splits a file into its decK part and its catalog part (`portals:`, `apis:`),
/// reading `spec: {file: path}` (relative to the file) into `spec: {content}`.
/// The decK part is `None` when the file has no control plane entities.
fn split(doc: Value, file: &std::path::Path) -> anyhow::Result<(Option<Value>, Option<Value>)> {
    let Value::Object(mut top) = doc else {
        return Ok((Some(doc), None));
    };
    let mut catalog = serde_json::Map::new();
    for k in CATALOG_KEYS {
        if let Some(v) = top.remove(k) {
            catalog.insert(k.into(), v);
        }
    }
    let dir = file.parent().unwrap_or(std::path::Path::new("."));
    for api in catalog
        .get_mut("apis")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for v in api
            .get_mut("versions")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) else {
                continue;
            };
            if let Some(path) = spec.remove("file").as_ref().and_then(Value::as_str) {
                let p = dir.join(path);
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| anyhow::anyhow!("spec file {}: {e}", p.display()))?;
                spec.insert("content".into(), Value::String(text));
            }
        }
    }
    let deck = top
        .keys()
        .any(|k| !k.starts_with('_'))
        .then_some(Value::Object(top.clone()));
    let had_catalog = !catalog.is_empty();
    // a file of catalog sections only leaves control planes alone
    let deck = if had_catalog {
        deck
    } else {
        Some(deck.unwrap_or(Value::Object(top)))
    };
    Ok((deck, had_catalog.then_some(Value::Object(catalog))))
}

/// `apply` of the catalog sections: returns whether the plan was empty.
async fn apply_catalog(c: &Client, doc: &Value, dry_run: bool) -> anyhow::Result<bool> {
    let d = c
        .run(
            APPLY_CATALOG,
            json!({ "input": { "document": doc, "dryRun": dry_run } }),
        )
        .await?;
    let r = &d["applyCatalog"];
    let plan = r["plan"].as_array().cloned().unwrap_or_default();
    for it in &plan {
        let verb = match it["action"].as_str().unwrap_or("") {
            "create" => "creating",
            "update" => "updating",
            _ => "deleting",
        };
        println!(
            "{verb} {} {}",
            it["kind"].as_str().unwrap_or(""),
            it["name"].as_str().unwrap_or("")
        );
    }
    let count = |a: &str| plan.iter().filter(|i| i["action"] == a).count();
    println!(
        "Catalog summary:\n  {}: {}\n  {}: {}\n  {}: {}",
        if dry_run { "Create" } else { "Created" },
        count("create"),
        if dry_run { "Update" } else { "Updated" },
        count("update"),
        if dry_run { "Delete" } else { "Deleted" },
        count("delete")
    );
    if !dry_run {
        println!("the catalog is at version {}", r["version"]);
    }
    Ok(plan.is_empty())
}

/// Prints a plan the way decK does, and returns whether it was empty.
pub fn print_plan(plan: &Value, verb_past: bool) -> bool {
    let mut n = [0usize; 3];
    for (i, (key, verb)) in [
        ("creates", "creating"),
        ("updates", "updating"),
        ("deletes", "deleting"),
    ]
    .iter()
    .enumerate()
    {
        for it in plan[key].as_array().into_iter().flatten() {
            n[i] += 1;
            let kind = it["kind"]
                .as_str()
                .unwrap_or("?")
                .to_lowercase()
                .replace('_', "-");
            let name = it["name"].as_str().unwrap_or("");
            println!("{verb} {kind} {name} ({})", it["id"].as_str().unwrap_or(""));
        }
    }
    println!("Summary:");
    let w = if verb_past {
        ["Created", "Updated", "Deleted"]
    } else {
        ["Create", "Update", "Delete"]
    };
    println!(
        "  {}: {}\n  {}: {}\n  {}: {}",
        w[0], n[0], w[1], n[1], w[2], n[2]
    );
    n == [0, 0, 0]
}

async fn ensure_plane(c: &Client, name: &str, create: bool) -> anyhow::Result<String> {
    let d = c.run(ENSURE, json!({ "name": name })).await?;
    if let Some(id) = d["controlPlane"]["id"].as_str() {
        return Ok(id.to_string());
    }
    if !create {
        anyhow::bail!("control plane {name:?} does not exist");
    }
    let d = c.run(CREATE, json!({ "input": { "name": name } })).await?;
    println!("created control plane {name}");
    d["createControlPlane"]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the platform did not return the new control plane's id"))
}

/// `apply` (or `diff` with `dry_run`): returns whether the plan was empty.
pub async fn apply(
    c: &Client,
    file: &PathBuf,
    plane: &str,
    select_tags: &[String],
    dry_run: bool,
) -> anyhow::Result<bool> {
    let (deck, catalog) = split(read_document(file)?, file)?;
    let mut empty = true;
    if let Some(doc) = deck {
        empty &= apply_plane(c, file, doc, plane, select_tags, dry_run).await?;
    }
    if let Some(doc) = catalog {
        empty &= apply_catalog(c, &doc, dry_run).await?;
    }
    Ok(empty)
}

async fn apply_plane(
    c: &Client,
    file: &std::path::Path,
    doc: Value,
    plane: &str,
    select_tags: &[String],
    dry_run: bool,
) -> anyhow::Result<bool> {
    let existing = c.run(ENSURE, json!({ "name": plane })).await?["controlPlane"]["id"]
        .as_str()
        .map(str::to_string);
    let Some(id) = existing else {
        // a new plane: check the file first, so a file that cannot load changes
        // nothing (not even by creating the plane); a dry run shows the plan
        let d = c.run(VALIDATE, json!({ "d": doc })).await?;
        let v = &d["validateConfig"];
        let problems: Vec<String> = v["problems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{}: {}",
                    p["field"].as_str().unwrap_or(""),
                    p["message"].as_str().unwrap_or("")
                )
            })
            .collect();
        if !problems.is_empty() {
            anyhow::bail!("{}: {}", file.display(), problems.join("\n"));
        }
        if dry_run {
            println!("control plane {plane} does not exist yet; applying creates it and:");
            return Ok(print_plan(&v["plan"], false));
        }
        let id = ensure_plane(c, plane, true).await?;
        return match apply_to(c, &id, &doc, plane, select_tags, false).await {
            Ok(empty) => Ok(empty),
            Err(e) => {
                // a failed apply leaves nothing behind: the plane goes too
                let _ = c.run(DELETE, json!({ "i": { "id": id } })).await;
                Err(e)
            }
        };
    };
    apply_to(c, &id, &doc, plane, select_tags, dry_run).await
}

async fn apply_to(
    c: &Client,
    id: &str,
    doc: &Value,
    plane: &str,
    select_tags: &[String],
    dry_run: bool,
) -> anyhow::Result<bool> {
    let d = c
        .run(
            APPLY,
            json!({ "input": {
                "controlPlane": id,
                "document": doc,
                "selectTags": select_tags,
                "dryRun": dry_run,
            }}),
        )
        .await?;
    let r = &d["applyConfig"];
    let empty = print_plan(&r["plan"], !dry_run);
    if !dry_run {
        println!("control plane {plane} is at version {}", r["configVersion"]);
    }
    Ok(empty)
}

pub async fn dump(
    c: &Client,
    plane: &str,
    out: Option<&PathBuf>,
    select_tags: &[String],
    with_secrets: bool,
    catalog: bool,
) -> anyhow::Result<()> {
    let id = ensure_plane(c, plane, false).await?;
    let d = c
        .run(DUMP, json!({ "id": id, "secrets": with_secrets }))
        .await?;
    let mut doc = d["controlPlaneConfig"]["document"].clone();
    if !select_tags.is_empty() {
        keep_tagged(&mut doc, select_tags);
        // as decK writes it: applying this file manages these tags only
        if let Some(o) = doc.as_object_mut() {
            o.insert("_info".into(), json!({ "select_tags": select_tags }));
        }
    }
    if catalog {
        let d = c.run(CATALOG, json!({})).await?;
        if let (Some(o), Value::Object(cat)) = (doc.as_object_mut(), d["catalogDocument"].clone()) {
            o.extend(cat);
        }
    }
    let text = serde_yaml_ng::to_string(&doc)?;
    match out {
        // a dump lists the plane's consumers and config: private to its owner
        Some(p) if p.as_os_str() != "-" => crate::files::write_private(p, &text)?,
        _ => print!("{text}"),
    }
    Ok(())
}

/// Keeps only entities carrying all `tags` (decK's `--select-tag` on dump).
fn keep_tagged(doc: &mut Value, tags: &[String]) {
    let Some(top) = doc.as_object_mut() else {
        return;
    };
    for (k, v) in top.iter_mut() {
        if k.starts_with('_') {
            continue;
        }
        if let Value::Array(items) = v {
            items.retain(|it| {
                let have: Vec<&str> = it["tags"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                tags.iter().all(|t| have.contains(&t.as_str()))
            });
        }
    }
}
