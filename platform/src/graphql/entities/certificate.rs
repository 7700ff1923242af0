//! TLS certificates served by SNI, their SNIs, and CA certificates. Private
//! keys are write-only.

use async_graphql::{Context, Result};

use super::{
    CaCertificate, Certificate, Sni, SniConnection, children, entity_object, page_of, paging,
};
use crate::config::Kind;

entity_object!(
    /// A certificate and key the gateway serves for its SNIs. The keys are
    /// write-only.
    Certificate, Kind::Certificate, {
    /// PEM.
    async fn cert(&self) -> Result<String> {
        Ok(self.0.get(|t, id| t.certificate(id))?.cert.clone())
    }

    /// A second certificate of the other key type (RSA or ECDSA), PEM.
    async fn cert_alt(&self) -> Result<Option<String>> {
        Ok(self.0.get(|t, id| t.certificate(id))?.cert_alt.clone())
    }

    /// The server names it is served for.
    async fn snis(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<SniConnection> {
        let list = children(&self.0, Kind::Sni);
        Ok(page_of(ctx, &self.0.view, list, &paging(first, after, last, before), Sni)?.into())
    }
});

entity_object!(
    /// A server name a certificate is served for.
    Sni, Kind::Sni, {
    /// Lower case; may start with `*.` or end with `.*`.
    async fn name(&self) -> Result<String> {
        Ok(self.0.get(|t, id| t.sni(id))?.name.clone())
    }

    async fn certificate(&self) -> Result<Certificate> {
        Ok(Certificate(
            self.0.other(self.0.get(|t, id| t.sni(id))?.certificate_id),
        ))
    }
});

entity_object!(
    /// A trusted CA certificate (for services' TLS verification).
    CaCertificate, Kind::CaCertificate, {
    /// PEM.
    async fn cert(&self) -> Result<String> {
        Ok(self.0.get(|t, id| t.ca_certificate(id))?.cert.clone())
    }
});
