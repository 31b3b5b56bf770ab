//! Sigma rule YAML → typed rule: the attributes we read (title, id, name, status, level,
//! logsource, detection or correlation, fields, falsepositives, tags) and nothing guessed.
//! Anything we do not understand is a per-rule error naming it, so a rule never compiles into
//! a query that means something else.

use serde_yaml::Value;

/// A per-rule refusal: the rule is skipped with this reason, the others go on.
pub type RuleResult<T> = std::result::Result<T, String>;

/// Values in one rule (after expansions such as `|windash`); a rule over it is refused.
pub const MAX_VALUES: usize = 10_000;
/// Nesting of YAML a rule may use; Sigma rules need 4–5 levels.
pub const MAX_YAML_DEPTH: usize = 16;

/// One Sigma document.
#[derive(Debug, Clone)]
pub struct Rule {
    pub title: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub level: Option<String>,
    pub description: Option<String>,
    pub logsource: LogSource,
    pub body: Body,
    /// Fields the rule names as evidence (`fields:`).
    pub fields: Vec<String>,
    pub tags: Vec<String>,
    pub falsepositives: Vec<String>,
}

/// `logsource:`; all optional in Sigma.
#[derive(Debug, Clone, Default)]
pub struct LogSource {
    pub product: Option<String>,
    pub service: Option<String>,
    pub category: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Body {
    Detection(Detection),
    Correlation(Correlation),
}

/// `detection:`: named searches and the condition over them.
#[derive(Debug, Clone)]
pub struct Detection {
    pub searches: Vec<(String, Search)>,
    pub condition: String,
}

/// One search identifier's content.
#[derive(Debug, Clone)]
pub enum Search {
    /// A map (one element) or a list of maps: OR of ANDs of field items.
    Maps(Vec<Vec<FieldItem>>),
    /// A plain value or list of values: keywords, matched anywhere in the record.
    Keywords(Vec<Scalar>),
}

/// `field|mod1|mod2: value(s)`.
#[derive(Debug, Clone)]
pub struct FieldItem {
    pub field: String,
    pub modifiers: Vec<String>,
    pub values: Vec<Scalar>,
}

/// A YAML scalar as Sigma reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    /// A number, as written (`5`, `1.5`).
    Num(String),
    Bool(bool),
    Null,
}

impl Scalar {
    fn from_yaml(v: &Value, what: &str) -> RuleResult<Scalar> {
        Ok(match v {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => Scalar::Num(n.to_string()),
            Value::String(s) => Scalar::Str(clean(s, what)?.to_string()),
            Value::Sequence(_) => return Err(format!("{what}: a nested list as a value")),
            Value::Mapping(_) => return Err(format!("{what}: a nested map as a value")),
            Value::Tagged(_) => return Err(format!("{what}: a tagged YAML value")),
        })
    }

    /// The value as text (`null` has none).
    pub fn text(&self) -> Option<String> {
        match self {
            Scalar::Str(s) | Scalar::Num(s) => Some(s.clone()),
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::Null => None,
        }
    }
}

/// The correlation types of Sigma's correlation specification that we compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

impl CorrelationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationKind::EventCount => "event_count",
            CorrelationKind::ValueCount => "value_count",
            CorrelationKind::Temporal => "temporal",
            CorrelationKind::TemporalOrdered => "temporal_ordered",
        }
    }
}

/// A comparison of a correlation's metric (`gte: 10`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub op: &'static str,
    pub count: f64,
}

/// `correlation:`.
#[derive(Debug, Clone)]
pub struct Correlation {
    pub kind: CorrelationKind,
    /// Referenced rules, by `name` or `id`.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_secs: u64,
    /// None for temporal types without a condition (all rules must match).
    pub threshold: Option<Threshold>,
    /// `value_count`'s field.
    pub field: Option<String>,
    /// Whether the referenced rules also alert on their own.
    pub generate: bool,
}

fn depth(v: &Value, d: usize) -> RuleResult<()> {
    if d > MAX_YAML_DEPTH {
        return Err(format!(
            "nested deeper than {MAX_YAML_DEPTH} levels (not a Sigma rule shape)"
        ));
    }
    match v {
        Value::Sequence(s) => s.iter().try_for_each(|x| depth(x, d + 1)),
        Value::Mapping(m) => m.values().try_for_each(|x| depth(x, d + 1)),
        Value::Tagged(t) => depth(&t.value, d + 1),
        _ => Ok(()),
    }
}

/// Control characters (other than tab and line breaks) have no business in a rule and would
/// travel into SQL literals and terminals: refused.
fn clean<'a>(s: &'a str, what: &str) -> RuleResult<&'a str> {
    match s
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some(c) => Err(format!("{what}: control character U+{:04X}", c as u32)),
        None => Ok(s),
    }
}

fn str_of(v: Option<&Value>, what: &str) -> RuleResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(clean(s, what)?.to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(format!("`{what}` is not a string")),
    }
}

