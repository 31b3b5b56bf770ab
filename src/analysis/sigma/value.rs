//! One Sigma field item (`field|mod…: values`) → an SQL predicate: Sigma strings with their
//! wildcards and escapes, the value modifiers in the order written (as pySigma applies them),
//! case-insensitive unless `|cased`. Every modifier we do not implement is refused by name.

use base64_engine as b64;

use super::rule::{MAX_VALUES, RuleResult, Scalar};
use super::sql::literal;

/// A character of a Sigma string: literal, `*` (any run) or `?` (one character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Lit(char),
    Any,
    One,
}

/// A Sigma string after unescaping: `\*`, `\?` and `\\` are literals; a backslash before any
/// other character is itself literal (Sigma's rule, so Windows paths need no doubling).
pub fn parse_str(s: &str) -> Vec<Part> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    out.push(Part::Lit(n));
                    it.next();
                }
                _ => out.push(Part::Lit('\\')),
            },
            '*' => out.push(Part::Any),
            '?' => out.push(Part::One),
            c => out.push(Part::Lit(c)),
        }
    }
    out
}

fn lits(s: &str) -> Vec<Part> {
    s.chars().map(Part::Lit).collect()
}

fn has_wild(p: &[Part]) -> bool {
    p.iter().any(|x| !matches!(x, Part::Lit(_)))
}

fn plain(p: &[Part]) -> String {
    p.iter()
        .map(|x| match x {
            Part::Lit(c) => *c,
            Part::Any => '*',
            Part::One => '?',
        })
        .collect()
}

/// `expr` matches the Sigma string `p`: equality without wildcards, else LIKE with `\` as
/// the escape (the one escape DataFusion's LIKE accepts; Trino needs it spelled out).
pub fn match_sql(expr: &str, p: &[Part], cased: bool) -> String {
    let fold = |c: char| -> String {
        if cased {
            c.to_string()
        } else {
            c.to_lowercase().collect()
        }
    };
    let lhs = if cased {
        expr.to_string()
    } else {
        format!("lower({expr})")
    };
    if !has_wild(p) {
        let s: String = p
            .iter()
            .map(|x| match x {
                Part::Lit(c) => fold(*c),
                _ => unreachable!(),
            })
            .collect();
        return format!("{lhs} = {}", literal(&s));
    }
    let mut pat = String::new();
    for x in p {
        match x {
            Part::Lit(c @ ('%' | '_' | '\\')) => {
                pat.push('\\');
                pat.push(*c);
            }
            Part::Lit(c) => pat.push_str(&fold(*c)),
            Part::Any => pat.push('%'),
            Part::One => pat.push('_'),
        }
    }
    format!("{lhs} LIKE {} ESCAPE '\\'", literal(&pat))
}

/// Counts values a rule expands to, so a rule cannot blow up into a huge statement.
#[derive(Debug, Default)]
pub struct Budget(pub usize);

impl Budget {
    fn take(&mut self, n: usize) -> RuleResult<()> {
        self.0 = self.0.saturating_add(n);
        if self.0 > MAX_VALUES {
            return Err(format!("the rule expands to more than {MAX_VALUES} values"));
        }
        Ok(())
    }
}

const WINDASH: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

fn word(p: Option<&Part>) -> bool {
    matches!(p, Some(Part::Lit(c)) if c.is_alphanumeric() || *c == '_')
}

/// `|windash`: a `-` or `/` that starts a word (`\B[-/]\b`) also matches `/`, `-` and the
/// Unicode dashes; at most three such places per value, as pySigma.
fn windash(p: &[Part]) -> RuleResult<Vec<Vec<Part>>> {
    let spots: Vec<usize> = (0..p.len())
        .filter(|&i| {
            matches!(p[i], Part::Lit('-' | '/'))
                && !word(i.checked_sub(1).and_then(|j| p.get(j)))
                && word(p.get(i + 1))
        })
        .collect();
    if spots.len() > 3 {
        return Err("|windash expands at most three dashes in one value".into());
    }
    let mut out = vec![p.to_vec()];
    for &i in &spots {
        out = out
            .into_iter()
            .flat_map(|v| {
                WINDASH.iter().map(move |d| {
                    let mut w = v.clone();
                    w[i] = Part::Lit(*d);
                    w
                })
            })
            .collect();
    }
    Ok(out)
}

