//! Sigma's `condition` language: search identifiers, `and`/`or`/`not`, parentheses,
//! `1 of`/`all of` over identifier patterns (`selection*`) and `them`. Parsing is bounded in
//! tokens and nesting, so a hostile condition is refused instead of overflowing the stack.

use super::rule::RuleResult;

/// Tokens a condition may have.
const MAX_TOKENS: usize = 4096;
/// Parentheses and `not`s nested deeper than this are refused.
const MAX_DEPTH: usize = 64;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Search(String),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    /// `1 of pattern` (any) or `all of pattern`; `them` is the pattern `*` without `_…`.
    Of {
        all: bool,
        pattern: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Word(String),
}

fn lex(s: &str) -> RuleResult<Vec<Tok>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<Tok>| {
        if !cur.is_empty() {
            out.push(Tok::Word(std::mem::take(cur)));
        }
    };
    for c in s.chars() {
        match c {
            '(' | ')' => {
                flush(&mut cur, &mut out);
                out.push(if c == '(' { Tok::LParen } else { Tok::RParen });
            }
            '|' => {
                return Err(
                    "an aggregation in the condition (`| count() …`, Sigma v1) is not supported; use a correlation rule"
                        .into(),
                );
            }
            c if c.is_whitespace() => flush(&mut cur, &mut out),
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*') => cur.push(c),
            c => return Err(format!("character `{c}` in the condition")),
        }
        if out.len() > MAX_TOKENS {
            return Err(format!("a condition of more than {MAX_TOKENS} tokens"));
        }
    }
    flush(&mut cur, &mut out);
    Ok(out)
}

struct P {
    toks: Vec<Tok>,
    pos: usize,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn or(&mut self, d: usize) -> RuleResult<Cond> {
        let mut v = vec![self.and(d)?];
        while is_kw(self.peek(), "or") {
            self.pos += 1;
            v.push(self.and(d)?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Cond::Or(v)
        })
    }
    fn and(&mut self, d: usize) -> RuleResult<Cond> {
        let mut v = vec![self.not(d)?];
        while is_kw(self.peek(), "and") {
            self.pos += 1;
            v.push(self.not(d)?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Cond::And(v)
        })
    }
    fn not(&mut self, d: usize) -> RuleResult<Cond> {
        if d > MAX_DEPTH {
            return Err(format!("a condition nested deeper than {MAX_DEPTH} levels"));
        }
        if is_kw(self.peek(), "not") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not(d + 1)?)));
        }
        self.primary(d)
    }
    fn primary(&mut self, d: usize) -> RuleResult<Cond> {
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let c = self.or(d + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err("unbalanced parentheses in the condition".into());
                }
                self.pos += 1;
                Ok(c)
            }
            Some(Tok::Word(w)) => {
                self.pos += 1;
                let low = w.to_ascii_lowercase();
                if is_kw(self.peek(), "of") {
                    let all = match low.as_str() {
                        "1" | "any" => false,
                        "all" => true,
                        n => {
                            return Err(format!(
                                "`{n} of` is not supported (only `1 of` and `all of`)"
                            ));
                        }
                    };
                    self.pos += 1;
                    let Some(Tok::Word(pattern)) = self.peek().cloned() else {
                        return Err(format!("`{low} of` without a pattern"));
                    };
                    self.pos += 1;
                    return Ok(Cond::Of { all, pattern });
                }
                match low.as_str() {
                    "and" | "or" | "not" | "of" | "them" => {
                        Err(format!("unexpected `{w}` in the condition"))
                    }
                    _ if w.contains('*') => Err(format!(
                        "pattern `{w}` outside `1 of`/`all of` in the condition"
                    )),
                    _ => Ok(Cond::Search(w)),
                }
            }
            Some(Tok::RParen) => Err("unbalanced parentheses in the condition".into()),
            None => Err("the condition ends too early".into()),
        }
    }
}

/// Parses a condition.
pub fn parse(s: &str) -> RuleResult<Cond> {
    let toks = lex(s)?;
    if toks.is_empty() {
        return Err("the condition is empty".into());
    }
    let mut p = P { toks, pos: 0 };
    let c = p.or(0)?;
    if let Some(t) = p.peek() {
        return Err(format!("unexpected {t:?} in the condition"));
    }
    Ok(c)
}

/// Whether a search identifier matches a `1 of`/`all of` pattern (`*` only).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    if pattern.eq_ignore_ascii_case("them") {
        return !name.starts_with('_');
    }
    // Iterative glob match with backtracking to the last star: linear in practice.
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut i, mut j, mut star, mut mark) = (0usize, 0usize, None, 0usize);
    while j < n.len() {
        if i < p.len() && p[i] != '*' && p[i] == n[j] {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
        i += 1;
    }
    i == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_not_and_or() {
        let c = parse("a or not b and (c or d)").unwrap();
        assert_eq!(
            c,
            Cond::Or(vec![
                Cond::Search("a".into()),
                Cond::And(vec![
                    Cond::Not(Box::new(Cond::Search("b".into()))),
                    Cond::Or(vec![Cond::Search("c".into()), Cond::Search("d".into())]),
                ]),
            ])
        );
        assert_eq!(
            parse("1 of sel* and not all of them").unwrap(),
            Cond::And(vec![
                Cond::Of {
                    all: false,
                    pattern: "sel*".into()
                },
                Cond::Not(Box::new(Cond::Of {
                    all: true,
                    pattern: "them".into()
                })),
            ])
        );
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert!(
            parse("sel | count() > 5")
                .unwrap_err()
                .contains("aggregation")
        );
        assert!(parse("2 of sel*").unwrap_err().contains("`2 of`"));
        assert!(parse("(a or b").unwrap_err().contains("parentheses"));
        assert!(parse("a b").is_err());
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).is_err());
        let nots = format!("{}a", "not ".repeat(200));
        assert!(parse(&nots).unwrap_err().contains("nested"));
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("sel*", "selection"));
        assert!(pattern_matches("*_x", "a_x"));
        assert!(!pattern_matches("sel*", "filter"));
        assert!(pattern_matches("them", "filter"));
        assert!(!pattern_matches("them", "_helper"));
    }
}
