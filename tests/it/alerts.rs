//! Detections over the demo's planted stories: each story fires, the near misses do not, and a
//! state file makes a second run quiet.

use std::process::Command;

fn auditlake(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn planted_stories_fire_and_near_misses_do_not() {
    let (dir, lake) = crate::common::story_lake();
    let lake = lake.as_str();
    let json = auditlake(&[
        "alerts", "--lake", lake, "--tenant", "acme", "--days", "100000", "--format", "json",
    ]);
    let alerts: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let of = |rule: &str| {
        alerts
            .iter()
            .filter(|a| a["rule"] == rule)
            .collect::<Vec<_>>()
    };

    // Impossible travel: alice, Okta in Berlin then Teleport in Sydney 20 minutes later.
    let travel = of("impossible_travel");
    assert!(
        travel.iter().any(|a| a["identity"] == "alice"
            && a["evidence"]["from_city"] == "Berlin"
            && a["evidence"]["to_city"] == "Sydney"
            && a["evidence"]["from_source"] == "okta"
            && a["event_source"] == "teleport"
            && a["severity"] == "high"),
        "{travel:#?}"
    );
    // Near miss: paul commutes Potsdam ↔ Berlin (27 km); VPN users stay in Berlin.
    assert!(
        travel.iter().all(|a| a["identity"] == "alice"),
        "{travel:#?}"
    );

    // New country: dave in Lagos.
    assert!(
        of("new_country")
            .iter()
            .any(|a| a["identity"] == "dave" && a["evidence"]["city"] == "Lagos")
    );
    // Brute force: one source address, folded into one alert; routine failures stay below.
    let bf = of("brute_force");
    assert_eq!(bf.len(), 1, "{bf:#?}");
    assert_eq!(bf[0]["identity"], "95.165.10.66");
    assert!(bf[0]["uids"].as_array().unwrap().len() >= 20);
    // AWS root, logging stopped, repo made public, MFA reset.
    assert!(
        of("aws_root_activity")
            .iter()
            .any(|a| a["severity"] == "critical")
    );
    assert!(
        of("audit_logging_disabled")
            .iter()
            .any(|a| a["evidence"]["action"] == "StopLogging")
    );
    assert_eq!(of("github_repo_public").len(), 1);
    assert!(
        of("okta_mfa_reset")
            .iter()
            .any(|a| a["evidence"]["target_user"] == "carol@acme.com")
    );
    // Most severe first.
    let ranks: Vec<u8> = alerts
        .iter()
        .map(|a| match a["severity"].as_str().unwrap() {
            "critical" => 0,
            "high" => 1,
            "medium" => 2,
            _ => 3,
        })
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]));

    // A state file: the first run reports, the second has nothing new.
    let state = dir.path().join("state.json");
    let state = state.to_str().unwrap();
    let first = auditlake(&[
        "alerts", "--lake", lake, "--tenant", "acme", "--days", "100000", "--format", "ndjson",
        "--state", state,
    ]);
    assert_eq!(first.lines().count(), alerts.len());
    let second = auditlake(&[
        "alerts", "--lake", lake, "--tenant", "acme", "--days", "100000", "--format", "ndjson",
        "--state", state,
    ]);
    assert_eq!(second.lines().count(), 0, "{second}");

    // Replaying one day: alice's travel (day 8/12 = 2024-05-09) is there, the brute force of
    // 2024-05-05 is not.
    let day = auditlake(&[
        "alerts",
        "--lake",
        lake,
        "--tenant",
        "acme",
        "--since",
        "2024-05-09",
        "--until",
        "2024-05-09",
        "--format",
        "json",
    ]);
    let day: Vec<serde_json::Value> = serde_json::from_str(&day).unwrap();
    assert!(day.iter().any(|a| a["rule"] == "impossible_travel"));
    assert!(
        day.iter()
            .all(|a| a["rule"] != "brute_force"
                && a["time"].as_str().unwrap().starts_with("2024-05-09")),
        "{day:#?}"
    );

    // The other tenant's people never show up in a tenant-scoped run.
    assert!(!json.contains("@globex.com"));
}