fn str_list(v: Option<&Value>, what: &str) -> RuleResult<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Sequence(s)) => s
            .iter()
            .map(|x| str_of(Some(x), what)?.ok_or_else(|| format!("`{what}` holds an empty entry")))
            .collect(),
        Some(_) => Err(format!("`{what}` is not a list of strings")),
    }
}

/// Reads one YAML document as a Sigma rule.
pub fn parse(doc: &Value) -> RuleResult<Rule> {
    depth(doc, 0)?;
    let Value::Mapping(m) = doc else {
        return Err("a Sigma rule is a YAML map".into());
    };
    let get = |k: &str| m.get(k);
    if let Some(a) = str_of(get("action"), "action")? {
        return Err(format!(
            "rule collection action `{a}` (global/reset/repeat documents) is not supported"
        ));
    }
    let title = str_of(get("title"), "title")?.ok_or("the rule has no `title`")?;
    let logsource = match get("logsource") {
        None | Some(Value::Null) => LogSource::default(),
        Some(Value::Mapping(l)) => LogSource {
            product: str_of(l.get("product"), "logsource.product")?,
            service: str_of(l.get("service"), "logsource.service")?,
            category: str_of(l.get("category"), "logsource.category")?,
        },
        Some(_) => return Err("`logsource` is not a map".into()),
    };
    let body = match (get("detection"), get("correlation")) {
        (Some(d), None) => Body::Detection(detection(d)?),
        (None, Some(c)) => Body::Correlation(correlation(c)?),
        (Some(_), Some(_)) => return Err("a rule has both `detection` and `correlation`".into()),
        (None, None) => return Err("the rule has neither `detection` nor `correlation`".into()),
    };
    Ok(Rule {
        title,
        id: str_of(get("id"), "id")?,
        name: str_of(get("name"), "name")?,
        status: str_of(get("status"), "status")?,
        level: str_of(get("level"), "level")?,
        description: str_of(get("description"), "description")?,
        logsource,
        body,
        fields: str_list(get("fields"), "fields")?,
        tags: str_list(get("tags"), "tags")?,
        falsepositives: str_list(get("falsepositives"), "falsepositives")?,
    })
}

fn field_items(m: &serde_yaml::Mapping, search: &str) -> RuleResult<Vec<FieldItem>> {
    let mut out = Vec::new();
    for (k, v) in m {
        let key = match k {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(format!(
                    "search `{search}`: a field name that is not a string"
                ));
            }
        };
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default().to_string();
        if field.is_empty() {
            return Err(format!(
                "search `{search}`: modifiers without a field (`{key}`) are not supported"
            ));
        }
        let modifiers: Vec<String> = parts.map(str::to_string).collect();
        let what = format!("search `{search}`, field `{field}`");
        let values = match v {
            Value::Sequence(s) => {
                if s.is_empty() {
                    return Err(format!("{what}: an empty list of values"));
                }
                s.iter()
                    .map(|x| Scalar::from_yaml(x, &what))
                    .collect::<RuleResult<Vec<_>>>()?
            }
            x => vec![Scalar::from_yaml(x, &what)?],
        };
        out.push(FieldItem {
            field,
            modifiers,
            values,
        });
    }
    if out.is_empty() {
        return Err(format!("search `{search}` is an empty map"));
    }
    Ok(out)
}

fn detection(d: &Value) -> RuleResult<Detection> {
    let Value::Mapping(m) = d else {
        return Err("`detection` is not a map".into());
    };
    let mut searches = Vec::new();
    let mut condition = None;
    let mut values = 0usize;
    for (k, v) in m {
        let Value::String(name) = k else {
            return Err("a search identifier that is not a string".into());
        };
        match name.as_str() {
            "condition" => {
                condition = Some(match v {
                    Value::String(s) => s.clone(),
                    Value::Sequence(s) if s.len() == 1 => {
                        str_of(s.first(), "condition")?.ok_or("`condition` holds an empty entry")?
                    }
                    Value::Sequence(_) => {
                        return Err("a list of several conditions is not supported".into());
                    }
                    _ => return Err("`condition` is not a string".into()),
                });
            }
            "timeframe" => {
                return Err(
                    "`timeframe` (Sigma v1 aggregation) is not supported; use a correlation rule"
                        .into(),
                );
            }
            _ => {
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
                    || name.is_empty()
                {
                    return Err(format!(
                        "search identifier `{name}` has characters other than letters, digits, `_`, `-`, `.`"
                    ));
                }
                let s = match v {
                    Value::Mapping(fm) => Search::Maps(vec![field_items(fm, name)?]),
                    Value::Sequence(items) if !items.is_empty() => {
                        if items.iter().all(|x| matches!(x, Value::Mapping(_))) {
                            let mut ors = Vec::new();
                            for x in items {
                                let Value::Mapping(fm) = x else {
                                    unreachable!()
                                };
                                ors.push(field_items(fm, name)?);
                            }
                            Search::Maps(ors)
                        } else if items
                            .iter()
                            .all(|x| !matches!(x, Value::Mapping(_) | Value::Sequence(_)))
                        {
                            Search::Keywords(
                                items
                                    .iter()
                                    .map(|x| Scalar::from_yaml(x, name))
                                    .collect::<RuleResult<_>>()?,
                            )
                        } else {
                            return Err(format!(
                                "search `{name}` mixes maps and plain values in one list"
                            ));
                        }
                    }
                    Value::Sequence(_) => return Err(format!("search `{name}` is an empty list")),
                    x => Search::Keywords(vec![Scalar::from_yaml(x, name)?]),
                };
                values += match &s {
                    Search::Maps(m) => m.iter().flatten().map(|f| f.values.len()).sum(),
                    Search::Keywords(k) => k.len(),
                };
                searches.push((name.clone(), s));
            }
        }
    }
    if values > MAX_VALUES {
        return Err(format!(
            "{values} values in one rule (at most {MAX_VALUES})"
        ));
    }
    let condition = condition.ok_or("`detection` has no `condition`")?;
    Ok(Detection {
        searches,
        condition,
    })
}

