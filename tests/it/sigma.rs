//! Sigma rules as detections: the rules of tests/sigma/ (written for these tests, in Sigma's
//! format, one per construct) over crafted raw events, through the alert path; the same rules
//! through pySigma's SQLite backend must match the same events; unsupported constructs are
//! named per rule; the SQL passes Trino's grammar; a backfill over a demo lake finds the
//! planted stories and nothing else; `--engine athena` sends grammar-valid Trino (moto).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use auditlake::analysis::alerts::{self, AlertOptions};
use auditlake::analysis::sigma::{self, mapping::Mapping};
use auditlake::lake::Lake;

use crate::common;

fn dir(rel: &str) -> PathBuf {
    common::repo().join("tests/sigma").join(rel)
}

async fn crafted_lake() -> (tempfile::TempDir, Lake) {
    let t = tempfile::tempdir().unwrap();
    let lake = Lake::open(t.path().to_str().unwrap()).unwrap();
    let files: Vec<PathBuf> = ["cloudtrail", "okta", "github", "teleport"]
        .iter()
        .map(|s| dir(&format!("events/{s}.ndjson")))
        .collect();
    let sum = common::ingest(&lake, "acme", &files).await;
    assert_eq!(sum.rejected, 0, "{sum:?}");
    (t, lake)
}

/// Rule name → matched event ids (detections) or `t:` alert times (correlations), through
/// `alerts::run_detections` with no folding.
async fn auditlake_matches(lake: &Lake) -> BTreeMap<String, Vec<String>> {
    let set = sigma::load(&[dir("rules")], &Mapping::default()).unwrap();
    assert!(set.skipped.is_empty(), "{:#?}", set.skipped);
    let engine = common::engine(lake, Some("acme")).await;
    let opts = AlertOptions {
        only: None,
        dedup_window_secs: -1,
        ..Default::default()
    };
    let found = alerts::run_detections(&engine, &set.detections(), &opts)
        .await
        .unwrap();
    let mut out: BTreeMap<String, Vec<String>> = set
        .compiled
        .iter()
        .map(|c| (c.name.trim_start_matches("sigma:").to_string(), Vec::new()))
        .collect();
    for a in found {
        let name = a.rule.trim_start_matches("sigma:").to_string();
        let v = out.get_mut(&name).unwrap();
        if name.starts_with("corr_") {
            v.push(format!("t:{}", a.time));
        } else {
            v.extend(a.uids);
        }
    }
    for v in out.values_mut() {
        v.sort();
        v.dedup();
    }
    out
}

