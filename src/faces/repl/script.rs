//! Cutting input into items: a line starting with `\` at the start of a statement is a
//! meta-command; everything else accumulates until a top-level `;` (not inside a string or a
//! comment), then goes to the statement splitter, which cuts the original text.

use crate::error::Result;

/// One unit of input: a SQL statement or a backslash meta-command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Sql(String),
    Meta(String),
}

/// Splits a script into items.
pub fn split_script(text: &str) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut buf = String::new();
    for line in text.lines() {
        if buf.trim().is_empty() && line.trim_start().starts_with('\\') {
            buf.clear();
            items.push(Item::Meta(line.trim().to_string()));
            continue;
        }
        buf.push_str(line);
        buf.push('\n');
        if ends_statement(&buf) {
            items.extend(
                crate::query::statements::split(&buf)?
                    .into_iter()
                    .map(Item::Sql),
            );
            buf.clear();
        }
    }
    if !buf.trim().is_empty() {
        items.extend(
            crate::query::statements::split(&buf)?
                .into_iter()
                .map(Item::Sql),
        );
    }
    Ok(items)
}

/// Does the text end with a top-level `;` (not inside a string or comment)?
pub fn ends_statement(text: &str) -> bool {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    match Tokenizer::new(&GenericDialect {}, text).tokenize() {
        Ok(tokens) => {
            tokens
                .iter()
                .rev()
                .find(|t| !matches!(t, Token::Whitespace(_)))
                == Some(&Token::SemiColon)
        }
        // An unterminated string or comment: not finished yet.
        Err(_) => false,
    }
}

/// Is this input (what the shell has collected so far) ready to run: empty, a meta-command,
/// or a statement ending with `;`?
pub fn is_complete(input: &str) -> bool {
    input.trim().is_empty() || input.trim_start().starts_with('\\') || ends_statement(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_into_statements_and_meta_commands() {
        let items = split_script("\\timing on\nSELECT 1;\nSELECT\n  'a;b' -- ; not here\n;\n\\d cert_create\nSELECT 2; SELECT 3;").unwrap();
        assert_eq!(items.len(), 6, "{items:?}");
        assert_eq!(items[0], Item::Meta("\\timing on".into()));
        assert!(matches!(&items[2], Item::Sql(s) if s.contains("'a;b'")));
        assert_eq!(items[3], Item::Meta("\\d cert_create".into()));
    }

    #[test]
    fn statement_end_ignores_strings_and_comments() {
        assert!(ends_statement("SELECT 1;"));
        assert!(ends_statement("SELECT 1;  \n"));
        assert!(!ends_statement("SELECT ';"));
        assert!(!ends_statement("SELECT 1 -- ;"));
        assert!(!ends_statement("SELECT 1"));
        assert!(is_complete("\\d"));
        assert!(!is_complete("SELECT 1\nFROM x"));
    }
}
