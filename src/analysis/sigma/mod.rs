//! Sigma rules as detections: the user's rule files (YAML, Sigma's format) compiled to one
//! Trino statement each over `events`, so they run on both engines and over any replayed
//! period, through the same alert path as `sql/detections/`. A rule with a construct we do not
//! support is skipped with a reason naming it; the others run. docs/sigma.md has the subset
//! and the field mapping.

pub mod condition;
pub mod mapping;
pub mod rule;
pub mod sql;
pub mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analysis::alerts::{Detection, Severity};
use crate::error::{Error, Result};
use condition::Cond;
use mapping::{Mapping, Source};
use rule::{Body, Rule, RuleResult, Scalar, Search};
use value::{Budget, Part, and, or};

/// Largest rule file read.
pub const MAX_RULE_BYTES: u64 = 1 << 20;
/// Documents one file may hold.
pub const MAX_DOCS: usize = 64;
/// Rule files one run may load.
pub const MAX_RULE_FILES: usize = 10_000;
/// Largest statement a rule may compile to.
pub const MAX_SQL_BYTES: usize = 1 << 20;

/// A rule that compiled.
#[derive(Debug, Clone, Serialize)]
pub struct Compiled {
    /// The detection's name in alerts (`sigma:` + the rule's name, id or file stem).
    pub name: String,
    pub id: Option<String>,
    pub title: String,
    pub severity: Severity,
    pub file: PathBuf,
    pub event_sources: Vec<String>,
    pub description: String,
    pub sql: String,
}

/// A rule that did not, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub file: PathBuf,
    pub title: Option<String>,
    pub reason: String,
}

/// The outcome of loading rule files.
#[derive(Debug, Default, Serialize)]
pub struct RuleSet {
    pub compiled: Vec<Compiled>,
    pub skipped: Vec<Skipped>,
    /// Rules that only feed a correlation (`generate: false`), compiled into it.
    pub referenced: usize,
}

impl RuleSet {
    /// The compiled rules as detections for `analysis::alerts::run_detections`.
    pub fn detections(&self) -> Vec<Detection> {
        self.compiled
            .iter()
            .map(|c| Detection {
                name: c.name.clone(),
                title: c.title.clone(),
                severity: c.severity,
                sources: c.event_sources.clone(),
                description: c.description.clone(),
                sql: c.sql.clone(),
            })
            .collect()
    }
}

