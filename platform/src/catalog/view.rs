//! What readers see of the catalog: an immutable snapshot at a version, with
//! lookups by id, slug and name and each record's children in creation order.
//! Replaced whole by the catalog actor on every commit.

use std::collections::HashMap;

use uuid::Uuid;

use super::model::{
    ApiData, ApiDocumentData, ApiImplementationData, ApiPlanData, ApiPublicationData,
    ApiVersionData, ApplicationData, CatalogKind, CredentialData, Data, DeveloperTeamData,
    DeveloperTeamRoleData, Entry, PortalData, PortalPageData, PortalSnippetData, RegistrationData,
    WebhookData,
};

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub version: i64,
    pub entries: HashMap<Uuid, Entry>,
    /// The creation order the next record gets.
    pub next_seq: i64,
}

macro_rules! typed {
    ($($get:ident, $list:ident: $variant:ident => $ty:ty;)*) => {
        $(
            pub fn $get(&self, id: Uuid) -> Option<&$ty> {
                match &self.entries.get(&id)?.data {
                    Data::$variant(d) => Some(d),
                    _ => None,
                }
            }

            /// Every record of the kind, in creation order.
            pub fn $list(&self) -> Vec<(&Entry, &$ty)> {
                let mut v: Vec<(&Entry, &$ty)> = self
                    .entries
                    .values()
                    .filter_map(|e| match &e.data {
                        Data::$variant(d) => Some((e, d)),
                        _ => None,
                    })
                    .collect();
                v.sort_by_key(|(e, _)| e.seq);
                v
            }
        )*
    };
}

impl Catalog {
    typed! {
        portal, portals: Portal => PortalData;
        api, apis: Api => ApiData;
        api_version, api_versions: ApiVersion => ApiVersionData;
        document, documents: ApiDocument => ApiDocumentData;
        implementation, implementations: ApiImplementation => ApiImplementationData;
        publication_by_id, publications: ApiPublication => ApiPublicationData;
        page, pages: PortalPage => PortalPageData;
        snippet, snippets: PortalSnippet => PortalSnippetData;
        team, teams: DeveloperTeam => DeveloperTeamData;
        team_role, team_roles: DeveloperTeamRole => DeveloperTeamRoleData;
        plan, plans: ApiPlan => ApiPlanData;
        application, applications: Application => ApplicationData;
        registration, registrations: ApplicationRegistration => RegistrationData;
        credential, credentials: ApplicationCredential => CredentialData;
        webhook, webhooks: PortalWebhook => WebhookData;
    }

    pub fn entry(&self, id: Uuid) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub fn kind_of(&self, id: Uuid) -> Option<CatalogKind> {
        self.entries.get(&id).map(Entry::kind)
    }

    pub fn portal_by_name(&self, name: &str) -> Option<(&Entry, &PortalData)> {
        self.portals().into_iter().find(|(_, p)| p.name == name)
    }

    /// A portal by id or name.
    pub fn portal_by_ref(&self, r: &str) -> Option<(&Entry, &PortalData)> {
        match Uuid::parse_str(r) {
            Ok(id) => self.entries.get(&id).and_then(|e| match &e.data {
                Data::Portal(p) => Some((e, p)),
                _ => None,
            }),
            Err(_) => self.portal_by_name(r),
        }
    }

    pub fn api_by_slug(&self, slug: &str) -> Option<(&Entry, &ApiData)> {
        self.apis().into_iter().find(|(_, a)| a.slug == slug)
    }

    /// An API's versions, oldest first.
    pub fn versions_of(&self, api: Uuid) -> Vec<(&Entry, &ApiVersionData)> {
        self.api_versions()
            .into_iter()
            .filter(|(_, v)| v.api_id == api)
            .collect()
    }

    /// The version an API is shown with: the one named like the API's version,
    /// else the newest.
    pub fn current_version(&self, api: Uuid) -> Option<(&Entry, &ApiVersionData)> {
        let versions = self.versions_of(api);
        let named = self.api(api).and_then(|a| a.version.clone());
        versions
            .iter()
            .find(|(_, v)| Some(&v.version) == named.as_ref())
            .or(versions.last())
            .copied()
    }

