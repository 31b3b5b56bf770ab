//! Saved audit queries and reports, stored as YAML in the lake (`_catalog/queries/NAME.yaml`,
//! `_catalog/reports/NAME.yaml`) so every face sees the same ones, plus an audit record of each
//! run (`_catalog/runs/YYYY-MM-DD/<uuidv7>.json`).

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::Lake;

/// A saved audit query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedQuery {
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub sql: String,
    /// Shown with the results when rows are found.
    #[serde(default)]
    pub suggestion: String,
    pub created_at: String,
}

/// A saved report: a titled list of saved queries (by name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedReport {
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub queries: Vec<String>,
    pub created_at: String,
}

/// What a run leaves behind: who ran what, over which window, and what it cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub at: String,
    pub who: String,
    pub kind: String,
    pub name: String,
    pub tenant: Option<String>,
    pub days: Option<u32>,
    pub bytes_scanned: u64,
    pub duration_ms: u64,
    pub success: bool,
    pub error: Option<String>,
}

/// `^[a-z0-9][a-z0-9_-]{0,62}$`: safe as an object name on every store.
pub fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

#[derive(Clone, Copy)]
enum Kind {
    Query,
    Report,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Query => "_catalog/queries",
            Kind::Report => "_catalog/reports",
        }
    }
    fn word(self) -> &'static str {
        match self {
            Kind::Query => "query",
            Kind::Report => "report",
        }
    }
}

/// The saved queries and reports of one lake.
pub struct Catalog<'a> {
    lake: &'a Lake,
    /// Names that cannot be created over, changed or removed (the built-in report and its
    /// queries; `analysis::report::saved` fills them in — the store does not know reports).
    reserved: Vec<String>,
}

impl<'a> Catalog<'a> {
    pub fn new(lake: &'a Lake) -> Self {
        Catalog {
            lake,
            reserved: Vec::new(),
        }
    }

    /// The same catalog, refusing to write or remove `names`.
    pub fn reserving(mut self, names: Vec<String>) -> Self {
        self.reserved = names;
        self
    }

    fn check_name(&self, kind: Kind, name: &str) -> Result<()> {
        if !valid_name(name) {
            return Err(Error::Config(format!(
                "invalid {} name '{name}' (lowercase letters, digits, _ and -, up to 63)",
                kind.word()
            )));
        }
        if self.reserved.iter().any(|b| b == name) {
            return Err(Error::NotAllowed(format!(
                "'{name}' is built in, it cannot be created, changed or removed"
            )));
        }
        Ok(())
    }

