//! The SQL a Sigma rule compiles to: one Trino statement over `events` (no `;`, syntax both
//! engines parse) returning the alert columns of `sql/detections/` — identity, event_source,
//! event_time, uid, severity, the rule's id and title — then evidence columns. Correlations
//! are window or anchored self-join SQL with pySigma's semantics: each matching event anchors
//! the window `[event_time - timespan, event_time]` of its group.

use super::rule::{CorrelationKind, Threshold};

/// A Trino string literal (quotes doubled; backslashes are literal in both engines).
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An output column name for a Sigma field: lower case, `[a-z0-9_]`, never one of the alert
/// columns (Athena lower-cases names anyway, so this keeps both engines' names equal).
pub fn alias(field: &str, taken: &[String]) -> String {
    let mut a: String = field
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if a.is_empty() || a.starts_with(|c: char| c.is_ascii_digit()) {
        a.insert_str(0, "f_");
    }
    const RESERVED: &[&str] = &[
        "identity",
        "event_source",
        "event_time",
        "uid",
        "severity",
        "sigma_id",
        "sigma_title",
    ];
    while RESERVED.contains(&a.as_str()) || a.starts_with("sigma_") || taken.contains(&a) {
        a.insert_str(0, "f_");
    }
    a
}

/// What every statement reports about its rule.
#[derive(Debug, Clone)]
pub struct Meta {
    pub id: String,
    pub title: String,
    pub severity: &'static str,
}

fn head(m: &Meta, prefix: &str) -> String {
    format!(
        "  {prefix}identity\n  , {prefix}event_source\n  , {prefix}event_time\n  , {prefix}uid\n  , {} AS severity\n  , {} AS sigma_id\n  , {} AS sigma_title\n",
        literal(m.severity),
        literal(&m.id),
        literal(&m.title)
    )
}

/// A detection rule: the rows of `event_source` where `predicate` holds.
pub fn detection(
    m: &Meta,
    event_source: &str,
    predicate: &str,
    evidence: &[(String, String)],
) -> String {
    let mut s = String::from("SELECT\n");
    s.push_str(&head(m, ""));
    for (a, e) in evidence {
        s.push_str(&format!("  , {e} AS {a}\n"));
    }
    s.push_str(&format!(
        "FROM events\nWHERE event_source = {}\n  AND {predicate}",
        literal(event_source)
    ));
    s
}

/// One referenced rule of a correlation, compiled for its own source.
#[derive(Debug, Clone)]
pub struct Part {
    pub event_source: String,
    pub predicate: String,
    /// The group-by fields' expressions in this rule's source.
    pub groups: Vec<String>,
    /// `value_count`'s field in this rule's source.
    pub value: Option<String>,
}