/// What each crafted rule must match (worked out by hand from tests/sigma/events).
const EXPECTED: &[(&str, &[&str])] = &[
    ("all_of_pattern", &["ct-03", "ct-04", "ct-06"]),
    ("all_of_them", &["ct-14", "ct-15"]),
    ("base64", &["ct-08"]),
    ("base64offset", &["ct-07"]),
    ("cased", &["ct-02"]),
    ("cidr", &["ct-01", "ct-02"]),
    ("contains_all", &["ct-03"]),
    ("corr_event_count", &["t:2024-06-03 13:04:00.000"]),
    ("corr_temporal", &["t:2024-06-03 11:05:00.000"]),
    ("corr_temporal_ordered", &["t:2024-06-03 11:30:00.000"]),
    ("corr_temporal_reversed", &[]),
    (
        "corr_value_count",
        &["t:2024-06-03 09:10:00.000", "t:2024-06-03 09:20:00.000"],
    ),
    ("exists", &["ct-13", "ct-14", "ct-15"]),
    ("fieldref", &["ct-11"]),
    ("fieldref_contains", &["ct-16"]),
    ("github_repo_public", &["gh-01"]),
    ("keywords", &["ct-03"]),
    ("list_of_maps", &["ct-02", "ct-18"]),
    ("map_equality_case_insensitive", &["ct-01", "ct-21"]),
    ("not_absent_field", &["ct-14", "ct-15"]),
    ("not_filter", &["ct-17"]),
    ("null_value", &["ct-14", "ct-15"]),
    ("numeric", &["ct-07", "ct-08", "ct-23"]),
    ("okta_mfa_reset", &["ok-01", "ok-02"]),
    ("one_of_pattern", &["ct-01", "ct-02", "ct-21"]),
    ("one_of_them", &["ct-11", "ct-12", "ct-16"]),
    ("parentheses", &["ct-19", "ct-20", "ct-22"]),
    ("regex_flags", &["ct-03", "ct-07", "ct-09"]),
    ("single_char_wildcard", &["ct-14", "ct-15"]),
    ("startswith_endswith", &["ct-04", "ct-06", "ct-07", "ct-08"]),
    ("teleport_root_session", &["tp-01"]),
    ("wildcard_escapes", &["ct-14", "ct-16", "ct-17"]),
    ("windash", &["ct-09"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigma_constructs_match_crafted_events() {
    let (_t, lake) = crafted_lake().await;
    let got = auditlake_matches(&lake).await;
    let want: BTreeMap<String, Vec<String>> = EXPECTED
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigma_matches_pysigma_on_the_same_events() {
    let (_t, lake) = crafted_lake().await;
    let ours = auditlake_matches(&lake).await;
    let out = Command::new(common::python())
        .arg(dir("pysigma_diff.py"))
        .arg(dir("rules"))
        .arg(dir("events"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for (name, ids) in &ours {
        let t = theirs
            .get(name)
            .unwrap_or_else(|| panic!("pySigma did not convert {name}"));
        let t: Vec<String> = serde_json::from_value(t.clone())
            .unwrap_or_else(|_| panic!("pySigma failed on {name}: {t}"));
        assert_eq!(ids, &t, "{name}: auditlake vs pySigma");
    }
    // Rules only feeding a correlation compile into it; pySigma emits no query for them.
    let extra: Vec<&String> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    for k in &extra {
        assert_eq!(theirs[*k], serde_json::json!([]), "{k}");
    }
    assert!(ours.values().filter(|v| !v.is_empty()).count() >= 30);
}

/// Unsupported constructs: (file stem, words the reason must contain).
const UNSUPPORTED: &[(&str, &str)] = &[
    ("aggregation", "aggregation"),
    ("base64_wildcard", "wildcards"),
    ("category", "category `process_creation`"),
    ("correlation_aliases", "aliases"),
    ("deep", "recursion limit"),
    ("expand", "`|expand`"),
    ("global_action", "action `global`"),
    ("ipv6_cidr", "IPv6"),
    ("long_condition", "nested deeper"),
    ("lookaround_regex", "|re pattern"),
    ("nested_map", "nested map"),
    ("regex_with_contains", "|contains combined with |re"),
    ("two_of", "`2 of`"),
    ("unknown_search", "`filter`"),
    ("utf16_modifier", "`|utf16le`"),
    ("windows_product", "product `windows`"),
];

#[test]
fn sigma_unsupported_constructs_are_named_per_rule() {
    let set = sigma::load(&[dir("unsupported")], &Mapping::default()).unwrap();
    for (stem, words) in UNSUPPORTED {
        let reasons: Vec<&str> = set
            .skipped
            .iter()
            .filter(|s| s.file.file_stem().unwrap() == *stem)
            .map(|s| s.reason.as_str())
            .collect();
        assert!(
            reasons.iter().any(|r| r.contains(words)),
            "{stem}: {reasons:?} lacks {words:?}"
        );
    }
    // Only the correlation's own base rule compiles (its correlation was refused).
    let names: Vec<&str> = set.compiled.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["sigma:base_a"]);
}

#[test]
fn sigma_refuses_huge_and_hostile_rules() {
    let t = tempfile::tempdir().unwrap();
    let big = format!(
        "title: Big\nlogsource:\n  product: aws\ndetection:\n  sel:\n    eventName:\n{}  condition: sel\n",
        "      - abcdefghijklmnop\n".repeat(70_000)
    );
    std::fs::write(t.path().join("big.yml"), big).unwrap();
    let many = format!(
        "title: Many\nlogsource:\n  product: aws\ndetection:\n  sel:\n    eventName|windash:\n{}  condition: sel\n",
        "      - -a -b -c\n".repeat(200)
    );
    std::fs::write(t.path().join("many.yml"), many).unwrap();
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    std::fs::write(t.path().join("bomb.yml"), bomb).unwrap();
    let set = sigma::load(&[t.path().to_path_buf()], &Mapping::default()).unwrap();
    assert!(set.compiled.is_empty());
    let reason = |stem: &str| {
        set.skipped
            .iter()
            .find(|s| s.file.file_stem().unwrap() == stem)
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{stem} not skipped: {:?}", set.skipped))
    };
    assert!(reason("big").contains("larger than"), "{}", reason("big"));
    assert!(reason("many").contains("more than"), "{}", reason("many"));
    assert!(!reason("bomb").is_empty());
}

fn check_sql(files_dir: &Path) {
    let out = Command::new(common::python())
        .arg(common::repo().join("scripts/check_sql.py"))
        .arg(files_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigma_sql_passes_the_trino_grammar() {
    let opts = auditlake::query::athena::AthenaOptions {
        database: "auditlake".into(),
        table: "events".into(),
        workgroup: None,
        output_location: None,
        tenant: "acme".into(),
        days: Some(30),
        region: None,
        timeout: std::time::Duration::from_secs(30),
    };
    let t = tempfile::tempdir().unwrap();
    let set = sigma::load(&[dir("rules"), dir("demo")], &Mapping::default()).unwrap();
    assert!(set.compiled.len() >= 35);
    for c in &set.compiled {
        // Both forms: the statement the local engine runs and the one Athena is sent.
        let stem = c.name.replace(':', "_");
        std::fs::write(t.path().join(format!("{stem}.sql")), &c.sql).unwrap();
        let wrapped = auditlake::query::athena::wrap_sql(&c.sql, &opts).unwrap();
        std::fs::write(t.path().join(format!("{stem}_athena.sql")), wrapped).unwrap();
    }
    check_sql(t.path());
}

fn auditlake(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sigma_cli_check_and_convert() {
    let rules = dir("rules");
    let bad = dir("unsupported");
    let (ok, out, err) = auditlake(&[
        "sigma",
        "check",
        rules.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("compiled  high     sigma:corr_temporal"),
        "{out}"
    );
    assert!(out.contains("skipped   ") && out.contains("IPv6"), "{out}");
    assert!(out.contains("only feed correlations"), "{out}");
    let (ok, out, err) = auditlake(&[
        "sigma",
        "convert",
        dir("rules/okta_mfa_reset.yml").to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("-- sigma:okta_mfa_reset: "), "{out}");
    assert!(out.contains("WHERE event_source = 'okta'"), "{out}");
    let (ok, out, err) = auditlake(&[
        "sigma",
        "convert",
        dir("rules/corr_temporal.yml").to_str().unwrap(),
        "--engine",
        "athena",
        "--tenant",
        "acme",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("tenant_id = 'acme'"), "{out}");
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("c.sql"),
        out.lines().skip(1).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    check_sql(t.path());
    // An unsupported rule alone: an error naming the construct, exit code 2.
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args([
            "sigma",
            "convert",
            dir("unsupported/ipv6_cidr.yml").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("IPv6"));
}

#[test]
fn sigma_backfill_over_a_demo_lake_finds_the_planted_stories_only() {
    let (t, lake) = crate::common::story_lake();
    let lake = lake.as_str();
    let rules = dir("demo");
    let run = |since: &str, until: &str| -> Vec<serde_json::Value> {
        let (ok, out, err) = auditlake(&[
            "alerts",
            "--lake",
            lake,
            "--tenant",
            "acme",
            "--since",
            since,
            "--until",
            until,
            "--format",
            "json",
            "--sigma",
            rules.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        let v: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        v.into_iter()
            .filter(|a| a["rule"].as_str().unwrap().starts_with("sigma:"))
            .collect()
    };
    let uids_of = |alerts: &[serde_json::Value], rule: &str| -> Vec<String> {
        let mut v: Vec<String> = alerts
            .iter()
            .filter(|a| a["rule"] == rule)
            .flat_map(|a| a["uids"].as_array().unwrap().clone())
            .map(|u| u.as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    // The planted events, found independently of Sigma: root's three calls on day 2 and
    // zoe's reset on day 9 (the demo plants each exactly once).
    let truth = |sql: &str| -> Vec<String> {
        let (ok, out, err) = auditlake(&[
            "query", "--lake", lake, "--tenant", "acme", "--days", "100000", "--format", "csv", sql,
        ]);
        assert!(ok, "{err}");
        out.lines().skip(1).map(str::to_string).collect()
    };
    let root = truth(
        "SELECT uid FROM events WHERE event_source = 'aws' AND identity_kind = 'root' ORDER BY uid",
    );
    let reset =
        truth("SELECT uid FROM events WHERE event_type = 'user.mfa.factor.reset_all' ORDER BY uid");
    assert_eq!(root.len(), 3);
    assert_eq!(reset.len(), 1);

    let all = run("2024-05-01", "2024-05-13");
    assert_eq!(uids_of(&all, "sigma:demo_aws_root"), root, "{all:#?}");
    assert_eq!(
        uids_of(&all, "sigma:demo_okta_mfa_reset"),
        reset,
        "{all:#?}"
    );
    assert_eq!(all.len(), 2, "{all:#?}");
    let root_alert = all
        .iter()
        .find(|a| a["rule"] == "sigma:demo_aws_root")
        .unwrap();
    assert_eq!(root_alert["severity"], "critical");
    assert_eq!(root_alert["event_source"], "aws");
    assert_eq!(
        root_alert["evidence"]["sigma_title"],
        "AWS root account used"
    );
    assert!(
        root_alert["evidence"]["eventname"].is_string(),
        "{root_alert}"
    );
    // The period after the root story: only the reset remains.
    let later = run("2024-05-04", "2024-05-13");
    assert!(
        uids_of(&later, "sigma:demo_aws_root").is_empty(),
        "{later:#?}"
    );
    assert_eq!(uids_of(&later, "sigma:demo_okta_mfa_reset"), reset);
    // A state file makes a second run quiet.
    let st = t.path().join("state.json");
    let st = st.to_str().unwrap();
    for expect in [1usize, 0] {
        let (ok, out, err) = auditlake(&[
            "alerts",
            "--lake",
            lake,
            "--tenant",
            "acme",
            "--since",
            "2024-05-01",
            "--until",
            "2024-05-13",
            "--format",
            "ndjson",
            "--state",
            st,
            "--only",
            "sigma:demo_aws_root",
            "--sigma",
            rules.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        assert_eq!(out.lines().count(), expect, "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigma_alerts_on_athena_send_grammar_valid_trino() {
    let moto = common::Moto::start();
    moto.create_bucket("lake");
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("auditlake.yaml");
    std::fs::write(
        &cfg,
        "identity_activity_center:\n  region: us-east-1\n  database: auditlake\n  table: events\n  s3: s3://lake/data/\n  s3_results: s3://results/athena\n  workgroup: primary\n",
    )
    .unwrap();
    let rules = [dir("demo"), dir("rules/corr_temporal_ordered.yml")];
    let out = moto
        .cmd()
        .args(["alerts", "--engine", "athena", "--config"])
        .arg(&cfg)
        .args(["--tenant", "acme", "--format", "json", "--sigma"])
        .args(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let athena = moto.athena().await;
    let ids = common::athena_executions(&athena).await;
    let dir = tempfile::tempdir().unwrap();
    let mut sigma_sent = 0;
    for id in &ids {
        let sent = common::athena_sent_text(&athena, id).await;
        if sent.contains("sigma_id") {
            assert!(sent.contains("tenant_id = 'acme'"), "{sent}");
            std::fs::write(dir.path().join(format!("{id}.sql")), &sent).unwrap();
            sigma_sent += 1;
        }
    }
    // The two demo rules and the file's two ordered correlations (its base rules only feed them).
    assert_eq!(sigma_sent, 4, "{ids:?}");
    check_sql(dir.path());
}
