//! The terminal forms of an alert run: the listing grouped per rule, identity and day, and the
//! per-rule `--summary`. Identities and evidence come from the lake, so every value is shown
//! with control and bidi characters escaped.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Alert, AlertRun, Severity};

/// The day (`YYYY-MM-DD`) and time of day (`HH:MM:SS`) of an alert time.
fn day_and_clock(t: &str) -> (&str, &str) {
    let day = t.get(..10).unwrap_or(t);
    let clock = t.get(11..19).unwrap_or("");
    (day, clock)
}

/// Events an alert stands for (a detection row without a uid still counts once).
fn events(a: &Alert) -> usize {
    a.uids.len().max(1)
}

/// The evidence of an alert as `k=v` pairs, cut to about `width` characters.
fn evidence_line(a: &Alert, width: usize) -> String {
    use crate::query::cells::escape_control as e;
    let mut s = String::new();
    for (k, v) in a.evidence.iter().filter(|(_, v)| !v.is_null()) {
        let v = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&format!("{}={}", e(k), e(&v)));
    }
    if s.chars().count() > width {
        s = s.chars().take(width.saturating_sub(1)).collect();
        s.push('…');
    }
    s
}

/// One line of the grouped listing: a rule's alerts of one identity on one day.
struct Group<'a> {
    day: &'a str,
    identity: &'a str,
    alerts: Vec<&'a Alert>,
}

fn footer(run: &AlertRun, what: &str) -> String {
    let hidden = match run.floor {
        Some(f) if run.hidden > 0 => format!(
            "; {} below {f} not shown (--all or --min-severity shows them)",
            run.hidden
        ),
        _ => String::new(),
    };
    format!("({what}; times in UTC{hidden})\n")
}

/// A terminal listing a person can read in a minute: per rule (most severe first) one line per
/// identity and day, with the number of events, the first and last time, and the first alert's
/// evidence. Identities and evidence come from the lake (any client can write them), so control
/// and bidi characters are shown escaped.
pub fn render_text(run: &AlertRun) -> String {
    use crate::query::cells::escape_control as e;
    use std::fmt::Write;
    let mut by_rule: BTreeMap<(Severity, &str), Vec<&Alert>> = BTreeMap::new();
    for a in &run.alerts {
        by_rule.entry((a.severity, &a.rule)).or_default().push(a);
    }
    let mut s = String::new();
    let mut groups_total = 0;
    for ((sev, rule), alerts) in &by_rule {
        let mut groups: Vec<Group> = Vec::new();
        let mut index: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for a in alerts {
            let key = (
                day_and_clock(&a.time).0,
                a.identity.as_deref().unwrap_or("∅"),
            );
            let i = *index.entry(key).or_insert_with(|| {
                groups.push(Group {
                    day: key.0,
                    identity: key.1,
                    alerts: Vec::new(),
                });
                groups.len() - 1
            });
            groups[i].alerts.push(a);
        }
        groups.sort_by(|a, b| (a.day, a.identity).cmp(&(b.day, b.identity)));
        groups_total += groups.len();
        let n_events: usize = alerts.iter().map(|a| events(a)).sum();
        let _ = writeln!(
            s,
            "{sev:<8} {} — {} ({} alert{}, {n_events} event{})",
            e(rule),
            e(&alerts[0].title),
            alerts.len(),
            if alerts.len() == 1 { "" } else { "s" },
            if n_events == 1 { "" } else { "s" },
        );
        for g in &groups {
            let first = g.alerts.iter().map(|a| a.time.as_str()).min().unwrap_or("");
            let last = g
                .alerts
                .iter()
                .map(|a| a.last_time.as_str().max(a.time.as_str()))
                .max()
                .unwrap_or("");
            let n: usize = g.alerts.iter().map(|a| events(a)).sum();
            let span = if day_and_clock(first).1 == day_and_clock(last).1 {
                format!("{:<17}", day_and_clock(first).1)
            } else {
                format!("{}–{}", day_and_clock(first).1, day_and_clock(last).1)
            };
            let _ = writeln!(
                s,
                "  {}  {:<28} {:>5} event{}  {span}  {}",
                e(g.day),
                e(g.identity),
                n,
                if n == 1 { " " } else { "s" },
                evidence_line(g.alerts[0], 90),
            );
        }
    }
    s.push_str(&footer(
        run,
        &format!(
            "{} alert{} in {groups_total} group{}",
            run.alerts.len(),
            if run.alerts.len() == 1 { "" } else { "s" },
            if groups_total == 1 { "" } else { "s" }
        ),
    ));
    s
}

