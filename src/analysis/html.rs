//! The report as one self-contained HTML page: per query a stacked bar chart drawn as inline SVG
//! (as Teleport's Access Monitoring UI draws it), the result table, the suggestion and totals.
//! No scripts, no fonts, no network fetches: it opens from a file, offline.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use crate::analysis::report::{QueryResultJson, Report, ReportResult};

/// Colour-blind-friendly palette (Okabe–Ito), then repeated.
const PALETTE: &[&str] = &[
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];

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

/// A stacked bar chart: x = event_date, one colour per series value, height = `count` (or 1
/// per row when the query has no count).
fn chart(q: &QueryResultJson) -> Option<String> {
    let date_col = q.columns.iter().position(|c| c == "event_date")?;
    if q.rows.is_empty() {
        return None;
    }
    let count_col = q.columns.iter().position(|c| c == "count");
    let series_col = series_column(q);
    let mut by_date: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut series: Vec<String> = Vec::new();
    for row in &q.rows {
        let date = row.get(date_col).and_then(cell).unwrap_or("—").to_string();
        let name = series_col
            .and_then(|i| row.get(i))
            .and_then(cell)
            .unwrap_or("—")
            .to_string();
        let n = count_col
            .and_then(|i| row.get(i))
            .and_then(cell)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(1.0);
        if !series.contains(&name) {
            series.push(name.clone());
        }
        *by_date.entry(date).or_default().entry(name).or_default() += n;
    }
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
        for (name, n) in parts {
            let h = n / max * plot_h;
            y -= h;
            let colour =
                PALETTE[series.iter().position(|s| s == name).unwrap_or(0) % PALETTE.len()];
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar_w}" height="{h:.1}" fill="{colour}"><title>{}: {} ({n})</title></rect>"#,
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
    // Legend.
    s.push_str(r#"<ul class="legend">"#);
    for (i, name) in series.iter().enumerate() {
        let _ = write!(
            s,
            r#"<li><span class="swatch" style="background:{}"></span>{}</li>"#,
            PALETTE[i % PALETTE.len()],
            esc(name)
        );
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
            if let Some(c) = chart(q) {
                s.push_str(&c);
            }
            s.push_str("<table><thead><tr>");
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
            s.push_str("</tbody></table>");
            if let Some(sug) = &q.suggestion {
                let _ = write!(s, r#"<p class="suggestion">{}</p>"#, esc(sug));
            }
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
    fn no_rows_no_chart() {
        let html = render(&crate::analysis::report::builtin(), &result(vec![]));
        assert!(html.contains("No rows."));
        assert!(!html.contains("<svg"));
    }
}