    async fn exists(&self, kind: Kind, name: &str) -> Result<bool> {
        let path = self.lake.path(&format!("{}/{name}.yaml", kind.dir()));
        match self.lake.store().head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Error::Store {
                path: path.to_string(),
                source: e,
            }),
        }
    }

    async fn put<T: Serialize>(&self, kind: Kind, name: &str, v: &T) -> Result<()> {
        let text = serde_yaml::to_string(v).map_err(|e| Error::Yaml {
            what: format!("saved {} '{name}'", kind.word()),
            source: e,
        })?;
        let path = self.lake.path(&format!("{}/{name}.yaml", kind.dir()));
        self.lake
            .store()
            .put(&path, PutPayload::from(Bytes::from(text)))
            .await
            .map_err(|e| Error::Store {
                path: path.to_string(),
                source: e,
            })?;
        Ok(())
    }

    async fn read<T: for<'de> Deserialize<'de>>(&self, kind: Kind, name: &str) -> Result<T> {
        let path = self.lake.path(&format!("{}/{name}.yaml", kind.dir()));
        let bytes = match self.lake.store().get(&path).await {
            Ok(r) => r.bytes().await.map_err(|e| Error::Store {
                path: path.to_string(),
                source: e,
            })?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::Config(format!(
                    "no saved {} '{name}' (`auditlake {}s ls` lists them)",
                    kind.word(),
                    kind.word()
                )));
            }
            Err(e) => {
                return Err(Error::Store {
                    path: path.to_string(),
                    source: e,
                });
            }
        };
        serde_yaml::from_slice(&bytes).map_err(|e| Error::Other(format!("{path}: {e}")))
    }

    async fn names(&self, kind: Kind) -> Result<Vec<String>> {
        let prefix = self.lake.path(kind.dir());
        let metas: Vec<_> = self
            .lake
            .store()
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| Error::Store {
                path: prefix.to_string(),
                source: e,
            })?;
        let mut v: Vec<String> = metas
            .iter()
            .filter_map(|m| {
                m.location
                    .filename()?
                    .strip_suffix(".yaml")
                    .map(str::to_string)
            })
            .collect();
        v.sort();
        Ok(v)
    }

    async fn remove(&self, kind: Kind, name: &str) -> Result<()> {
        self.check_name(kind, name)?;
        if !self.exists(kind, name).await? {
            return Err(Error::Config(format!("no saved {} '{name}'", kind.word())));
        }
        let path = self.lake.path(&format!("{}/{name}.yaml", kind.dir()));
        self.lake
            .store()
            .delete(&path)
            .await
            .map_err(|e| Error::Store {
                path: path.to_string(),
                source: e,
            })
    }

    /// Saves a query. The caller has checked that it plans (the store knows no engine).
    pub async fn create_query(&self, q: &SavedQuery, replace: bool) -> Result<()> {
        self.check_name(Kind::Query, &q.name)?;
        if !replace && self.exists(Kind::Query, &q.name).await? {
            return Err(Error::Config(format!(
                "saved query '{}' exists (use --replace)",
                q.name
            )));
        }
        self.put(Kind::Query, &q.name, q).await
    }

    pub async fn query(&self, name: &str) -> Result<SavedQuery> {
        self.read(Kind::Query, name).await
    }

    pub async fn queries(&self) -> Result<Vec<String>> {
        self.names(Kind::Query).await
    }

    pub async fn remove_query(&self, name: &str) -> Result<()> {
        self.remove(Kind::Query, name).await
    }

    /// Saves a report; every query it lists must exist.
    pub async fn create_report(&self, r: &SavedReport, replace: bool) -> Result<()> {
        self.check_name(Kind::Report, &r.name)?;
        if r.queries.is_empty() {
            return Err(Error::Config("a report needs at least one query".into()));
        }
        for q in &r.queries {
            if !self.exists(Kind::Query, q).await? {
                return Err(Error::Config(format!(
                    "report '{}' lists unknown query '{q}'",
                    r.name
                )));
            }
        }
        if !replace && self.exists(Kind::Report, &r.name).await? {
            return Err(Error::Config(format!(
                "saved report '{}' exists (use --replace)",
                r.name
            )));
        }
        self.put(Kind::Report, &r.name, r).await
    }

    pub async fn report(&self, name: &str) -> Result<SavedReport> {
        self.read(Kind::Report, name).await
    }

    pub async fn reports(&self) -> Result<Vec<String>> {
        self.names(Kind::Report).await
    }

    pub async fn remove_report(&self, name: &str) -> Result<()> {
        self.remove(Kind::Report, name).await
    }

    /// Leaves the audit record of a run in the lake.
    pub async fn record_run(&self, rec: &RunRecord) -> Result<()> {
        let date = &rec.at[..10.min(rec.at.len())];
        let path = self.lake.path(&format!(
            "_catalog/runs/{date}/{}.json",
            uuid::Uuid::now_v7()
        ));
        let body = serde_json::to_vec(rec).map_err(|e| Error::json("a run record", e))?;
        self.lake
            .store()
            .put(&path, PutPayload::from(Bytes::from(body)))
            .await
            .map_err(|e| Error::Store {
                path: path.to_string(),
                source: e,
            })?;
        Ok(())
    }
}

/// Where the cross-source identity map lives: `tenant_id,identity,person` CSV with a header.
pub const IDENTITIES_CSV: &str = "_catalog/identities.csv";

impl Catalog<'_> {
    /// Replaces the identity map (one person's names across sources).
    pub async fn put_identities(&self, csv: &str) -> Result<()> {
        let path = self.lake.path(IDENTITIES_CSV);
        self.lake
            .store()
            .put(&path, PutPayload::from(Bytes::from(csv.to_string())))
            .await
            .map_err(|e| Error::Store {
                path: path.to_string(),
                source: e,
            })?;
        Ok(())
    }

    /// The identity map as `(tenant_id, identity, person)`; empty when the lake has none.
    pub async fn identities(&self) -> Result<Vec<(String, String, String)>> {
        let path = self.lake.path(IDENTITIES_CSV);
        let bytes = match self.lake.store().get(&path).await {
            Ok(r) => r.bytes().await.map_err(|e| Error::Store {
                path: path.to_string(),
                source: e,
            })?,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::Store {
                    path: path.to_string(),
                    source: e,
                });
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        Ok(text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let (t, rest) = l.split_once(',')?;
                let (i, p) = rest.rsplit_once(',')?;
                Some((
                    t.trim().to_string(),
                    i.trim().to_string(),
                    p.trim().to_string(),
                ))
            })
            .filter(|(t, i, p)| !t.is_empty() && !i.is_empty() && !p.is_empty())
            .collect())
    }
}

/// Who is running: `$AUDITLAKE_USER`, else `$USER`, else "unknown".
pub fn current_user() -> String {
    std::env::var("AUDITLAKE_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert!(super::valid_name("root-logins_2"));
        assert!(!super::valid_name("Root"));
        assert!(!super::valid_name("../x"));
        assert!(!super::valid_name(""));
        assert!(!super::valid_name("-x"));
    }
}