/// One rule's line of `--summary`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSummary {
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub alerts: usize,
    pub events: usize,
    pub identities: usize,
    /// The identities with the most alerts, most first (at most `TOP_IDENTITIES`).
    pub top_identities: Vec<(String, usize)>,
}

/// Identities `--summary` names per rule.
pub const TOP_IDENTITIES: usize = 3;

/// Per rule: how many alerts and events, how many identities, and the top ones.
pub fn summarize(alerts: &[Alert]) -> Vec<RuleSummary> {
    let mut by_rule: BTreeMap<(Severity, &str), Vec<&Alert>> = BTreeMap::new();
    for a in alerts {
        by_rule.entry((a.severity, &a.rule)).or_default().push(a);
    }
    by_rule
        .into_iter()
        .map(|((severity, rule), v)| {
            let mut per: BTreeMap<&str, usize> = BTreeMap::new();
            for a in &v {
                *per.entry(a.identity.as_deref().unwrap_or("∅")).or_default() += 1;
            }
            let identities = per.len();
            let mut top: Vec<(String, usize)> =
                per.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            top.truncate(TOP_IDENTITIES);
            RuleSummary {
                rule: rule.to_string(),
                title: v[0].title.clone(),
                severity,
                alerts: v.len(),
                events: v.iter().map(|a| events(a)).sum(),
                identities,
                top_identities: top,
            }
        })
        .collect()
}

/// `--summary` as text: one line per rule.
pub fn render_summary(run: &AlertRun) -> String {
    use crate::query::cells::escape_control as e;
    use std::fmt::Write;
    let rows = summarize(&run.alerts);
    let mut s = format!(
        "{:<8} {:<32} {:>6} {:>7} {:>10}  top identities\n",
        "severity", "rule", "alerts", "events", "identities"
    );
    for r in &rows {
        let top: Vec<String> = r
            .top_identities
            .iter()
            .map(|(i, n)| format!("{} ({n})", e(i)))
            .collect();
        let more = r.identities.saturating_sub(r.top_identities.len());
        let _ = writeln!(
            s,
            "{:<8} {:<32} {:>6} {:>7} {:>10}  {}{}",
            r.severity,
            e(&r.rule),
            r.alerts,
            r.events,
            r.identities,
            top.join(", "),
            if more > 0 {
                format!(", +{more} more")
            } else {
                String::new()
            }
        );
    }
    s.push_str(&footer(
        run,
        &format!("{} alerts, {} rules", run.alerts.len(), rows.len()),
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::super::tests::alert;
    use super::*;

    #[test]
    fn the_listing_groups_per_rule_identity_and_day() {
        let mut late = alert(
            "r1",
            Severity::High,
            "bob",
            "2024-03-20 10:00:00.000",
            &["a", "b"],
        );
        late.last_time = "2024-03-20 10:20:00.000".into();
        let run = AlertRun {
            alerts: vec![
                alert(
                    "r0",
                    Severity::Critical,
                    "root",
                    "2024-03-21 07:55:00.000",
                    &["x"],
                ),
                late,
                alert(
                    "r1",
                    Severity::High,
                    "bob",
                    "2024-03-20 16:00:00.000",
                    &["c"],
                ),
                alert(
                    "r1",
                    Severity::High,
                    "bob",
                    "2024-03-22 09:00:00.000",
                    &["d"],
                ),
                alert(
                    "r1",
                    Severity::High,
                    "amy",
                    "2024-03-20 11:00:00.000",
                    &["e"],
                ),
            ],
            hidden: 7,
            floor: Some(Severity::Medium),
        };
        let text = render_text(&run);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("critical r0 — R0 (1 alert, 1 event)"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("high     r1 — R1 (4 alerts, 5 events)"),
            "{text}"
        );
        // bob on the 20th: two alerts, three events, first 10:00, last 16:00.
        let bob = lines
            .iter()
            .find(|l| l.contains("2024-03-20  bob"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            bob.contains("3 events") && bob.contains("10:00:00–16:00:00"),
            "{bob}"
        );
        assert_eq!(text.matches("  2024-03-").count(), 4, "{text}");
        assert!(
            lines.last().unwrap().contains("5 alerts in 4 groups")
                && lines.last().unwrap().contains("7 below medium not shown"),
            "{text}"
        );
        let sum = summarize(&run.alerts);
        assert_eq!(sum.len(), 2);
        assert_eq!((sum[1].alerts, sum[1].events, sum[1].identities), (4, 5, 2));
        assert_eq!(sum[1].top_identities[0], ("bob".to_string(), 3));
        assert!(render_summary(&run).contains("bob (3), amy (1)"));
    }
}
