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
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    // 13 days: every story on its own day (day k/12), all four sources.
    auditlake(&[
        "demo",
        "--lake",
        lake,
        "--days",
        "13",
        "--events-per-day",
        "300",
        "--seed",
        "5",
        "--start",
        "2024-05-01",
    ]);
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
