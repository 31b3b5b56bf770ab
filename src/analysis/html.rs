//! The report as one self-contained HTML page: per query first the per-user totals (sorted, the
//! top users each in their own colour, the rest as "others"), then a stacked bar chart drawn as
//! inline SVG in the same colours (as Teleport's Access Monitoring UI draws it), the suggestion,
//! and the full result table collapsed in a `<details>`. No scripts, no fonts, no network
//! fetches: it opens from a file, offline.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use crate::analysis::report::{QueryResultJson, Report, ReportResult};

/// One distinct colour per top user: the colour-blind-friendly Okabe–Ito palette, then two of
/// Paul Tol's. Never repeated: users past the top share [`OTHERS_COLOUR`] as "others".
const PALETTE: &[&str] = &[
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
    "#882255", "#44AA99",
];

/// Users a section names and colours on its own; the rest are summed as "others".
pub const TOP_USERS: usize = PALETTE.len();

/// The colour of "others".
const OTHERS_COLOUR: &str = "#BBBBBB";

/// The label of everyone past the top users.
const OTHERS: &str = "others";

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn cell(v: &Value) -> Option<&str> {
    v.as_str()
}

/// The column a chart stacks by: `user`, else the first other text column (the node of the
/// join-token query), never `event_date` or `count`.
fn series_column(q: &QueryResultJson) -> Option<usize> {
    q.columns.iter().position(|c| c == "user").or_else(|| {
        q.columns
            .iter()
            .position(|c| c != "event_date" && c != "count")
    })
}

/// How much a row counts: its `count`, or 1 when the query has no count.
fn row_weight(q: &QueryResultJson, row: &[Value]) -> f64 {
    q.columns
        .iter()
        .position(|c| c == "count")
        .and_then(|i| row.get(i))
        .and_then(cell)
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.0)
}

/// The name a row stacks under (its series value; `—` for NULL).
fn row_series(q: &QueryResultJson, row: &[Value]) -> String {
    series_column(q)
        .and_then(|i| row.get(i))
        .and_then(cell)
        .unwrap_or("—")
        .to_string()
}

/// Per-user totals of a query, largest first (ties by name), cut to the top users; the rest
/// summed as (users, total). `None` when the query has no series column.
struct Totals {
    top: Vec<(String, f64)>,
    others: Option<(usize, f64)>,
}

impl Totals {
    fn of(q: &QueryResultJson) -> Option<Totals> {
        series_column(q)?;
        let mut by: BTreeMap<String, f64> = BTreeMap::new();
        for row in &q.rows {
            *by.entry(row_series(q, row)).or_default() += row_weight(q, row);
        }
        let mut all: Vec<(String, f64)> = by.into_iter().collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let rest = all.split_off(all.len().min(TOP_USERS));
        let others = (!rest.is_empty()).then(|| (rest.len(), rest.iter().map(|r| r.1).sum()));
        Some(Totals { top: all, others })
    }

    /// The colour of a series name: its own for a top user, else the others' grey.
    fn colour(&self, name: &str) -> &'static str {
        self.top
            .iter()
            .position(|(n, _)| n == name)
            .map_or(OTHERS_COLOUR, |i| PALETTE[i])
    }

    /// The label a series name is drawn under.
    fn label<'a>(&self, name: &'a str) -> &'a str {
        if self.top.iter().any(|(n, _)| n == name) {
            name
        } else {
            OTHERS
        }
    }

    fn html(&self, q: &QueryResultJson) -> String {
        let col = series_column(q)
            .and_then(|i| q.columns.get(i))
            .map(String::as_str)
            .unwrap_or("user");
        let what = if q.columns.iter().any(|c| c == "count") {
            "count"
        } else {
            "rows"
        };
        let mut s = format!(
            r#"<table class="totals"><thead><tr><th>{}</th><th>{what}</th></tr></thead><tbody>"#,
            esc(col)
        );
        for (i, (name, n)) in self.top.iter().enumerate() {
            let _ = write!(
                s,
                r#"<tr><td><span class="swatch" style="background:{}"></span>{}</td><td class="total">{n}</td></tr>"#,
                PALETTE[i],
                esc(name)
            );
        }
        if let Some((users, n)) = self.others {
            let _ = write!(
                s,
                r#"<tr class="others"><td><span class="swatch" style="background:{OTHERS_COLOUR}"></span>{OTHERS} ({users})</td><td class="total">{n}</td></tr>"#
            );
        }
        s.push_str("</tbody></table>");
        s
    }
}