/// `|base64offset`: the value's encodings at the three offsets, cut so that they match inside
/// any longer encoded text (pySigma's table).
fn base64offset(data: &[u8]) -> Vec<String> {
    let start = [0usize, 2, 3];
    let end: [Option<usize>; 3] = [None, Some(3), Some(2)];
    (0..3)
        .map(|i| {
            let mut bytes = vec![b' '; i];
            bytes.extend_from_slice(data);
            let e = b64::encode(&bytes);
            let cut = end[(data.len() + i) % 3].map_or(e.len(), |n| e.len().saturating_sub(n));
            e.get(start[i]..cut).unwrap_or_default().to_string()
        })
        .collect()
}

/// An IPv4 network → Sigma wildcard prefixes (`10.*`), aligned on octets as pySigma does.
fn cidr(s: &str) -> RuleResult<Vec<Vec<Part>>> {
    let (addr, len) = s.split_once('/').unwrap_or((s, "32"));
    let ip: std::net::Ipv4Addr = addr.trim().parse().map_err(|_| {
        if addr.contains(':') {
            format!("|cidr over an IPv6 network (`{s}`) is not supported")
        } else {
            format!("|cidr: `{s}` is not an IPv4 network")
        }
    })?;
    let len: u32 = len
        .trim()
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("|cidr: bad prefix length in `{s}`"))?;
    let base = u32::from(ip) & u32::MAX.checked_shl(32 - len).unwrap_or(0);
    // Subnets ending on the next octet boundary: at most 2^7 of them.
    let aligned = len.div_ceil(8) * 8;
    let groups = (aligned / 8) as usize;
    let mut out = Vec::new();
    for k in 0..(1u32 << (aligned - len)) {
        let net = base | k.checked_shl(32 - aligned).unwrap_or(0);
        let octets = std::net::Ipv4Addr::from(net).octets();
        let txt = octets[..groups]
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(".");
        let mut p = lits(&txt);
        if groups < 4 {
            if groups > 0 {
                p.push(Part::Lit('.'));
            }
            p.push(Part::Any);
        }
        out.push(p);
    }
    Ok(out)
}

fn number(s: &Scalar, m: &str) -> RuleResult<String> {
    let t = match s {
        Scalar::Num(n) | Scalar::Str(n) => n.trim().to_string(),
        _ => return Err(format!("|{m} needs a number")),
    };
    let f: f64 = t
        .parse()
        .ok()
        .filter(|f: &f64| f.is_finite())
        .ok_or_else(|| format!("|{m} needs a number, not `{t}`"))?;
    // Scientific notation is a DOUBLE literal in both engines, whatever the magnitude.
    Ok(format!("{f:e}"))
}

const SUPPORTED: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "all",
    "cased",
    "re",
    "i",
    "m",
    "s",
    "cidr",
    "exists",
    "base64",
    "base64offset",
    "windash",
    "gt",
    "gte",
    "lt",
    "lte",
    "fieldref",
];

