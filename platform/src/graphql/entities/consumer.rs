//! Consumers (who calls the APIs), consumer groups, and consumers' credentials.
//! Keys, passwords and secrets are write-only: never a field here.

use async_graphql::{Context, Enum, Result};

use super::{
    Acl, BasicAuthCredential, Consumer, ConsumerConnection, ConsumerGroup, Credential,
    CredentialConnection, JwtSecret, KeyAuthCredential, PluginConnection, children, entity_object,
    page_of, paging,
};
use crate::config::Kind;

/// A JWT signing algorithm.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum JwtAlgorithm {
    #[graphql(name = "HS256")]
    #[serde(rename = "HS256")]
    Hs256,
    #[graphql(name = "HS384")]
    #[serde(rename = "HS384")]
    Hs384,
    #[graphql(name = "HS512")]
    #[serde(rename = "HS512")]
    Hs512,
    #[graphql(name = "RS256")]
    #[serde(rename = "RS256")]
    Rs256,
    #[graphql(name = "RS384")]
    #[serde(rename = "RS384")]
    Rs384,
    #[graphql(name = "RS512")]
    #[serde(rename = "RS512")]
    Rs512,
    #[graphql(name = "ES256")]
    #[serde(rename = "ES256")]
    Es256,
    #[graphql(name = "ES384")]
    #[serde(rename = "ES384")]
    Es384,
    #[graphql(name = "PS256")]
    #[serde(rename = "PS256")]
    Ps256,
    #[graphql(name = "PS384")]
    #[serde(rename = "PS384")]
    Ps384,
    #[graphql(name = "PS512")]
    #[serde(rename = "PS512")]
    Ps512,
    #[graphql(name = "EdDSA")]
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl JwtAlgorithm {
    fn parse(s: &str) -> Option<JwtAlgorithm> {
        serde_json::to_value(JwtAlgorithm::ALL)
            .ok()?
            .as_array()?
            .iter()
            .position(|v| v.as_str() == Some(s))
            .map(|i| JwtAlgorithm::ALL[i])
    }

    const ALL: [JwtAlgorithm; 12] = [
        JwtAlgorithm::Hs256,
        JwtAlgorithm::Hs384,
        JwtAlgorithm::Hs512,
        JwtAlgorithm::Rs256,
        JwtAlgorithm::Rs384,
        JwtAlgorithm::Rs512,
        JwtAlgorithm::Es256,
        JwtAlgorithm::Es384,
        JwtAlgorithm::Ps256,
        JwtAlgorithm::Ps384,
        JwtAlgorithm::Ps512,
        JwtAlgorithm::EdDsa,
    ];
}

