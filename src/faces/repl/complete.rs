//! Tab completion: what the shell knows (views, tables, their columns, functions, keywords,
//! detections) and which candidates a word gets. Meta-command names and their arguments come
//! from the command table (`command::COMMANDS`), the same one `\?` prints.

use std::collections::{BTreeMap, HashSet};

use super::command::{self, ArgCompletion};
use crate::query::engine::Engine;

/// What completion knows.
#[derive(Debug, Default)]
pub struct Completions {
    pub tables: Vec<String>,
    pub columns: BTreeMap<String, Vec<String>>,
    pub functions: Vec<String>,
    pub detections: Vec<String>,
}

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "LIMIT",
    "HAVING",
    "DISTINCT",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "BETWEEN",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "ON",
    "UNION",
    "ALL",
    "WITH",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "INTERVAL",
    "DATE",
    "TIMESTAMP",
    "DESC",
    "ASC",
    "COUNT",
    "EXPLAIN",
    "ANALYZE",
    "DESCRIBE",
    "SHOW",
    "TABLES",
    "COLUMNS",
    "NULLS",
    "LAST",
    "FIRST",
    "OVER",
    "PARTITION",
];

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Completions {
    pub async fn load(engine: &Engine) -> Completions {
        let ctx = engine.context();
        let mut c = Completions::default();
        let mut tables = engine.view_names();
        tables.push(engine.options().table.clone());
        for t in &tables {
            if let Ok(df) = ctx.table(t.as_str()).await {
                c.columns.insert(
                    t.clone(),
                    df.schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect(),
                );
            }
        }
        c.tables = tables;
        let state = ctx.state();
        let mut f: Vec<String> = state.scalar_functions().keys().cloned().collect();
        f.extend(state.aggregate_functions().keys().cloned());
        f.extend(state.window_functions().keys().cloned());
        // Internal rewrite targets (`__trino_…`) are not for typing.
        f.retain(|n| !n.starts_with("__"));
        f.sort();
        f.dedup();
        c.functions = f;
        c.detections = crate::analysis::alerts::detections()
            .map(|d| d.into_iter().map(|d| d.name).collect())
            .unwrap_or_default();
        c
    }

    /// Candidates for the word ending at `pos` in `line`: (start of the word, candidates).
    /// `before` is the statement's earlier lines, if it spans several (their views count).
    pub fn complete_in(&self, before: &str, line: &str, pos: usize) -> (usize, Vec<String>) {
        let head = &line[..pos];
        let start = head
            .rfind(|c: char| !(is_word_char(c) || c == '\\'))
            .map_or(0, |i| i + 1);
        let word = &head[start..];
        if word.starts_with('\\') {
            let v: Vec<String> = command::names()
                .filter(|c| c.starts_with(word))
                .map(str::to_string)
                .collect();
            return (start, v);
        }
        // The argument of a meta-command: what its table row says it completes to.
        if before.trim().is_empty()
            && let Some(rest) = head.trim_start().strip_prefix('\\')
            && let Some((cmd, _)) = rest.split_once(char::is_whitespace)
            && let Some(spec) = command::lookup(&format!("\\{cmd}"))
        {
            let pool: Vec<String> = match spec.completes {
                ArgCompletion::None => vec![],
                ArgCompletion::Words(ws) => ws.iter().map(|w| w.to_string()).collect(),
                ArgCompletion::Tables => self.tables.clone(),
                ArgCompletion::Detections => self.detections.clone(),
            };
            return (
                start,
                pool.into_iter().filter(|w| w.starts_with(word)).collect(),
            );
        }
        if word.is_empty() {
            return (start, vec![]);
        }
        let lw = word.to_lowercase();
        let upper = word.chars().next().is_some_and(|c| c.is_uppercase());
        let mut out: Vec<String> = Vec::new();
        // Columns of the views the statement names come first (that is what one types most),
        // then those of every other view: before the FROM is typed, `SELECT identity_cli` ⇥
        // still finds `identity_client_ip` (as DuckDB's shell does).
        let statement = format!("{before}\n{line}").to_lowercase();
        let named: HashSet<&str> = statement
            .split(|c: char| !is_word_char(c))
            .filter(|w| self.columns.contains_key(*w))
            .collect();
        let (first, rest): (Vec<_>, Vec<_>) = self
            .columns
            .iter()
            .partition(|(t, _)| named.contains(t.as_str()));
        for (_, cols) in first.into_iter().chain(rest) {
            out.extend(cols.iter().filter(|c| c.starts_with(&lw)).cloned());
        }
        out.extend(self.tables.iter().filter(|t| t.starts_with(&lw)).cloned());
        out.extend(
            KEYWORDS
                .iter()
                .filter(|k| k.to_lowercase().starts_with(&lw))
                .map(|k| {
                    if upper {
                        k.to_string()
                    } else {
                        k.to_lowercase()
                    }
                }),
        );
        out.extend(
            self.functions
                .iter()
                .filter(|f| f.starts_with(&lw))
                .cloned(),
        );
        let mut seen = HashSet::new();
        out.retain(|c| seen.insert(c.clone()));
        (start, out)
    }

    /// Candidates for a one-line statement.
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        self.complete_in("", line, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Completions {
        let mut c = Completions {
            tables: vec!["cert_create".into(), "session_start".into()],
            detections: vec!["impossible_travel".into()],
            ..Default::default()
        };
        c.columns.insert(
            "cert_create".into(),
            vec!["identity_user".into(), "identity_client_ip".into()],
        );
        c.columns
            .insert("session_start".into(), vec!["login".into()]);
        c.functions = vec!["json_extract_scalar".into()];
        c
    }

    #[test]
    fn completes_columns_of_named_views_first() {
        let c = sample();
        let (start, v) = c.complete("SELECT ident FROM cert_create", 12);
        assert_eq!(start, 7);
        assert_eq!(
            v,
            vec!["identity_user".to_string(), "identity_client_ip".into()]
        );
        assert_eq!(
            c.complete("SELECT * FROM cert_c", 20).1,
            vec!["cert_create".to_string()]
        );
        assert!(
            c.complete("select json_ex", 14)
                .1
                .contains(&"json_extract_scalar".to_string())
        );
        assert!(c.complete("\\fo", 3).1.contains(&"\\format".to_string()));
        assert_eq!(c.complete("SEL", 3).1, vec!["SELECT".to_string()]);
    }

    #[test]
    fn without_a_from_every_view_s_columns_complete() {
        let c = sample();
        assert_eq!(
            c.complete("SELECT identity_cli", 19).1,
            vec!["identity_client_ip".to_string()]
        );
        // Named views rank first; the others follow.
        let (_, v) = c.complete("SELECT l FROM session_start", 8);
        assert_eq!(v.first().map(String::as_str), Some("login"));
        let (_, v) = c.complete_in("SELECT i", "FROM cert_create WHERE l", 24);
        assert_eq!(v.first().map(String::as_str), Some("login"));
        // A column of a view named on an earlier line ranks first on a later one.
        let mut c = sample();
        c.columns
            .insert("session_start".into(), vec!["login".into(), "lz".into()]);
        c.columns.insert("cert_create".into(), vec!["la".into()]);
        let (_, v) = c.complete_in("SELECT * FROM session_start", "WHERE l", 7);
        assert_eq!(v[..2], ["login".to_string(), "lz".into()]);
        assert_eq!(v[2], "la");
    }

    #[test]
    fn meta_command_arguments_complete_from_the_table() {
        let c = sample();
        assert_eq!(c.complete("\\format nd", 10).1, vec!["ndjson".to_string()]);
        assert_eq!(
            c.complete("\\d sess", 7).1,
            vec!["session_start".to_string()]
        );
        assert_eq!(
            c.complete("\\alerts imp", 11).1,
            vec!["impossible_travel".to_string()]
        );
        assert!(c.complete("\\rows 1", 7).1.is_empty());
    }
}
