//! Kong's cascades: what goes with a deleted entity.

use std::collections::HashSet;

use uuid::Uuid;

use super::{Kind, Record};

/// Entities deleted along with `id` (Kong's cascades): plugins scoped to it,
/// credentials of a consumer, targets of an upstream, snis of a certificate.
pub fn cascade<'a>(records: impl Iterator<Item = &'a Record> + Clone, id: Uuid) -> Vec<Uuid> {
    let mut out = vec![id];
    let mut seen: HashSet<Uuid> = HashSet::from([id]);
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        i += 1;
        for r in records.clone() {
            if seen.contains(&r.id) {
                continue;
            }
            let cascades = match r.kind {
                Kind::Plugin => r
                    .kind
                    .references()
                    .iter()
                    .any(|(f, _)| r.reference(f) == Some(parent)),
                Kind::KeyAuthCredential
                | Kind::BasicAuthCredential
                | Kind::JwtSecret
                | Kind::Acl => r.reference("consumer") == Some(parent),
                Kind::Target => r.reference("upstream") == Some(parent),
                Kind::Sni => r.reference("certificate") == Some(parent),
                _ => false,
            };
            if cascades {
                seen.insert(r.id);
                out.push(r.id);
            }
        }
    }
    out
}
