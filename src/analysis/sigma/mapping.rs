//! Sigma's `logsource` → our `event_source`, and a Sigma field → an SQL expression: a typed
//! column where the column holds exactly that field, else a path into the vendor's record in
//! `event_data` read with Trino's `json_extract_scalar`. Users extend the tables with a YAML
//! file (`--mapping`); docs/sigma.md lists the built-in ones.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::rule::{LogSource, RuleResult};
use crate::error::{Error, Result};

/// Longest Sigma field name we accept.
const MAX_FIELD_LEN: usize = 256;

/// How one `event_source` is reached from Sigma.
#[derive(Debug, Clone)]
pub struct Source {
    /// Our `event_source` value (`aws`, `okta`, `github`, `teleport`).
    pub event_source: String,
    /// Sigma's `logsource.product`.
    pub product: String,
    /// Accepted `logsource.service` values (an absent service is always accepted).
    pub services: Vec<String>,
    /// Sigma field → typed column holding exactly that field.
    pub columns: BTreeMap<String, String>,
    /// Sigma field → keys into the record, where the field's dots are not the path.
    pub paths: BTreeMap<String, Vec<String>>,
}

/// Every source mapping in force.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub sources: Vec<Source>,
}

fn cols(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn paths(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.iter().map(|s| s.to_string()).collect()))
        .collect()
}

impl Default for Mapping {
    /// The built-in tables (docs/sigma.md). Only columns that hold the field byte for byte
    /// are used; everything else is read from `event_data`.
    fn default() -> Self {
        Mapping {
            sources: vec![
                Source {
                    event_source: "aws".into(),
                    product: "aws".into(),
                    services: vec!["cloudtrail".into()],
                    columns: cols(&[("eventName", "event_type"), ("eventSource", "aws_service")]),
                    paths: BTreeMap::new(),
                },
                Source {
                    event_source: "okta".into(),
                    product: "okta".into(),
                    services: vec!["okta".into()],
                    // SigmaHQ's Okta rules spell two fields in lower case.
                    columns: cols(&[("eventType", "event_type"), ("eventtype", "event_type")]),
                    paths: paths(&[("displaymessage", &["displayMessage"])]),
                },
                Source {
                    event_source: "github".into(),
                    product: "github".into(),
                    services: vec!["audit".into()],
                    columns: cols(&[("action", "event_type")]),
                    paths: BTreeMap::new(),
                },
                Source {
                    event_source: "teleport".into(),
                    product: "teleport".into(),
                    services: vec!["audit".into()],
                    columns: cols(&[("event", "event_type")]),
                    // Teleport writes these keys with a literal dot.
                    paths: paths(&[
                        ("addr.remote", &["addr.remote"]),
                        ("addr.local", &["addr.local"]),
                    ]),
                },
            ],
        }
    }
}