/// The `.yml`/`.yaml` files under the given files and directories, sorted, bounded.
pub fn rule_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = Vec::new();
    for p in paths {
        let md = std::fs::metadata(p).map_err(|e| Error::io("read", p, e))?;
        if md.is_dir() {
            stack.push(p.clone());
        } else {
            out.push(p.clone());
        }
    }
    // Iterative walk: a deep tree costs heap, not stack; symlinked directories are not followed.
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io("read", &d, e))?;
        for e in rd {
            let e = e.map_err(|e| Error::io("read", &d, e))?;
            let ft = e.file_type().map_err(|x| Error::io("read", e.path(), x))?;
            let path = e.path();
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() && path.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                out.push(path);
            }
            if out.len() + stack.len() > MAX_RULE_FILES {
                return Err(Error::Config(format!(
                    "more than {MAX_RULE_FILES} Sigma rule files under {}",
                    d.display()
                )));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// One document of one file.
struct Doc {
    file: PathBuf,
    index: usize,
    rule: RuleResult<Rule>,
}

fn read_docs(file: &Path, out: &mut Vec<Doc>, skipped: &mut Vec<Skipped>) -> Result<()> {
    let md = std::fs::metadata(file).map_err(|e| Error::io("read", file, e))?;
    let skip = |reason: String| Skipped {
        file: file.to_path_buf(),
        title: None,
        reason,
    };
    if md.len() > MAX_RULE_BYTES {
        skipped.push(skip(format!("larger than {MAX_RULE_BYTES} bytes")));
        return Ok(());
    }
    let text = std::fs::read_to_string(file).map_err(|e| Error::io("read", file, e))?;
    let mut docs = Vec::new();
    for de in serde_yaml::Deserializer::from_str(&text) {
        match serde_yaml::Value::deserialize(de) {
            Ok(serde_yaml::Value::Null) => {}
            Ok(v) => docs.push(v),
            Err(e) => {
                skipped.push(skip(format!("not valid YAML: {e}")));
                return Ok(());
            }
        }
        if docs.len() > MAX_DOCS {
            skipped.push(skip(format!("more than {MAX_DOCS} YAML documents")));
            return Ok(());
        }
    }
    for (index, v) in docs.iter().enumerate() {
        out.push(Doc {
            file: file.to_path_buf(),
            index,
            rule: rule::parse(v),
        });
    }
    Ok(())
}

/// Loads and compiles every rule under `paths` (files or directories).
pub fn load(paths: &[PathBuf], mapping: &Mapping) -> Result<RuleSet> {
    let mut docs = Vec::new();
    let mut set = RuleSet::default();
    for f in rule_files(paths)? {
        read_docs(&f, &mut docs, &mut set.skipped)?;
    }
    Ok(compile_docs(docs, mapping, set))
}

/// Compiles the rules of one YAML text (tests, `sigma convert` of stdin-like input).
pub fn compile_text(file: &Path, text: &str, mapping: &Mapping) -> RuleSet {
    let mut docs = Vec::new();
    for (index, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let rule = serde_yaml::Value::deserialize(de)
            .map_err(|e| format!("not valid YAML: {e}"))
            .and_then(|v| rule::parse(&v));
        docs.push(Doc {
            file: file.to_path_buf(),
            index,
            rule,
        });
    }
    compile_docs(docs, mapping, RuleSet::default())
}

fn compile_docs(docs: Vec<Doc>, mapping: &Mapping, mut set: RuleSet) -> RuleSet {
    // Rules a correlation refers to, by name and id.
    let mut by_ref: BTreeMap<String, usize> = BTreeMap::new();
    for (i, d) in docs.iter().enumerate() {
        if let Ok(r) = &d.rule {
            for k in [&r.name, &r.id].into_iter().flatten() {
                by_ref.entry(k.clone()).or_insert(i);
            }
        }
    }
    let mut feeding = BTreeSet::new();
    for d in &docs {
        if let Ok(Rule {
            body: Body::Correlation(c),
            ..
        }) = &d.rule
            && !c.generate
        {
            feeding.extend(c.rules.iter().filter_map(|r| by_ref.get(r).copied()));
        }
    }
    let mut names = BTreeSet::new();
    for (i, d) in docs.iter().enumerate() {
        let title = d.rule.as_ref().ok().map(|r| r.title.clone());
        let res = d.rule.clone().and_then(|r| {
            if feeding.contains(&i) && matches!(r.body, Body::Detection(_)) {
                return Ok(None);
            }
            compile_rule(&r, d, &docs, &by_ref, mapping).map(Some)
        });
        match res {
            Ok(None) => set.referenced += 1,
            Ok(Some(c)) => {
                if !names.insert(c.name.clone()) {
                    set.skipped.push(Skipped {
                        file: d.file.clone(),
                        title,
                        reason: format!("another rule already has the name `{}`", c.name),
                    });
                } else {
                    set.compiled.push(c);
                }
            }
            Err(reason) => set.skipped.push(Skipped {
                file: d.file.clone(),
                title,
                reason,
            }),
        }
    }
    set
}

fn severity(level: Option<&str>) -> RuleResult<Severity> {
    Ok(match level.map(str::to_ascii_lowercase).as_deref() {
        Some("critical") => Severity::Critical,
        Some("high") => Severity::High,
        None | Some("medium") => Severity::Medium,
        // Our alerts have no informational level; it is the least severe there is.
        Some("low") | Some("informational") => Severity::Low,
        Some(o) => return Err(format!("unknown level `{o}`")),
    })
}

fn compile_rule(
    r: &Rule,
    d: &Doc,
    docs: &[Doc],
    by_ref: &BTreeMap<String, usize>,
    mapping: &Mapping,
) -> RuleResult<Compiled> {
    let sev = severity(r.level.as_deref())?;
    let stem = d
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = format!(
        "sigma:{}",
        r.name
            .clone()
            .or(r.id.clone())
            .unwrap_or_else(|| if d.index == 0 {
                stem
            } else {
                format!("{stem}#{}", d.index)
            })
    );
    let meta = sql::Meta {
        id: r.id.clone().unwrap_or_else(|| name.clone()),
        title: r.title.clone(),
        severity: sev.as_str(),
    };
    let mut budget = Budget::default();
    let (text, sources) = match &r.body {
        Body::Detection(det) => {
            let src = mapping.source(&r.logsource)?;
            let pred = predicate(det, src, &mut budget)?;
            let mut taken = Vec::new();
            let mut evidence = Vec::new();
            for f in &r.fields {
                let a = sql::alias(f, &taken);
                taken.push(a.clone());
                evidence.push((a, src.field_sql(f)?));
            }
            (
                sql::detection(&meta, &src.event_source, &pred, &evidence),
                vec![src.event_source.clone()],
            )
        }
        Body::Correlation(c) => {
            let mut parts = Vec::new();
            let mut sources = Vec::new();
            for name in &c.rules {
                let idx = by_ref.get(name).ok_or_else(|| {
                    format!(
                        "the correlation refers to `{name}`, which is not among the loaded rules"
                    )
                })?;
                let base = docs[*idx]
                    .rule
                    .as_ref()
                    .map_err(|e| format!("referenced rule `{name}` is skipped: {e}"))?;
                let Body::Detection(det) = &base.body else {
                    return Err(format!(
                        "referenced rule `{name}` is a correlation (chained correlations are not supported)"
                    ));
                };
                let src = mapping
                    .source(&base.logsource)
                    .map_err(|e| format!("referenced rule `{name}`: {e}"))?;
                let pred = predicate(det, src, &mut budget)
                    .map_err(|e| format!("referenced rule `{name}`: {e}"))?;
                if !sources.contains(&src.event_source) {
                    sources.push(src.event_source.clone());
                }
                parts.push(sql::Part {
                    event_source: src.event_source.clone(),
                    predicate: pred,
                    groups: c
                        .group_by
                        .iter()
                        .map(|g| src.field_sql(g))
                        .collect::<RuleResult<_>>()?,
                    value: c.field.as_deref().map(|f| src.field_sql(f)).transpose()?,
                });
            }
            let k = parts.len() as f64;
            let ordered = c.kind == rule::CorrelationKind::TemporalOrdered;
            let threshold = match c.threshold {
                // Temporal types default to "all the rules" (pySigma's default).
                None => rule::Threshold { op: ">=", count: k },
                Some(t) if ordered && !(t.op == ">=" && t.count == k) => {
                    return Err("a temporal_ordered condition other than all rules (gte: number of rules) is not supported".into());
                }
                Some(t) => t,
            };
            let mut taken = Vec::new();
            let aliases: Vec<String> = c
                .group_by
                .iter()
                .map(|g| {
                    let a = sql::alias(g, &taken);
                    taken.push(a.clone());
                    a
                })
                .collect();
            (
                sql::correlation(&meta, c.kind, &parts, &aliases, c.timespan_secs, threshold),
                sources,
            )
        }
    };
    if text.len() > MAX_SQL_BYTES {
        return Err(format!(
            "the rule compiles to more than {MAX_SQL_BYTES} bytes of SQL"
        ));
    }
    Ok(Compiled {
        name,
        id: r.id.clone(),
        title: r.title.clone(),
        severity: sev,
        file: d.file.clone(),
        event_sources: sources,
        description: r.description.clone().unwrap_or_default(),
        sql: text,
    })
}

/// The WHERE predicate of a detection in `src`.
pub fn predicate(det: &rule::Detection, src: &Source, budget: &mut Budget) -> RuleResult<String> {
    let mut searches = Vec::with_capacity(det.searches.len());
    for (name, s) in &det.searches {
        searches.push((name.as_str(), search_sql(s, src, budget)?));
    }
    let cond = condition::parse(&det.condition)?;
    cond_sql(&cond, &searches)
}

fn search_sql(s: &Search, src: &Source, budget: &mut Budget) -> RuleResult<String> {
    match s {
        Search::Maps(ors) => {
            let mut alts = Vec::with_capacity(ors.len());
            for items in ors {
                let mut ands = Vec::with_capacity(items.len());
                for it in items {
                    let expr = src.field_sql(&it.field)?;
                    ands.push(value::item_sql(
                        &expr,
                        &it.field,
                        &it.modifiers,
                        &it.values,
                        &|f| src.field_sql(f),
                        budget,
                    )?);
                }
                alts.push(and(ands));
            }
            Ok(or(alts))
        }
        Search::Keywords(vals) => {
            let mut alts = Vec::with_capacity(vals.len());
            for v in vals {
                let mut p = match v {
                    Scalar::Str(s) => value::parse_str(s),
                    Scalar::Null => return Err("a null keyword".into()),
                    o => o
                        .text()
                        .unwrap_or_default()
                        .chars()
                        .map(Part::Lit)
                        .collect(),
                };
                // A keyword matches anywhere in the record's JSON text.
                if p.first() != Some(&Part::Any) {
                    p.insert(0, Part::Any);
                }
                if p.last() != Some(&Part::Any) {
                    p.push(Part::Any);
                }
                alts.push(value::match_sql("event_data", &p, false));
            }
            Ok(or(alts))
        }
    }
}

fn cond_sql(c: &Cond, searches: &[(&str, String)]) -> RuleResult<String> {
    Ok(match c {
        Cond::Search(n) => searches
            .iter()
            .find(|(s, _)| s == n)
            .map(|(_, sql)| sql.clone())
            .ok_or_else(|| {
                format!("the condition names `{n}`, which is not a search of the rule")
            })?,
        Cond::And(v) => and(v
            .iter()
            .map(|x| cond_sql(x, searches))
            .collect::<RuleResult<_>>()?),
        Cond::Or(v) => or(v
            .iter()
            .map(|x| cond_sql(x, searches))
            .collect::<RuleResult<_>>()?),
        // An absent field makes a comparison NULL; `not` must read that as false, as Sigma does.
        Cond::Not(x) => format!("NOT COALESCE({}, FALSE)", cond_sql(x, searches)?),
        Cond::Of { all, pattern } => {
            let hits: Vec<String> = searches
                .iter()
                .filter(|(n, _)| condition::pattern_matches(pattern, n))
                .map(|(_, s)| s.clone())
                .collect();
            if hits.is_empty() {
                return Err(format!("`of {pattern}` matches no search of the rule"));
            }
            if *all { and(hits) } else { or(hits) }
        }
    })
}