/// The month a new user generates first: its routine behaviour raises no high or critical
/// alert (only the planted stories do), the default listing is grouped and above the severity
/// floor, `--summary` names each story's rule, and `--all` shows what the floor hid.
#[test]
fn the_demo_month_reads_in_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    auditlake(&[
        "demo",
        "--lake",
        lake,
        "--days",
        "30",
        "--events-per-day",
        "400",
        "--seed",
        "42",
        "--start",
        "2024-04-01",
    ]);
    let scope = ["--lake", lake, "--tenant", "acme", "--days", "100000"];
    let args = |extra: &[&'static str]| -> Vec<String> {
        ["alerts"]
            .iter()
            .chain(scope.iter())
            .chain(extra.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |extra: &[&'static str]| {
        let a = args(extra);
        auditlake(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&run(&["--all", "--format", "json"])).unwrap();
    // The planted stories, and who plays them.
    // (dave's Lagos sign-in, 1,000 km from Warsaw, is travel as well as a new country.)
    let stories = [
        ("impossible_travel", "alice"),
        ("impossible_travel", "dave"),
        ("brute_force", "95.165.10.66"),
        ("aws_root_activity", ":root"),
        ("audit_logging_disabled", "erin"),
        ("github_repo_public", "frusso"),
        ("okta_mfa_reset", "zoe@acme.com"),
    ];
    let severe: Vec<&serde_json::Value> = all
        .iter()
        .filter(|a| a["severity"] == "high" || a["severity"] == "critical")
        .collect();
    for a in &severe {
        let rule = a["rule"].as_str().unwrap();
        let who = a["identity"].as_str().unwrap_or_default();
        assert!(
            stories.iter().any(|(r, w)| *r == rule && who.contains(w)),
            "a high-severity alert from routine behaviour: {a:#}"
        );
    }
    for (rule, _) in stories {
        assert!(
            severe.iter().any(|a| a["rule"] == rule),
            "story {rule} did not fire"
        );
    }

    // The default floor hides the low-severity flood; `--all` shows it.
    let shown: Vec<serde_json::Value> = serde_json::from_str(&run(&["--format", "json"])).unwrap();
    assert!(shown.iter().all(|a| a["severity"] != "low"));
    assert!(all.len() > shown.len(), "{} vs {}", all.len(), shown.len());

    // The listing: one header per rule, one line per identity and day, a footer with what the
    // floor left out — far fewer lines than alerts.
    let text = run(&[]);
    let lines = text.lines().count();
    assert!(lines < 80, "{lines} lines:\n{text}");
    let footer = text.lines().last().unwrap();
    assert!(
        footer.contains(&format!("{} alerts", shown.len()))
            && footer.contains("below medium not shown"),
        "{footer}"
    );
    for (rule, _) in stories {
        assert!(text.contains(&format!(" {rule} — ")), "{rule}:\n{text}");
    }

    // The summary: one line per rule, with counts and the top identities.
    let summary = run(&["--summary"]);
    assert!(summary.starts_with("severity"), "{summary}");
    let brute = summary
        .lines()
        .find(|l| l.contains(" brute_force "))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(brute.contains("95.165.10.66 (1)"), "{brute}");
}

/// `--state` records an alert only once it was printed: when stdout fails (a full disk), the
/// run fails and the next run still reports everything.
#[test]
fn state_records_alerts_only_after_they_were_printed() {
    let (dir, lake) = crate::common::story_lake();
    let lake = lake.as_str();
    let state = dir.path().join("state.json");
    let state = state.to_str().unwrap();
    let args = [
        "alerts", "--lake", lake, "--tenant", "acme", "--days", "100000", "--format", "ndjson",
        "--state", state,
    ];
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(args)
        .stdout(full)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a failed print must fail the run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("write") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let first = auditlake(&args);
    assert!(
        first.lines().count() >= 7,
        "nothing was printed before, so everything is new:\n{first}"
    );
    assert_eq!(auditlake(&args), "", "printed once, recorded");
}

/// The definitions `new_country` and `first_seen_network` are written to: a login fires when the
/// person has a login in the 30 days before it (inclusive of exactly 30 days, strictly before
/// the instant) and none from this country (network) in that window. The shipped detections
/// count with window functions instead (the pair of correlated `EXISTS` compared every login
/// with all of the person's: 59 s on 120 k events); this keeps them equal to it.
const NEW_COUNTRY_BY_EXISTS: &str = "
WITH logins AS (
  SELECT COALESCE(i.person, e.identity) AS person, e.event_source, e.event_time, e.uid, e.ip,
         e.city, e.country
  FROM events e LEFT JOIN identities i ON e.identity = i.identity AND e.tenant_id = i.tenant_id
  WHERE e.status = 'success' AND e.country IS NOT NULL AND e.identity IS NOT NULL
)
SELECT a.person AS identity, a.event_source, a.event_time, a.uid, a.country, a.city, a.ip
FROM logins a
WHERE EXISTS (SELECT 1 FROM logins h WHERE h.person = a.person AND h.event_time < a.event_time
                AND h.event_time >= a.event_time - INTERVAL '30' DAY)
  AND NOT EXISTS (SELECT 1 FROM logins h WHERE h.person = a.person AND h.country = a.country
                AND h.event_time < a.event_time AND h.event_time >= a.event_time - INTERVAL '30' DAY)";

const FIRST_SEEN_NETWORK_BY_EXISTS: &str = r"
WITH logins AS (
  SELECT COALESCE(i.person, e.identity) AS person, e.event_source, e.event_time, e.uid, e.ip,
         e.city, COALESCE(regexp_extract(e.ip, '^(\d+\.\d+\.\d+)\.\d+$', 1), e.ip) AS network
  FROM events e LEFT JOIN identities i ON e.identity = i.identity AND e.tenant_id = i.tenant_id
  WHERE e.status = 'success' AND e.ip IS NOT NULL AND e.identity IS NOT NULL
    AND e.event_type IN ('user.login', 'user.session.start', 'ConsoleLogin')
)
SELECT a.person AS identity, a.event_source, a.event_time, a.uid, a.ip, a.network, a.city
FROM logins a
WHERE EXISTS (SELECT 1 FROM logins h WHERE h.person = a.person AND h.event_time < a.event_time
                AND h.event_time >= a.event_time - INTERVAL '30' DAY)
  AND NOT EXISTS (SELECT 1 FROM logins h WHERE h.person = a.person AND h.network = a.network
                AND h.event_time < a.event_time AND h.event_time >= a.event_time - INTERVAL '30' DAY)";

#[test]
fn history_detections_equal_their_exists_definitions() {
    let dir = tempfile::tempdir().unwrap();
    // Networks of the GeoIP fixture: two in Germany, one each elsewhere.
    let nets = [
        "85.214.132",
        "87.138.60",
        "81.2.69",
        "90.84.12",
        "105.112.20",
        "1.144.100",
    ];
    let day_ms: i64 = 86_400_000;
    let t0: i64 = 1_714_521_600_000; // 2024-05-01
    let mut lines = Vec::new();
    let mut login = |who: &str, at: i64, ip: &str, ok: bool| {
        let t = chrono::DateTime::from_timestamp_millis(at).unwrap();
        lines.push(format!(
            r#"{{"event":"user.login","code":"T1000I","time":"{}","uid":"u{}","user":"{who}","success":{ok},"addr.remote":"{ip}:4242"}}"#,
            t.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            lines.len()
        ));
    };
    // A pseudo-random history: six people, 70 days, hosts of a few networks each, every
    // instant on a minute (so that many logins share one).
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for _ in 0..2500 {
        let who = ["ana", "bo", "cy", "di", "ed", "fay"][next(6) as usize];
        let at = t0 + next(70 * 1440) as i64 * 60_000;
        let net = nets[(next(3) + next(4)) as usize % nets.len()];
        login(who, at, &format!("{net}.{}", 1 + next(3)), next(10) > 0);
    }
    // Edges: exactly 30 days of history counts; 30 days and 1 ms does not; two logins at one
    // instant from a new country and network both fire, each not history of the other.
    login("gil", t0, "85.214.132.9", true);
    login("gil", t0 + 30 * day_ms, "81.2.69.9", true);
    login("hal", t0, "85.214.132.9", true);
    login("hal", t0 + 30 * day_ms + 1, "81.2.69.9", true);
    login("ivy", t0, "85.214.132.9", true);
    login("ivy", t0 + 3 * day_ms, "105.112.20.7", true);
    login("ivy", t0 + 3 * day_ms, "105.112.20.8", true);
    let input = dir.path().join("logins.ndjson");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    let geoip = crate::common::fixture("geoip/auditlake-test-city.mmdb");
    auditlake(&[
        "ingest",
        "--lake",
        lake,
        "--tenant",
        "acme",
        "--views",
        "none",
        "--geoip",
        geoip.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    let run = |sql: &str| -> Vec<String> {
        let f = dir.path().join("q.sql");
        std::fs::write(&f, sql).unwrap();
        let out = auditlake(&[
            "query",
            "--lake",
            lake,
            "--tenant",
            "acme",
            "--format",
            "csv",
            "-f",
            f.to_str().unwrap(),
        ]);
        let mut rows: Vec<String> = out.lines().skip(1).map(str::to_string).collect();
        rows.sort();
        rows
    };
    let root = env!("CARGO_MANIFEST_DIR");
    for (name, reference) in [
        ("new_country", NEW_COUNTRY_BY_EXISTS),
        ("first_seen_network", FIRST_SEEN_NETWORK_BY_EXISTS),
    ] {
        let shipped = std::fs::read_to_string(format!("{root}/sql/detections/{name}.sql")).unwrap();
        let (got, want) = (run(&shipped), run(reference));
        assert!(
            want.len() >= 20,
            "{name}: only {} alerts to compare",
            want.len()
        );
        assert_eq!(got, want, "{name}");
        let of = |who: &str| {
            got.iter()
                .filter(|r| r.starts_with(&format!("{who},")))
                .count()
        };
        assert_eq!(
            (of("gil"), of("hal"), of("ivy")),
            (1, 0, 2),
            "{name}: {got:#?}"
        );
    }
}
