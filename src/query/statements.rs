//! Statements as the user typed them: splitting a script at top-level `;` by cutting the
//! original text (never re-printing tokens, which would lose quote escaping), and the
//! read-only SQL options every engine path applies.

use datafusion::execution::context::SQLOptions;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

use crate::error::{Error, Result};

/// DDL, DML and statements like `SET` are refused: every face is read-only.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Splits a script into statements at top-level `;` using the SQL tokenizer (so a `;` inside
/// a string, quoted name or comment does not split). Each statement is a slice of the original
/// text, trimmed, so it runs byte for byte as typed (`'O''Brien'` stays `'O''Brien'`). Each is
/// checked to parse before anything runs; statements holding only comments are dropped.
pub fn split(text: &str) -> Result<Vec<String>> {
    let stmts: Vec<String> = cut(text)?
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty() && !is_only_comments(s))
        .map(str::to_string)
        .collect();
    for s in &stmts {
        super::engine::check_shape(s)?;
        datafusion::sql::parser::DFParser::parse_sql(s)
            .map_err(|e| Error::Sql(format!("syntax error: {e}")))?;
    }
    Ok(stmts)
}

/// The pieces of `text` between top-level semicolons (untrimmed; the separators dropped).
pub fn cut(text: &str) -> Result<Vec<&str>> {
    let tokens = Tokenizer::new(&GenericDialect {}, text)
        .tokenize_with_location()
        .map_err(|e| Error::Sql(format!("syntax error: {e}")))?;
    let index = LineIndex::new(text);
    let mut out = Vec::new();
    let mut start = 0;
    for t in tokens {
        if t.token == Token::SemiColon {
            // The tokenizer's location must land on the `;` itself; where it does not (the
            // fuzzer found `/*! … ; */`, a MySQL-style comment whose inner tokens carry the
            // comment's position), cutting there would change the statement: refuse instead.
            let at = index
                .offset(text, t.span.start)
                .filter(|&at| text.as_bytes().get(at) == Some(&b';'))
                .ok_or_else(|| {
                    Error::Sql("syntax error: cannot locate a ';' in the statement text".into())
                })?;
            out.push(&text[start..at]);
            start = at + 1;
        }
    }
    out.push(&text[start..]);
    Ok(out)
}

fn is_only_comments(s: &str) -> bool {
    s.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with("--")
    })
}

/// Byte offsets of line starts, to turn the tokenizer's (line, column-in-chars) into a byte
/// offset into the text.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn offset(&self, text: &str, loc: Location) -> Option<usize> {
        let line_start = *self
            .starts
            .get(usize::try_from(loc.line).ok()?.checked_sub(1)?)?;
        let col = usize::try_from(loc.column).ok()?.checked_sub(1)?;
        let rest = text.get(line_start..)?;
        match rest.char_indices().nth(col) {
            Some((i, _)) => Some(line_start + i),
            None if col == rest.chars().count() => Some(text.len()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_keep_their_text() {
        let s = split("SELECT 'O''Brien';  select 'a;b' -- c;\n ; SELECT \"x;\"\"y\" FROM t")
            .expect("split");
        assert_eq!(
            s,
            vec![
                "SELECT 'O''Brien'",
                "select 'a;b' -- c;",
                "SELECT \"x;\"\"y\" FROM t"
            ]
        );
        let s = split("SELECT 1 WHERE identity = 'x'' OR ''1''=''1'").expect("split");
        assert_eq!(s, vec!["SELECT 1 WHERE identity = 'x'' OR ''1''=''1'"]);
        // Multi-byte characters before a separator: offsets are bytes, columns are chars.
        let s = split("SELECT 'äöü€';\nSELECT '日本';").expect("split");
        assert_eq!(s, vec!["SELECT 'äöü€'", "SELECT '日本'"]);
        assert!(split("-- only a comment\n;\n").expect("split").is_empty());
        assert!(split("SELECT 'unterminated").is_err());
    }
}