/// A stacked bar chart: x = event_date, one colour per top user (the rest stacked as
/// "others"), height = `count` (or 1 per row when the query has no count).
fn chart(q: &QueryResultJson, totals: Option<&Totals>) -> Option<String> {
    let date_col = q.columns.iter().position(|c| c == "event_date")?;
    if q.rows.is_empty() {
        return None;
    }
    let mut by_date: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for row in &q.rows {
        let date = row.get(date_col).and_then(cell).unwrap_or("—").to_string();
        let name = row_series(q, row);
        let label = totals.map_or(name.as_str(), |t| t.label(&name)).to_string();
        *by_date.entry(date).or_default().entry(label).or_default() += row_weight(q, row);
    }
    // Stack order: the top users in rank order, "others" last.
    let rank = |name: &str| {
        totals
            .and_then(|t| t.top.iter().position(|(n, _)| n == name))
            .unwrap_or(usize::MAX)
    };
    let colour = |name: &str| totals.map_or(PALETTE[0], |t| t.colour(name));
    let max = by_date
        .values()
        .map(|m| m.values().sum::<f64>())
        .fold(0.0, f64::max)
        .max(1.0);
    let (bar_w, gap, plot_h, left, top, bottom) = (28.0, 10.0, 180.0, 40.0, 10.0, 60.0);
    let width = left + by_date.len() as f64 * (bar_w + gap) + gap;
    let height = top + plot_h + bottom;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}"><title>{}</title>"#,
        esc(&q.title)
    );
    // Axis and the top value.
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{y0}" stroke="#888"/><line x1="{left}" y1="{y0}" x2="{width:.0}" y2="{y0}" stroke="#888"/><text x="{tx}" y="{ty}" font-size="10" text-anchor="end">{max}</text><text x="{tx}" y="{y0}" font-size="10" text-anchor="end">0</text>"##,
        y0 = top + plot_h,
        tx = left - 4.0,
        ty = top + 8.0,
    );
    for (i, (date, parts)) in by_date.iter().enumerate() {
        let x = left + gap + i as f64 * (bar_w + gap);
        let mut y = top + plot_h;
        let mut parts: Vec<(&String, &f64)> = parts.iter().collect();
        parts.sort_by_key(|(name, _)| rank(name));
        for (name, n) in parts {
            let h = n / max * plot_h;
            y -= h;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar_w}" height="{h:.1}" fill="{}"><title>{}: {} ({n})</title></rect>"#,
                colour(name),
                esc(date),
                esc(name)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{cx:.1}" y="{ly:.1}" font-size="10" transform="rotate(-45 {cx:.1} {ly:.1})" text-anchor="end">{}</text>"#,
            esc(date),
            cx = x + bar_w / 2.0,
            ly = top + plot_h + 12.0,
        );
    }
    s.push_str("</svg>");
    // Legend: the top users in rank order, then "others".
    s.push_str(r#"<ul class="legend">"#);
    if let Some(t) = totals {
        for (i, (name, _)) in t.top.iter().enumerate() {
            let _ = write!(
                s,
                r#"<li><span class="swatch" style="background:{}"></span>{}</li>"#,
                PALETTE[i],
                esc(name)
            );
        }
        if t.others.is_some() {
            let _ = write!(
                s,
                r#"<li><span class="swatch" style="background:{OTHERS_COLOUR}"></span>{OTHERS}</li>"#
            );
        }
    }
    s.push_str("</ul>");
    Some(s)
}