/// A correlation rule over its referenced rules.
pub fn correlation(
    m: &Meta,
    kind: CorrelationKind,
    parts: &[Part],
    group_aliases: &[String],
    timespan_secs: u64,
    threshold: Threshold,
) -> String {
    let ng = group_aliases.len();
    let gs: Vec<String> = (0..ng).map(|i| format!("sigma_g{i}")).collect();
    let cols = |p: &str| -> String { gs.iter().map(|g| format!(", {p}{g}")).collect() };
    let mut base = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let groups: String = p
            .groups
            .iter()
            .zip(&gs)
            .map(|(e, g)| format!(", lower({e}) AS {g}"))
            .collect();
        let value = p
            .value
            .as_ref()
            .map(|v| format!(", lower({v}) AS sigma_v"))
            .unwrap_or_default();
        base.push(format!(
            "  SELECT identity, event_source, event_time, uid, {i} AS sigma_rule{groups}{value}\n  FROM events\n  WHERE event_source = {}\n    AND {}",
            literal(&p.event_source),
            p.predicate
        ));
    }
    // Sigma drops events whose group key is absent (pySigma's `missing_group_key`).
    let guard = if gs.is_empty() {
        "1 = 1".to_string()
    } else {
        gs.iter()
            .map(|g| format!("{g} IS NOT NULL"))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let span = format!("INTERVAL '{timespan_secs}' SECOND");
    let partition = if gs.is_empty() {
        String::new()
    } else {
        format!("PARTITION BY {} ", gs.join(", "))
    };
    let window = format!(
        "OVER ({partition}ORDER BY event_time RANGE BETWEEN {span} PRECEDING AND CURRENT ROW)"
    );
    let same_group = |a: &str, b: &str| -> String {
        gs.iter()
            .map(|g| format!("{a}.{g} = {b}.{g} AND "))
            .collect()
    };
    let keys = |p: &str| {
        format!(
            "{p}identity, {p}event_source, {p}event_time, {p}uid{}",
            cols(p)
        )
    };
    let mut ctes = vec![format!(
        "sigma_base AS (\n{}\n)",
        base.join("\n  UNION ALL\n")
    )];
    let metric = kind.as_str();
    let (from, distinct) = match kind {
        CorrelationKind::EventCount => {
            ctes.push(format!(
                "sigma_events AS (\n  SELECT DISTINCT {}\n  FROM sigma_base\n  WHERE {guard}\n)",
                keys("")
            ));
            ctes.push(format!(
                "sigma_metric AS (\n  SELECT {}, COUNT(*) {window} AS {metric}\n  FROM sigma_events\n)",
                keys("")
            ));
            ("sigma_metric", "")
        }
        CorrelationKind::ValueCount => {
            ctes.push(format!(
                "sigma_events AS (\n  SELECT DISTINCT {}, sigma_v\n  FROM sigma_base\n  WHERE {guard}\n)",
                keys("")
            ));
            ctes.push(format!(
                "sigma_metric AS (\n  SELECT {}, COUNT(DISTINCT m.sigma_v) AS {metric}\n  FROM sigma_events a\n  JOIN sigma_events m ON {}m.event_time BETWEEN a.event_time - {span} AND a.event_time\n  GROUP BY {}\n)",
                keys("a."),
                same_group("a", "m"),
                keys("a.")
            ));
            ("sigma_metric", "")
        }
        CorrelationKind::Temporal => {
            let sum: Vec<String> = (0..parts.len())
                .map(|i| format!("MAX(CASE WHEN sigma_rule = {i} THEN 1 ELSE 0 END) {window}"))
                .collect();
            ctes.push(format!(
                "sigma_metric AS (\n  SELECT {}, {} AS {metric}\n  FROM sigma_base\n  WHERE {guard}\n)",
                keys(""),
                sum.join("\n    + ")
            ));
            // An event matching two of the rules is two base rows with one window.
            ("sigma_metric", " DISTINCT")
        }
        CorrelationKind::TemporalOrdered => {
            ctes.push(format!(
                "sigma_m AS (\n  SELECT DISTINCT event_time, sigma_rule{}\n  FROM sigma_base\n  WHERE {guard}\n)",
                cols("")
            ));
            ctes.push(format!(
                "sigma_a AS (\n  SELECT DISTINCT {}\n  FROM sigma_base\n  WHERE {guard}\n)",
                keys("")
            ));
            // The earliest first-rule event in the window, then for each next rule the
            // earliest event strictly after the previous one: a chain exists iff this does.
            let mut prev = "sigma_a".to_string();
            for i in 0..parts.len() {
                let lower = if i == 0 {
                    format!("m.event_time >= p.event_time - {span}")
                } else {
                    "m.event_time > p.sigma_q".to_string()
                };
                let name = format!("sigma_q{i}");
                ctes.push(format!(
                    "{name} AS (\n  SELECT {}, MIN(m.event_time) AS sigma_q\n  FROM {prev} p\n  JOIN sigma_m m ON {}m.sigma_rule = {i} AND {lower} AND m.event_time <= p.event_time\n  GROUP BY {}\n)",
                    keys("p."),
                    same_group("p", "m"),
                    keys("p.")
                ));
                prev = name;
            }
            ctes.push(format!(
                "sigma_metric AS (\n  SELECT {}, {} AS {metric}\n  FROM {prev}\n)",
                keys(""),
                parts.len()
            ));
            ("sigma_metric", "")
        }
    };
    let mut s = format!("WITH {}\nSELECT{distinct}\n", ctes.join(",\n"));
    s.push_str(&head(m, ""));
    for (g, a) in gs.iter().zip(group_aliases) {
        s.push_str(&format!("  , {g} AS {a}\n"));
    }
    s.push_str(&format!("  , {metric}\nFROM {from}\n"));
    s.push_str(&format!(
        "WHERE {metric} {} {}",
        threshold.op,
        number(threshold.count)
    ));
    s
}

fn number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f:e}")
    }
}
