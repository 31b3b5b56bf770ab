//! `TenantId`: a tenant name that is safe as one path segment and as a SQL literal, parsed once
//! at the boundary (clap, config, tokens file, queue attribute) so nothing downstream re-checks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Tenant of events that name none (the seed's single-tenant deployments).
pub const DEFAULT: &str = "default";

/// Longest tenant name accepted (it becomes a directory name and part of every partition key).
pub const MAX_LEN: usize = 128;

/// Is `tenant` usable as one path segment that Athena's injected projection can also name?
/// Letters, digits, `-`, `_` and `.` only, so a tenant can never escape its directory.
pub fn valid(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= MAX_LEN
        && tenant != "."
        && tenant != ".."
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The one refusal message for a bad tenant name, in the user's terms.
pub fn refusal(tenant: &str) -> String {
    format!(
        "invalid tenant {tenant:?}: 1 to {MAX_LEN} letters, digits, '-', '_' or '.' (not '.' or '..')"
    )
}

/// Checks a tenant name that arrived as a plain string (library entry points keep this as a
/// second line of defence; faces parse into [`TenantId`] first).
pub fn check(tenant: &str) -> crate::error::Result<()> {
    if valid(tenant) {
        Ok(())
    } else {
        Err(crate::error::Error::Config(refusal(tenant)))
    }
}

/// A checked tenant name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for TenantId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if valid(s) {
            Ok(TenantId(s.to_string()))
        } else {
            Err(refusal(s))
        }
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if valid(&s) {
            Ok(TenantId(s))
        } else {
            Err(refusal(&s))
        }
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for TenantId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid("acme"));
        assert!(valid("acme-prod_2.eu"));
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "ä",
            "a'b",
            &"x".repeat(MAX_LEN + 1),
        ] {
            assert!(!valid(bad), "{bad:?} accepted");
            assert!(bad.parse::<TenantId>().is_err());
        }
        let t: TenantId = "acme".parse().expect("valid");
        assert_eq!(t.as_str(), "acme");
        assert!(serde_json::from_str::<TenantId>("\"../x\"").is_err());
    }
}