/// The predicate of one field item over `expr`; `field_sql` resolves `|fieldref` targets.
pub fn item_sql(
    expr: &str,
    field: &str,
    modifiers: &[String],
    values: &[Scalar],
    field_sql: &dyn Fn(&str) -> RuleResult<String>,
    budget: &mut Budget,
) -> RuleResult<String> {
    for m in modifiers {
        if !SUPPORTED.contains(&m.as_str()) {
            return Err(format!("modifier `|{m}` (on `{field}`) is not supported"));
        }
    }
    let has = |m: &str| modifiers.iter().any(|x| x == m);
    let cased = has("cased");
    let all = has("all");
    let mut preds = Vec::with_capacity(values.len());
    budget.take(values.len())?;
    // Modifiers that decide what the value is; each excludes the string pipeline.
    let kinds: Vec<&str> = ["re", "cidr", "exists", "gt", "gte", "lt", "lte", "fieldref"]
        .into_iter()
        .filter(|k| has(k))
        .collect();
    if kinds.len() > 1 {
        return Err(format!(
            "modifiers |{} combined on `{field}`",
            kinds.join(" and |")
        ));
    }
    let kind = kinds.first().copied();
    for f in ["i", "m", "s"] {
        if has(f) && kind != Some("re") {
            return Err(format!("modifier `|{f}` without |re (on `{field}`)"));
        }
    }
    if let Some(k) = kind {
        let allowed: &[&str] = match k {
            "re" => &["re", "i", "m", "s", "all"],
            "fieldref" => &[
                "fieldref",
                "cased",
                "contains",
                "startswith",
                "endswith",
                "all",
            ],
            "cidr" => &["cidr", "all"],
            _ => &[k, "all"],
        };
        if let Some(o) = modifiers.iter().find(|m| !allowed.contains(&m.as_str())) {
            return Err(format!("modifier |{o} combined with |{k} (on `{field}`)"));
        }
    }
    for v in values {
        if *v == Scalar::Null {
            if !modifiers.is_empty() {
                return Err(format!("a null value with modifiers (on `{field}`)"));
            }
            preds.push(format!("{expr} IS NULL"));
            continue;
        }
        let text = v.text().unwrap_or_default();
        let pred = match kind {
            Some("re") => {
                let flags: String = ["i", "m", "s"].into_iter().filter(|f| has(f)).collect();
                if text.len() > 4096 {
                    return Err(format!("|re pattern on `{field}` longer than 4096 bytes"));
                }
                regex::RegexBuilder::new(&text)
                    .case_insensitive(has("i"))
                    .multi_line(has("m"))
                    .dot_matches_new_line(has("s"))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        format!(
                            "|re pattern on `{field}` is not supported (lookaround and backreferences are not portable): {}",
                            e.to_string().lines().last().unwrap_or_default()
                        )
                    })?;
                let pat = if flags.is_empty() {
                    text
                } else {
                    format!("(?{flags}){text}")
                };
                format!("regexp_like({expr}, {})", literal(&pat))
            }
            Some("cidr") => {
                let alts = cidr(&text)?;
                budget.take(alts.len())?;
                or(alts.iter().map(|p| match_sql(expr, p, true)).collect())
            }
            Some("exists") => match v {
                Scalar::Bool(true) => format!("{expr} IS NOT NULL"),
                Scalar::Bool(false) => format!("{expr} IS NULL"),
                _ => return Err(format!("|exists on `{field}` needs true or false")),
            },
            Some(op @ ("gt" | "gte" | "lt" | "lte")) => {
                let sym = match op {
                    "gt" => ">",
                    "gte" => ">=",
                    "lt" => "<",
                    _ => "<=",
                };
                format!("TRY_CAST({expr} AS DOUBLE) {sym} {}", number(v, op)?)
            }
            Some("fieldref") => {
                let Scalar::Str(other) = v else {
                    return Err(format!("|fieldref on `{field}` needs a field name"));
                };
                let y = field_sql(other)?;
                let (l, r) = if cased {
                    (expr.to_string(), y)
                } else {
                    (format!("lower({expr})"), format!("lower({y})"))
                };
                let (pre, post) = (
                    if has("contains") || has("endswith") {
                        "'%' || "
                    } else {
                        ""
                    },
                    if has("contains") || has("startswith") {
                        " || '%'"
                    } else {
                        ""
                    },
                );
                if pre.is_empty() && post.is_empty() {
                    format!("{l} = {r}")
                } else {
                    // The other field's text is data, not a pattern: escape LIKE's characters.
                    format!(
                        "{l} LIKE ({pre}replace(replace(replace({r}, '\\', '\\\\'), '%', '\\%'), '_', '\\_'){post}) ESCAPE '\\'"
                    )
                }
            }
            _ => {
                let alts = strings(v, &text, modifiers, field)?;
                budget.take(alts.len())?;
                or(alts.iter().map(|p| match_sql(expr, p, cased)).collect())
            }
        };
        preds.push(pred);
    }
    Ok(if all { and(preds) } else { or(preds) })
}