/// A user's mapping file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMapping {
    sources: Vec<FileSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSource {
    product: String,
    event_source: Option<String>,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    columns: BTreeMap<String, String>,
    /// Sigma field → dotted path (`a.b`) or list of keys (`["addr.remote"]`).
    #[serde(default)]
    fields: BTreeMap<String, PathSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PathSpec {
    Dotted(String),
    Keys(Vec<String>),
}

impl Mapping {
    /// The built-in tables extended (or overridden, entry by entry) by a YAML file.
    pub fn with_file(path: &Path) -> Result<Mapping> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        if text.len() > 1 << 20 {
            return Err(Error::Config(format!(
                "sigma mapping {}: larger than 1 MiB",
                path.display()
            )));
        }
        let f: FileMapping = serde_yaml::from_str(&text).map_err(|e| Error::Yaml {
            what: format!("the sigma mapping {}", path.display()),
            source: e,
        })?;
        let mut m = Mapping::default();
        let bad = |msg: String| Error::Config(format!("sigma mapping {}: {msg}", path.display()));
        for s in f.sources {
            for (field, col) in &s.columns {
                if crate::schema::column_index(col).is_none() {
                    return Err(bad(format!(
                        "`{field}` maps to `{col}`, not a column of events"
                    )));
                }
            }
            let mut p = BTreeMap::new();
            for (field, spec) in s.fields {
                let keys = match spec {
                    PathSpec::Dotted(d) => d.split('.').map(str::to_string).collect(),
                    PathSpec::Keys(k) => k,
                };
                check_keys(&keys).map_err(|e| bad(format!("field `{field}`: {e}")))?;
                p.insert(field, keys);
            }
            match m.sources.iter_mut().find(|x| x.product == s.product) {
                Some(x) => {
                    if let Some(es) = s.event_source {
                        x.event_source = es;
                    }
                    x.services.extend(s.services);
                    x.columns.extend(s.columns);
                    x.paths.extend(p);
                }
                None => m.sources.push(Source {
                    event_source: s.event_source.ok_or_else(|| {
                        bad(format!(
                            "new product `{}` needs an `event_source`",
                            s.product
                        ))
                    })?,
                    product: s.product,
                    services: s.services,
                    columns: s.columns,
                    paths: p,
                }),
            }
        }
        Ok(m)
    }

    /// The source a rule's `logsource` selects.
    pub fn source(&self, ls: &LogSource) -> RuleResult<&Source> {
        if let Some(c) = &ls.category {
            return Err(format!(
                "logsource category `{c}` has no mapping (audit logs are selected by product and service)"
            ));
        }
        let Some(product) = &ls.product else {
            return Err("logsource names no product (aws, okta, github, teleport)".into());
        };
        let s = self
            .sources
            .iter()
            .find(|s| s.product.eq_ignore_ascii_case(product))
            .ok_or_else(|| {
                format!("logsource product `{product}` has no mapping (add one with --mapping)")
            })?;
        if let Some(svc) = &ls.service
            && !s.services.iter().any(|x| x.eq_ignore_ascii_case(svc))
        {
            return Err(format!(
                "logsource product `{product}` service `{svc}` has no mapping (known: {})",
                s.services.join(", ")
            ));
        }
        Ok(s)
    }
}

fn check_keys(keys: &[String]) -> RuleResult<()> {
    if keys.is_empty() || keys.iter().any(String::is_empty) {
        return Err("an empty path segment".into());
    }
    for k in keys {
        if k.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
            return Err(format!(
                "path segment `{k}` holds a quote, backslash or control character"
            ));
        }
    }
    Ok(())
}

impl Source {
    /// The SQL expression that reads `field` (text, NULL when absent).
    pub fn field_sql(&self, field: &str) -> RuleResult<String> {
        if field.len() > MAX_FIELD_LEN {
            return Err(format!("a field name longer than {MAX_FIELD_LEN} bytes"));
        }
        if let Some(c) = self.columns.get(field) {
            return Ok(c.clone());
        }
        let keys: Vec<String> = match self.paths.get(field) {
            Some(k) => k.clone(),
            None => field.split('.').map(str::to_string).collect(),
        };
        check_keys(&keys).map_err(|e| format!("field `{field}`: {e}"))?;
        let path: String = keys.iter().map(|k| format!("[\"{k}\"]")).collect();
        Ok(format!(
            "json_extract_scalar(event_data, {})",
            super::sql::literal(&format!("${path}"))
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_fields_map_to_columns_or_paths() {
        let m = Mapping::default();
        let aws = m
            .source(&LogSource {
                product: Some("aws".into()),
                service: Some("cloudtrail".into()),
                category: None,
            })
            .unwrap();
        assert_eq!(aws.field_sql("eventName").unwrap(), "event_type");
        assert_eq!(
            aws.field_sql("userIdentity.type").unwrap(),
            r#"json_extract_scalar(event_data, '$["userIdentity"]["type"]')"#
        );
        assert!(aws.field_sql("a\"b").is_err());
        let tp = &m.sources[3];
        assert_eq!(
            tp.field_sql("addr.remote").unwrap(),
            r#"json_extract_scalar(event_data, '$["addr.remote"]')"#
        );
        let e = m
            .source(&LogSource {
                product: Some("windows".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.contains("windows"), "{e}");
        let e = m
            .source(&LogSource {
                product: Some("aws".into()),
                service: Some("s3".into()),
                category: None,
            })
            .unwrap_err();
        assert!(e.contains("service `s3`"), "{e}");
    }
}
