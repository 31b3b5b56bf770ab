//! Saved audit queries and reports, stored as YAML in the lake so every face sees the same
//! ones, plus an audit record of each run — all of it per tenant: tenant `default` keeps the
//! original layout (`_catalog/queries/NAME.yaml`, `_catalog/reports/NAME.yaml`,
//! `_catalog/runs/YYYY-MM-DD/<uuidv7>.json`, so catalogs written before tenants existed read as
//! `default`'s), every other tenant the same under `_catalog/tenants/{tenant}/`. A catalog scoped
//! to a tenant (a Flight token, `--tenant`) sees only that tenant's; the operator's view (no
//! tenant) sees all, other tenants' names labelled `tenant/name`.

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

/// Root of the catalog in the lake.
const ROOT: &str = "_catalog";
/// Where tenants other than `default` keep theirs.
const TENANTS: &str = "_catalog/tenants";

/// The catalog directory of one tenant.
fn tenant_root(tenant: &str) -> String {
    if tenant == crate::tenant::DEFAULT {
        ROOT.to_string()
    } else {
        format!("{TENANTS}/{tenant}")
    }
}

/// Whose saved objects a catalog sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogScope {
    /// One tenant's only (a Flight token, the CLI with `--tenant`).
    Tenant(String),
    /// Every tenant's: the operator (the CLI without `--tenant`). Unqualified names are
    /// `default`'s; `tenant/name` names another tenant's.
    All,
}

impl Kind {
    fn sub(self) -> &'static str {
        match self {
            Kind::Query => "queries",
            Kind::Report => "reports",
        }
    }
    fn word(self) -> &'static str {
        match self {
            Kind::Query => "query",
            Kind::Report => "report",
        }
    }
}

/// The saved queries and reports of one lake, as one scope sees them.
pub struct Catalog<'a> {
    lake: &'a Lake,
    scope: CatalogScope,
    /// Names that cannot be created over, changed or removed (the built-in report and its
    /// queries; `analysis::report::saved` fills them in — the store does not know reports).
    reserved: Vec<String>,
}

impl<'a> Catalog<'a> {
    /// The operator's view: every tenant's catalog.
    pub fn new(lake: &'a Lake) -> Self {
        Catalog::with_scope(lake, CatalogScope::All)
    }

    /// The catalog as `scope` sees it.
    pub fn with_scope(lake: &'a Lake, scope: CatalogScope) -> Self {
        Catalog {
            lake,
            scope,
            reserved: Vec::new(),
        }
    }

    /// Scoped to `tenant` when given, else the operator's view of all tenants.
    pub fn scoped(lake: &'a Lake, tenant: Option<&str>) -> Self {
        let scope = match tenant {
            Some(t) => CatalogScope::Tenant(t.to_string()),
            None => CatalogScope::All,
        };
        Catalog::with_scope(lake, scope)
    }

    /// `(tenant, bare name)` of a name as this scope reads it: a tenant's catalog takes bare
    /// names only; the operator's takes `tenant/name` too.
    fn locate(&self, name: &str) -> Result<(String, String)> {
        match (&self.scope, name.split_once('/')) {
            (CatalogScope::Tenant(t), None) => Ok((t.clone(), name.to_string())),
            (CatalogScope::Tenant(_), Some(_)) => Err(Error::Config(format!(
                "'{name}': a saved name has no '/' (another tenant's catalog is not visible here)"
            ))),
            (CatalogScope::All, None) => Ok((crate::tenant::DEFAULT.to_string(), name.to_string())),
            (CatalogScope::All, Some((t, n))) => {
                crate::tenant::check(t)?;
                Ok((t.to_string(), n.to_string()))
            }
        }
    }

    fn object(&self, kind: Kind, tenant: &str, name: &str) -> object_store::path::Path {
        self.lake.path(&format!(
            "{}/{}/{name}.yaml",
            tenant_root(tenant),
            kind.sub()
        ))
    }

    /// The same catalog, refusing to write or remove `names`.
    pub fn reserving(mut self, names: Vec<String>) -> Self {
        self.reserved = names;
        self
    }

    fn check_name(&self, kind: Kind, name: &str) -> Result<()> {
        let (_, name) = self.locate(name)?;
        let name = name.as_str();
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
        let (tenant, bare) = self.locate(name)?;
        let path = self.object(kind, &tenant, &bare);
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
        let (tenant, bare) = self.locate(name)?;
        let path = self.object(kind, &tenant, &bare);
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
        let (tenant, bare) = self.locate(name)?;
        let path = self.object(kind, &tenant, &bare);
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
        serde_yaml::from_slice(&bytes).map_err(|e| Error::Yaml {
            what: format!("{path}"),
            source: e,
        })
    }

    /// Bare names of one tenant's saved objects of a kind.
    async fn names_of(&self, kind: Kind, tenant: &str) -> Result<Vec<String>> {
        let prefix = self
            .lake
            .path(&format!("{}/{}", tenant_root(tenant), kind.sub()));
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
            // Only files directly in the directory (the default tenant's root also holds
            // `tenants/`).
            .filter(|m| {
                m.location
                    .prefix_match(&prefix)
                    .is_some_and(|mut r| r.next().is_some() && r.next().is_none())
            })
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

    /// Tenants other than `default` that have a catalog directory.
    async fn other_tenants(&self) -> Result<Vec<String>> {
        let prefix = self.lake.path(TENANTS);
        let listed = self
            .lake
            .store()
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|e| Error::Store {
                path: prefix.to_string(),
                source: e,
            })?;
        let mut v: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .filter(|t| crate::tenant::valid(t) && t != crate::tenant::DEFAULT)
            .collect();
        v.sort();
        Ok(v)
    }

    /// Names this scope sees: a tenant's own; for the operator, `default`'s bare and every
    /// other tenant's as `tenant/name`.
    async fn names(&self, kind: Kind) -> Result<Vec<String>> {
        match &self.scope {
            CatalogScope::Tenant(t) => self.names_of(kind, t).await,
            CatalogScope::All => {
                let mut v = self.names_of(kind, crate::tenant::DEFAULT).await?;
                for t in self.other_tenants().await? {
                    v.extend(
                        self.names_of(kind, &t)
                            .await?
                            .into_iter()
                            .map(|n| format!("{t}/{n}")),
                    );
                }
                Ok(v)
            }
        }
    }

    async fn remove(&self, kind: Kind, name: &str) -> Result<()> {
        self.check_name(kind, name)?;
        if !self.exists(kind, name).await? {
            return Err(Error::Config(format!("no saved {} '{name}'", kind.word())));
        }
        let (tenant, bare) = self.locate(name)?;
        let path = self.object(kind, &tenant, &bare);
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
        // A report's queries are its own tenant's.
        let prefix = r
            .name
            .split_once('/')
            .map(|(t, _)| format!("{t}/"))
            .unwrap_or_default();
        for q in &r.queries {
            if q.contains('/') {
                return Err(Error::Config(format!(
                    "report '{}' lists '{q}': name its queries without a tenant (they are the report's tenant's)",
                    r.name
                )));
            }
            if !self.exists(Kind::Query, &format!("{prefix}{q}")).await? {
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
        let tenant = rec.tenant.as_deref().unwrap_or(crate::tenant::DEFAULT);
        crate::tenant::check(tenant)?;
        let path = self.lake.path(&format!(
            "{}/runs/{date}/{}.json",
            tenant_root(tenant),
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