/// Renders a report run as one self-contained page.
pub fn render(report: &Report, r: &ReportResult) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}}
table{{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}}
th,td{{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}}
th{{background:#f3f3f3}} .null{{color:#999}} .meta{{color:#666;font-size:.85rem}}
.suggestion{{background:#fff6e0;border-left:4px solid #E69F00;padding:.4rem .8rem}}
.legend{{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.8rem;font-size:.8rem}}
.swatch{{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}}
section{{border-top:1px solid #ddd;padding-top:1rem;margin-top:1.5rem}}
.totals td.total{{text-align:right}} .totals tr.others{{color:#666}}
details{{margin:.5rem 0}} summary{{cursor:pointer;color:#0072B2}}
</style></head><body>
<h1>{title}</h1><p>{desc}</p><p class="meta">version {version}{days}</p>
"#,
        title = esc(&r.title),
        desc = esc(&r.description),
        version = esc(&r.version),
        days = r
            .days
            .map(|d| format!(" · last {d} days"))
            .unwrap_or_default(),
    );
    for q in &r.results {
        let description = report
            .queries
            .iter()
            .find(|d| d.name == q.name)
            .map(|d| d.description.as_str())
            .unwrap_or_default();
        let _ = write!(
            s,
            r#"<section id="{}"><h2>{}</h2><p>{}</p>"#,
            esc(&q.name),
            esc(&q.title),
            esc(description)
        );
        if q.rows.is_empty() {
            s.push_str("<p>No rows.</p>");
        } else {
            let totals = Totals::of(q);
            if let Some(t) = &totals {
                s.push_str(&t.html(q));
            }
            if let Some(c) = chart(q, totals.as_ref()) {
                s.push_str(&c);
            }
            if let Some(sug) = &q.suggestion {
                let _ = write!(s, r#"<p class="suggestion">{}</p>"#, esc(sug));
            }
            // Every row, for whoever needs them, but folded away: the totals are the reading.
            let _ = write!(
                s,
                "<details><summary>All {} rows</summary><table><thead><tr>",
                q.rows.len()
            );
            for c in &q.columns {
                let _ = write!(s, "<th>{}</th>", esc(c));
            }
            s.push_str("</tr></thead><tbody>");
            for row in &q.rows {
                s.push_str("<tr>");
                for v in row {
                    match cell(v) {
                        Some(t) => {
                            let _ = write!(s, "<td>{}</td>", esc(t));
                        }
                        None => s.push_str(r#"<td class="null">—</td>"#),
                    }
                }
                s.push_str("</tr>");
            }
            s.push_str("</tbody></table></details>");
        }
        let _ = write!(
            s,
            r#"<p class="meta">{} rows · {} ms · {} bytes scanned</p></section>"#,
            q.rows.len(),
            q.execution_time_ms,
            q.data_scanned_bytes
        );
    }
    let _ = writeln!(
        s,
        r#"<section><p class="meta">Total: {} ms · {} bytes scanned</p></section></body></html>"#,
        r.total_execution_time_ms, r.total_data_scanned_bytes
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rows: Vec<Vec<Value>>) -> ReportResult {
        ReportResult {
            name: "r".into(),
            title: "R <1>".into(),
            description: "d".into(),
            version: "0.0.1".into(),
            days: Some(30),
            results: vec![QueryResultJson {
                name: "q".into(),
                title: "Q".into(),
                columns: vec!["event_date".into(), "count".into(), "user".into()],
                suggestion: (!rows.is_empty()).then(|| "fix it".to_string()),
                rows,
                execution_time_ms: 3,
                data_scanned_bytes: 10,
            }],
            total_execution_time_ms: 3,
            total_data_scanned_bytes: 10,
        }
    }

    #[test]
    fn stacks_by_user_and_escapes_everything() {
        let v = |s: &str| Value::String(s.into());
        let r = result(vec![
            vec![v("2024-03-20"), v("2"), v("<script>alert(1)</script>")],
            vec![v("2024-03-20"), v("1"), v("bob")],
            vec![v("2024-03-21"), v("4"), Value::Null],
        ]);
        let html = render(&crate::analysis::report::builtin(), &r);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert_eq!(html.matches("<svg").count(), 1);
        // Three segments: two users on the 20th, one NULL-user segment on the 21st.
        assert_eq!(html.matches("<rect").count(), 3);
        assert!(html.contains("R &lt;1&gt;"));
        assert!(html.contains("fix it"));
        assert!(html.contains(r#"<td class="null">—</td>"#));
        // Self-contained: the only URL is the SVG namespace, never fetched.
        assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("<script"));
    }

    #[test]
    fn leads_with_sorted_totals_top_users_in_distinct_colours_rows_folded() {
        let v = |s: &str| Value::String(s.into());
        // 14 users: user k has k sessions on each of two days.
        let mut rows = Vec::new();
        for day in ["2024-03-20", "2024-03-21"] {
            for k in 1..=14 {
                rows.push(vec![v(day), v(&k.to_string()), v(&format!("user{k:02}"))]);
            }
        }
        let html = render(&crate::analysis::report::builtin(), &result(rows));
        let totals = &html[html.find(r#"<table class="totals">"#).unwrap()..];
        let totals = &totals[..totals.find("</table>").unwrap()];
        let nums: Vec<f64> = totals
            .split(r#"<td class="total">"#)
            .skip(1)
            .map(|t| t[..t.find('<').unwrap()].parse().unwrap())
            .collect();
        // Top 10 largest first (28, 26, …), then the four others summed: 2·(1+2+3+4).
        assert_eq!(nums.len(), TOP_USERS + 1, "{totals}");
        assert_eq!(nums[0], 28.0);
        assert!(nums[..TOP_USERS].windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(nums[TOP_USERS], 20.0);
        assert!(totals.contains("others (4)"));
        // The totals lead; the full table follows, folded.
        let (t, c, d) = (
            html.find(r#"class="totals""#).unwrap(),
            html.find("<svg").unwrap(),
            html.find("<details>").unwrap(),
        );
        assert!(t < c && c < d);
        assert!(html.contains("<summary>All 28 rows</summary>"));
        // No colour repeats among the top users; the others share one grey.
        let legend = &html[html.find(r#"<ul class="legend">"#).unwrap()..];
        let legend = &legend[..legend.find("</ul>").unwrap()];
        let colours: Vec<&str> = legend
            .split("background:")
            .skip(1)
            .map(|c| &c[..7])
            .collect();
        assert_eq!(colours.len(), TOP_USERS + 1);
        let distinct: std::collections::BTreeSet<_> = colours[..TOP_USERS].iter().collect();
        assert_eq!(distinct.len(), TOP_USERS);
        assert_eq!(colours[TOP_USERS], OTHERS_COLOUR);
        assert!(!colours[..TOP_USERS].contains(&OTHERS_COLOUR));
        // Bars: per day the 10 top users and one "others" segment.
        assert_eq!(html.matches("<rect").count(), 2 * (TOP_USERS + 1));
    }

    #[test]
    fn no_rows_no_chart() {
        let html = render(&crate::analysis::report::builtin(), &result(vec![]));
        assert!(html.contains("No rows."));
        assert!(!html.contains("<svg"));
    }
}