/// The string pipeline: modifiers applied left to right to the value's alternatives.
fn strings(
    v: &Scalar,
    text: &str,
    modifiers: &[String],
    field: &str,
) -> RuleResult<Vec<Vec<Part>>> {
    let mut alts = vec![match v {
        Scalar::Str(s) => parse_str(s),
        _ => lits(text),
    }];
    for m in modifiers {
        match m.as_str() {
            "base64" | "base64offset" => {
                if alts.iter().any(|a| has_wild(a)) {
                    return Err(format!(
                        "|{m} of a value with wildcards (on `{field}`) is not allowed"
                    ));
                }
                alts = alts
                    .iter()
                    .flat_map(|a| {
                        let data = plain(a).into_bytes();
                        if m == "base64" {
                            vec![lits(&b64::encode(&data))]
                        } else {
                            base64offset(&data).iter().map(|s| lits(s)).collect()
                        }
                    })
                    .collect();
            }
            "windash" => {
                let mut out = Vec::new();
                for a in &alts {
                    out.extend(windash(a)?);
                }
                alts = out;
            }
            "contains" | "startswith" | "endswith" => {
                for a in &mut alts {
                    if m != "startswith" && a.first() != Some(&Part::Any) {
                        a.insert(0, Part::Any);
                    }
                    if m != "endswith" && a.last() != Some(&Part::Any) {
                        a.push(Part::Any);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(alts)
}

/// `a OR b …`, parenthesised when it has several terms.
pub fn or(mut v: Vec<String>) -> String {
    if v.len() == 1 {
        return v.pop().unwrap_or_default();
    }
    format!("({})", v.join(" OR "))
}

/// `a AND b …`, parenthesised when it has several terms.
pub fn and(mut v: Vec<String>) -> String {
    if v.len() == 1 {
        return v.pop().unwrap_or_default();
    }
    format!("({})", v.join(" AND "))
}

/// A Base64 encoder (standard alphabet, padded): the crate has no base64 dependency and this
/// is all Sigma needs.
mod base64_engine {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(data: &[u8]) -> String {
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_escapes_and_wildcards() {
        assert_eq!(
            parse_str(r"a\*b\?c\\d\e*?"),
            vec![
                Part::Lit('a'),
                Part::Lit('*'),
                Part::Lit('b'),
                Part::Lit('?'),
                Part::Lit('c'),
                Part::Lit('\\'),
                Part::Lit('d'),
                Part::Lit('\\'),
                Part::Lit('e'),
                Part::Any,
                Part::One
            ]
        );
        assert_eq!(match_sql("x", &parse_str("AbC"), false), "lower(x) = 'abc'");
        assert_eq!(match_sql("x", &parse_str("AbC"), true), "x = 'AbC'");
        assert_eq!(
            match_sql("x", &parse_str(r"50%_o'k*\*"), false),
            r"lower(x) LIKE '50\%\_o''k%*' ESCAPE '\'"
        );
    }

    #[test]
    fn base64_matches_pysigma() {
        assert_eq!(base64_engine::encode(b"sigma"), "c2lnbWE=");
        assert_eq!(base64_engine::encode(b""), "");
        assert_eq!(base64_engine::encode(b"ab"), "YWI=");
        // pySigma: SigmaBase64OffsetModifier("/bin/bash") → these three.
        assert_eq!(
            base64offset(b"/bin/bash"),
            vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
    }

    #[test]
    fn cidr_aligns_on_octets() {
        let p = |s: &str| {
            cidr(s)
                .unwrap()
                .iter()
                .map(|x| plain(x))
                .collect::<Vec<_>>()
        };
        assert_eq!(p("10.0.0.0/8"), vec!["10.*"]);
        assert_eq!(p("192.168.1.7/32"), vec!["192.168.1.7"]);
        assert_eq!(p("0.0.0.0/0"), vec!["*"]);
        let twelve = p("172.16.0.0/12");
        assert_eq!(twelve.len(), 16);
        assert_eq!(twelve[0], "172.16.*");
        assert_eq!(twelve[15], "172.31.*");
        assert_eq!(p("10.1.2.0/23"), vec!["10.1.2.*", "10.1.3.*"]);
        assert!(cidr("2001:db8::/32").unwrap_err().contains("IPv6"));
    }

    #[test]
    fn windash_expands_word_starts_only() {
        let v = windash(&parse_str("-foo-bar /x")).unwrap();
        // `-foo` and `/x` start words; the dash inside `foo-bar` does not.
        assert_eq!(v.len(), 25);
        assert!(v.iter().any(|x| plain(x) == "/foo-bar -x"));
        assert!(windash(&parse_str("-a -b -c -d")).is_err());
    }
}