/// `5m`, `1h`, `30s`, `2d`, `1w` → seconds (at most a year).
pub fn timespan(s: &str) -> RuleResult<u64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("timespan `{s}` is not a number and a unit (30s, 5m, 1h, 1d)"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "M" | "y" => {
            return Err(format!(
                "timespan unit `{unit}` (months, years) is not supported; use days"
            ));
        }
        _ => return Err(format!("timespan `{s}`: unknown unit `{unit}`")),
    };
    let secs = n.saturating_mul(mult);
    if secs == 0 || secs > 366 * 86_400 {
        return Err(format!("timespan `{s}` must be between 1s and 366d"));
    }
    Ok(secs)
}

fn correlation(c: &Value) -> RuleResult<Correlation> {
    let Value::Mapping(m) = c else {
        return Err("`correlation` is not a map".into());
    };
    let kind = match str_of(m.get("type"), "correlation.type")?.as_deref() {
        Some("event_count") => CorrelationKind::EventCount,
        Some("value_count") => CorrelationKind::ValueCount,
        Some("temporal") => CorrelationKind::Temporal,
        Some("temporal_ordered") => CorrelationKind::TemporalOrdered,
        Some(o) => return Err(format!("correlation type `{o}` is not supported")),
        None => return Err("the correlation has no `type`".into()),
    };
    if m.get("aliases").is_some() {
        return Err("correlation `aliases` are not supported".into());
    }
    let rules = str_list(m.get("rules"), "correlation.rules")?;
    if rules.is_empty() {
        return Err("the correlation names no `rules`".into());
    }
    if rules.len() > 16 {
        return Err(format!(
            "{} rules in one correlation (at most 16)",
            rules.len()
        ));
    }
    let group_by = str_list(m.get("group-by"), "correlation.group-by")?;
    if group_by.len() > 8 {
        return Err("more than 8 group-by fields".into());
    }
    let timespan_secs = timespan(
        &str_of(
            m.get("timespan").or(m.get("timeframe")),
            "correlation.timespan",
        )?
        .ok_or("the correlation has no `timespan`")?,
    )?;
    let generate = match m.get("generate") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("`generate` is not true or false".into()),
    };
    let (mut threshold, mut field) = (None, None);
    match m.get("condition") {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(cm)) => {
            for (k, v) in cm {
                let k = k
                    .as_str()
                    .ok_or("a correlation condition key is not a string")?;
                match k {
                    "field" => {
                        field = Some(
                            str_of(Some(v), "condition.field")?
                                .ok_or("`condition.field` is empty")?,
                        )
                    }
                    "gt" | "gte" | "lt" | "lte" | "eq" | "neq" => {
                        if threshold.is_some() {
                            return Err(
                                "a correlation condition with more than one comparison is not supported"
                                    .into(),
                            );
                        }
                        let count = match v {
                            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                            _ => f64::NAN,
                        };
                        if !count.is_finite() {
                            return Err(format!("correlation condition `{k}` is not a number"));
                        }
                        let op = match k {
                            "gt" => ">",
                            "gte" => ">=",
                            "lt" => "<",
                            "lte" => "<=",
                            "eq" => "=",
                            _ => "<>",
                        };
                        threshold = Some(Threshold { op, count });
                    }
                    o => return Err(format!("correlation condition `{o}` is not supported")),
                }
            }
        }
        Some(Value::String(_)) => {
            return Err(
                "a boolean correlation condition (extended temporal) is not supported".into(),
            );
        }
        Some(_) => return Err("`correlation.condition` is not a map".into()),
    }
    match kind {
        CorrelationKind::EventCount | CorrelationKind::ValueCount if threshold.is_none() => {
            return Err(format!(
                "a {} correlation needs a condition (gte: N …)",
                kind.as_str()
            ));
        }
        CorrelationKind::ValueCount if field.is_none() => {
            return Err("a value_count correlation needs `condition.field`".into());
        }
        _ => {}
    }
    if field.is_some() && kind != CorrelationKind::ValueCount {
        return Err(format!(
            "`condition.field` in a {} correlation",
            kind.as_str()
        ));
    }
    Ok(Correlation {
        kind,
        rules,
        group_by,
        timespan_secs,
        threshold,
        field,
        generate,
    })
}