entity_object!(
    /// Someone (an app, a partner) who calls the APIs through the gateway.
    Consumer, Kind::Consumer, {
    async fn username(&self) -> Result<Option<String>> {
        Ok(self.0.get(|t, id| t.consumer(id))?.username.clone())
    }

    async fn custom_id(&self) -> Result<Option<String>> {
        Ok(self.0.get(|t, id| t.consumer(id))?.custom_id.clone())
    }

    /// The consumer groups it belongs to.
    async fn groups(&self) -> Result<Vec<ConsumerGroup>> {
        Ok(self
            .0
            .get(|t, id| t.consumer(id))?
            .groups
            .iter()
            .map(|g| ConsumerGroup(self.0.other(*g)))
            .collect())
    }

    /// Its credentials of every kind, in creation order.
    async fn credentials(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<CredentialConnection> {
        let list = self
            .0
            .typed
            .children(self.0.id)
            .iter()
            .filter_map(|id| self.0.view.records.get(id))
            .filter(|r| r.kind.is_credential())
            .collect();
        let view = self.0.view.clone();
        let p = page_of(ctx, &self.0.view, list, &paging(first, after, last, before), |e| e)?;
        Ok(p.map(|e| {
            let kind = view.records.get(&e.id).map(|r| r.kind);
            match kind {
                Some(Kind::BasicAuthCredential) => Credential::BasicAuth(BasicAuthCredential(e)),
                Some(Kind::JwtSecret) => Credential::Jwt(JwtSecret(e)),
                Some(Kind::Acl) => Credential::Acl(Acl(e)),
                _ => Credential::KeyAuth(KeyAuthCredential(e)),
            }
        })
        .into())
    }

    /// Plugins scoped to this consumer.
    async fn plugins(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<PluginConnection> {
        let list = children(&self.0, Kind::Plugin);
        Ok(page_of(ctx, &self.0.view, list, &paging(first, after, last, before), super::Plugin)?.into())
    }
});

entity_object!(
    /// A named group of consumers (plugins can apply to a group).
    ConsumerGroup, Kind::ConsumerGroup, {
    async fn name(&self) -> Result<String> {
        Ok(self.0.get(|t, id| t.consumer_group(id))?.name.clone())
    }

    /// Its consumers, in creation order.
    async fn consumers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<ConsumerConnection> {
        let list = self
            .0
            .typed
            .members(self.0.id)
            .iter()
            .filter_map(|id| self.0.view.records.get(id))
            .collect();
        Ok(page_of(ctx, &self.0.view, list, &paging(first, after, last, before), Consumer)?.into())
    }

    /// Plugins scoped to this group.
    async fn plugins(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<PluginConnection> {
        let list = children(&self.0, Kind::Plugin);
        Ok(page_of(ctx, &self.0.view, list, &paging(first, after, last, before), super::Plugin)?.into())
    }
});

entity_object!(
    /// An API key of a consumer (key-auth). The key is write-only.
    KeyAuthCredential, Kind::KeyAuthCredential, {
    async fn consumer(&self) -> Result<Consumer> {
        Ok(Consumer(self.0.other(
            self.0.get(|t, id| t.key_auth_credential(id))?.consumer_id,
        )))
    }
});

entity_object!(
    /// A username and password of a consumer (basic-auth). The password is
    /// write-only.
    BasicAuthCredential, Kind::BasicAuthCredential, {
    async fn username(&self) -> Result<String> {
        Ok(self.0.get(|t, id| t.basic_auth_credential(id))?.username.clone())
    }

    async fn consumer(&self) -> Result<Consumer> {
        Ok(Consumer(self.0.other(
            self.0.get(|t, id| t.basic_auth_credential(id))?.consumer_id,
        )))
    }
});

entity_object!(
    /// A JWT issuer key of a consumer (jwt). An HMAC secret is write-only.
    JwtSecret, Kind::JwtSecret, {
    /// What the token's `iss` (or the configured claim) carries.
    async fn key(&self) -> Result<String> {
        Ok(self.0.get(|t, id| t.jwt_secret(id))?.key.clone())
    }

    async fn algorithm(&self) -> Result<Option<JwtAlgorithm>> {
        Ok(JwtAlgorithm::parse(&self.0.get(|t, id| t.jwt_secret(id))?.algorithm))
    }

    async fn rsa_public_key(&self) -> Result<Option<String>> {
        Ok(self.0.get(|t, id| t.jwt_secret(id))?.rsa_public_key.clone())
    }

    async fn consumer(&self) -> Result<Consumer> {
        Ok(Consumer(self.0.other(
            self.0.get(|t, id| t.jwt_secret(id))?.consumer_id,
        )))
    }
});

entity_object!(
    /// A group a consumer is in, for the acl plugin.
    Acl, Kind::Acl, {
    async fn group(&self) -> Result<String> {
        Ok(self.0.get(|t, id| t.acl(id))?.group.clone())
    }

    async fn consumer(&self) -> Result<Consumer> {
        Ok(Consumer(self.0.other(self.0.get(|t, id| t.acl(id))?.consumer_id)))
    }
});
