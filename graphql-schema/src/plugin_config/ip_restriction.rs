//! `ip-restriction`: allow or deny clients by IP address or CIDR (v4 and v6).

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "IpRestrictionConfig")
)]
pub struct IpRestrictionConfig {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    pub status: Option<i64>,
    pub message: Option<String>,
}

/// An address range: `10.0.0.0/8`, `::1/128`, or a bare address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = a
            .parse()
            .map_err(|_| format!("invalid ip or cidr range: '{s}'"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("invalid ip or cidr range: '{s}'"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        // an IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (std::net::IpAddr::V4(n), std::net::IpAddr::V4(i)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(n) & mask == u32::from(i) & mask
            }
            (std::net::IpAddr::V6(n), std::net::IpAddr::V6(i)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

impl CheckConfig for IpRestrictionConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        if self.allow.as_ref().is_none_or(Vec::is_empty)
            && self.deny.as_ref().is_none_or(Vec::is_empty)
        {
            errors.add(
                path.to_string(),
                "at least one of these fields must be non-empty: 'config.allow', 'config.deny'",
            );
        }
        for (field, list) in [("allow", &self.allow), ("deny", &self.deny)] {
            for (i, c) in list.iter().flatten().enumerate() {
                if let Err(m) = Cidr::parse(c) {
                    errors.add(path.field(field).index(i), m);
                }
            }
        }
        if let Some(s) = self.status
            && !(100..=599).contains(&s)
        {
            errors.add(path.field("status"), "value should be between 100 and 599");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = |s: &str| Cidr::parse(s).unwrap_or_else(|e| panic!("{e}"));
        let ip = |s: &str| {
            s.parse::<std::net::IpAddr>()
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert!(c("10.0.0.0/8").contains(ip("10.1.2.3")));
        assert!(!c("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(c("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(c("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
        assert!(c("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(c("2001:db8::/32").contains(ip("2001:db8::1")));
        assert!(!c("2001:db8::/32").contains(ip("2001:db9::1")));
        assert!(!c("::1").contains(ip("127.0.0.1")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
    }
}