    pub fn documents_of(&self, api: Uuid) -> Vec<(&Entry, &ApiDocumentData)> {
        self.documents()
            .into_iter()
            .filter(|(_, d)| d.api_id == api)
            .collect()
    }

    pub fn implementations_of(&self, api: Uuid) -> Vec<(&Entry, &ApiImplementationData)> {
        self.implementations()
            .into_iter()
            .filter(|(_, d)| d.api_id == api)
            .collect()
    }

    pub fn publications_of_api(&self, api: Uuid) -> Vec<(&Entry, &ApiPublicationData)> {
        self.publications()
            .into_iter()
            .filter(|(_, d)| d.api_id == api)
            .collect()
    }

    pub fn publications_in(&self, portal: Uuid) -> Vec<(&Entry, &ApiPublicationData)> {
        self.publications()
            .into_iter()
            .filter(|(_, d)| d.portal_id == portal)
            .collect()
    }

    pub fn publication(&self, api: Uuid, portal: Uuid) -> Option<(&Entry, &ApiPublicationData)> {
        self.publications()
            .into_iter()
            .find(|(_, d)| d.api_id == api && d.portal_id == portal)
    }

    /// A publication's plans, in creation order.
    pub fn plans_of(&self, publication: Uuid) -> Vec<(&Entry, &ApiPlanData)> {
        self.plans()
            .into_iter()
            .filter(|(_, d)| d.publication_id == publication)
            .collect()
    }

    pub fn registrations_of(&self, application: Uuid) -> Vec<(&Entry, &RegistrationData)> {
        self.registrations()
            .into_iter()
            .filter(|(_, d)| d.application_id == application)
            .collect()
    }

    pub fn credentials_of(&self, application: Uuid) -> Vec<(&Entry, &CredentialData)> {
        self.credentials()
            .into_iter()
            .filter(|(_, d)| d.application_id == application)
            .collect()
    }

    pub fn pages_of(&self, portal: Uuid) -> Vec<(&Entry, &PortalPageData)> {
        self.pages()
            .into_iter()
            .filter(|(_, d)| d.portal_id == portal)
            .collect()
    }

    pub fn snippets_of(&self, portal: Uuid) -> Vec<(&Entry, &PortalSnippetData)> {
        self.snippets()
            .into_iter()
            .filter(|(_, d)| d.portal_id == portal)
            .collect()
    }

    pub fn teams_of(&self, portal: Uuid) -> Vec<(&Entry, &DeveloperTeamData)> {
        self.teams()
            .into_iter()
            .filter(|(_, d)| d.portal_id == portal)
            .collect()
    }

    pub fn roles_of(&self, team: Uuid) -> Vec<(&Entry, &DeveloperTeamRoleData)> {
        self.team_roles()
            .into_iter()
            .filter(|(_, d)| d.team_id == team)
            .collect()
    }

    /// A page's full path: its parents' slugs joined with its own (`/about/team`).
    pub fn page_path(&self, id: Uuid) -> String {
        let mut parts = Vec::new();
        let mut at = Some(id);
        let mut guard = 0;
        while let (Some(cur), true) = (at, guard < 64) {
            guard += 1;
            let Some(p) = self.page(cur) else { break };
            parts.push(p.slug.trim_matches('/').to_string());
            at = p.parent_id;
        }
        parts.reverse();
        let joined: Vec<String> = parts.into_iter().filter(|s| !s.is_empty()).collect();
        format!("/{}", joined.join("/"))
    }

    /// The ids of `id` and everything deleted with it (children first).
    pub fn cascade(&self, id: Uuid) -> Vec<Uuid> {
        let mut out = Vec::new();
        let mut todo = vec![id];
        while let Some(cur) = todo.pop() {
            if out.contains(&cur) {
                continue;
            }
            out.push(cur);
            for e in self.entries.values() {
                if e.data.parent() == Some(cur) || e.data.also_owned_by() == Some(cur) {
                    todo.push(e.id);
                }
            }
        }
        out.reverse();
        out
    }
}
