//! The demo's properties: determinism, every source decodes, every view and report query matches,
//! the stories are planted once, addresses resolve to their cities.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::Value;

use super::cloudtrail::push_ct_expiration;
use super::*;

const GEOIP_FIXTURE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/geoip/auditlake-test-city.mmdb"
));

fn spec(seed: u64, days: u32, per_day: u32, sources: DemoSources) -> DemoSpec {
    DemoSpec {
        seed,
        start: NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
        days,
        events_per_day: per_day,
        sources,
    }
}

fn run(s: &DemoSpec) -> Vec<(String, String)> {
    let mut out = Vec::new();
    generate(s, &mut |t, l| out.push((t.to_string(), l.to_string())));
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Src {
    Teleport,
    CloudTrail,
    GitHub,
    Okta,
}

/// Which source a line is, and its time in ms, by the fields each format must have.
fn classify(v: &Value) -> (Src, i64) {
    let rfc = |s: &Value| {
        chrono::DateTime::parse_from_rfc3339(s.as_str().expect("time is a string"))
            .expect("RFC 3339 time")
            .timestamp_millis()
    };
    // GitHub first: a workflow entry has an `event` field of its own ("push").
    if v.get("_document_id").is_some() {
        assert!(
            v["action"].is_string() && v["actor"].is_string(),
            "github: {v}"
        );
        assert!(v["_document_id"].is_string(), "github: {v}");
        (
            Src::GitHub,
            v["@timestamp"].as_i64().expect("github @timestamp"),
        )
    } else if v.get("event").is_some() {
        for f in ["event", "code", "time", "uid"] {
            assert!(v[f].is_string(), "teleport field {f} missing: {v}");
        }
        (Src::Teleport, rfc(&v["time"]))
    } else if v.get("eventVersion").is_some() {
        for f in [
            "eventVersion",
            "eventTime",
            "eventID",
            "eventName",
            "eventSource",
        ] {
            assert!(v[f].is_string(), "cloudtrail field {f} missing: {v}");
        }
        assert!(
            v["userIdentity"].is_object(),
            "cloudtrail userIdentity: {v}"
        );
        (Src::CloudTrail, rfc(&v["eventTime"]))
    } else {
        for f in ["uuid", "published", "eventType"] {
            assert!(v[f].is_string(), "okta field {f} missing: {v}");
        }
        assert!(v["actor"].is_object(), "okta actor: {v}");
        (Src::Okta, rfc(&v["published"]))
    }
}

fn parsed(lines: &[(String, String)]) -> Vec<(String, Value)> {
    lines
        .iter()
        .map(|(t, l)| {
            (
                t.clone(),
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {e}: {l}")),
            )
        })
        .collect()
}

#[test]
fn deterministic_by_seed() {
    let a = run(&spec(7, 3, 400, DemoSources::All));
    let b = run(&spec(7, 3, 400, DemoSources::All));
    let c = run(&spec(8, 3, 400, DemoSources::All));
    assert!(a.len() > 1000);
    assert_eq!(a, b, "same seed, same output");
    assert_ne!(a, c, "different seed, different output");
}

#[test]
fn lines_are_valid_source_json_within_days_in_time_order() {
    let s = spec(3, 10, 1500, DemoSources::All);
    let lines = run(&s);
    let first = days_from_civil(2024, 5, 1) * DAY_MS;
    let last = first + 10 * DAY_MS;
    let mut prev = i64::MIN;
    let mut uids = BTreeSet::new();
    for (tenant, v) in parsed(&lines) {
        assert!(tenant == "acme" || tenant == "globex");
        let (src, t) = classify(&v);
        assert!((first..last).contains(&t), "{t} outside the days: {v}");
        // CloudTrail has whole seconds; compare at that precision.
        let sec = t.div_euclid(1000);
        assert!(sec >= prev, "out of order at {v}");
        prev = sec;
        let id = match src {
            Src::Teleport => v["uid"].as_str(),
            Src::CloudTrail => v["eventID"].as_str(),
            Src::GitHub => v["_document_id"].as_str(),
            Src::Okta => v["uuid"].as_str(),
        };
        assert!(uids.insert(id.unwrap().to_string()), "duplicate id {v}");
        if src == Src::Teleport {
            let uid = v["uid"].as_str().unwrap();
            assert_eq!(
                uuid::Uuid::parse_str(uid).map(|u| u.get_version_num()).ok(),
                Some(4),
                "{uid}"
            );
            if let Some(addr) = v["addr.remote"].as_str() {
                let host = addr.rsplit_once(':').unwrap().0.trim_matches(['[', ']']);
                assert!(host.parse::<IpAddr>().is_ok(), "{addr}");
            }
        }
    }
}

#[test]
fn source_mix_tenants_and_all_teleport_types() {
    let lines = run(&spec(11, 30, 1200, DemoSources::All));
    let mut by_src: BTreeMap<Src, usize> = BTreeMap::new();
    let mut tenants: BTreeMap<String, usize> = BTreeMap::new();
    let mut types = BTreeSet::new();
    for (tenant, v) in parsed(&lines) {
        let (src, _) = classify(&v);
        *by_src.entry(src).or_default() += 1;
        *tenants.entry(tenant).or_default() += 1;
        if src == Src::Teleport {
            types.insert(v["event"].as_str().unwrap().to_string());
        }
    }
    let n = lines.len() as f64;
    for (src, target) in [
        (Src::Teleport, 55.0),
        (Src::CloudTrail, 25.0),
        (Src::GitHub, 10.0),
        (Src::Okta, 10.0),
    ] {
        let pct = by_src.get(&src).copied().unwrap_or(0) as f64 * 100.0 / n;
        assert!(
            (pct - target).abs() <= 5.0,
            "{src:?} is {pct:.1}% (target {target}%)"
        );
    }
    let globex = tenants["globex"] as f64 * 100.0 / n;
    assert!((5.0..=16.0).contains(&globex), "globex share {globex:.1}%");
    let want = [
        "access_list.create",
        "access_list.delete",
        "access_list.member.create",
        "access_list.member.delete",
        "access_list.member.update",
        "access_list.review",
        "access_list.update",
        "access_request.create",
        "access_request.review",
        "auth",
        "bot.join",
        "cert.create",
        "db.session.query",
        "db.session.query.failed",
        "db.session.start",
        "device.authenticate",
        "device.enroll",
        "exec",
        "instance.join",
        "join_token.create",
        "kube.request",
        "lock.created",
        "lock.deleted",
        "recovery_code.used",
        "reset_password_token.create",
        "saml.idp.auth",
        "session.command",
        "session.join",
        "session.rejected",
        "session.start",
        "user.create",
        "user.login",
        "user.password_change",
        "windows.desktop.session.end",
        "windows.desktop.session.start",
    ];
    assert_eq!(want.len(), 35);
    let missing: Vec<_> = want.iter().filter(|t| !types.contains(**t)).collect();
    assert!(missing.is_empty(), "missing teleport types: {missing:?}");
    let extra: Vec<_> = types
        .iter()
        .filter(|t| !want.contains(&t.as_str()))
        .collect();
    assert!(extra.is_empty(), "unexpected teleport types: {extra:?}");
}

#[test]
fn teleport_only_is_only_teleport() {
    for (_, v) in parsed(&run(&spec(5, 3, 500, DemoSources::TeleportOnly))) {
        assert_eq!(classify(&v).0, Src::Teleport, "{v}");
    }
}

/// Each query of the Privileged Access Report (seed 001) matches some events but not all.
#[test]
fn privileged_access_report_queries_match_some_not_all() {
    let events: Vec<Value> = parsed(&run(&spec(21, 7, 1500, DemoSources::TeleportOnly)))
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let ty = |v: &Value, t: &str| v["event"] == t;
    let weak = |v: &Value| {
        v.get("access_requests").is_none()
            && v.get("with_mfa").is_none()
            && v.get("impersonator").is_none()
            && v["trusted_device"].get("device_id").is_none()
    };
    let ms = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    type Pred = Box<dyn Fn(&Value) -> bool>;
    let checks: Vec<(&str, &str, Pred)> = vec![
        ("db_session_start weak", "db.session.start", Box::new(weak)),
        (
            "session_start ssh weak",
            "session.start",
            Box::new(move |v: &Value| v["proto"] == "ssh" && weak(v)),
        ),
        ("kube_request weak", "kube.request", Box::new(weak)),
        (
            "postgres superuser",
            "db.session.start",
            Box::new(|v: &Value| v["db_protocol"] == "postgres" && v["db_user"] == "postgres"),
        ),
        (
            "kube exec",
            "exec",
            Box::new(|v: &Value| v["proto"] == "kube"),
        ),
        (
            "long-lived cert",
            "cert.create",
            Box::new(move |v: &Value| ms(&v["identity"]["expires"]) - ms(&v["time"]) > DAY_MS),
        ),
        (
            "long-lived join token",
            "instance.join",
            Box::new(move |v: &Value| {
                v.get("token_expires")
                    .is_some_and(|t| ms(t) - ms(&v["time"]) > DAY_MS)
            }),
        ),
        (
            "root ssh",
            "session.start",
            Box::new(|v: &Value| v["login"] == "root"),
        ),
        (
            "system:masters",
            "kube.request",
            Box::new(|v: &Value| {
                v["kubernetes_groups"]
                    .as_array()
                    .is_some_and(|g| g.iter().any(|x| x == "system:masters"))
            }),
        ),
    ];
    for (name, t, pred) in &checks {
        let all: Vec<&Value> = events.iter().filter(|v| ty(v, t)).collect();
        let hits = all.iter().filter(|v| pred(v)).count();
        assert!(
            hits > 0 && hits < all.len(),
            "{name}: {hits} of {}",
            all.len()
        );
    }
    // Access requests and their reviews join on id.
    let created: BTreeSet<&str> = events
        .iter()
        .filter(|v| ty(v, "access_request.create"))
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    let reviewed: BTreeSet<&str> = events
        .iter()
        .filter(|v| ty(v, "access_request.review"))
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert!(!reviewed.is_empty() && reviewed.is_subset(&created));
}

#[test]
fn stories_are_planted() {
    let s = spec(42, 30, 800, DemoSources::All);
    let events = parsed(&run(&s));
    let acme: Vec<&Value> = events
        .iter()
        .filter(|(t, _)| t == "acme")
        .map(|(_, v)| v)
        .collect();
    let count = |f: &dyn Fn(&Value) -> bool| acme.iter().filter(|v| f(v)).count();
    let ct_time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();

    // Brute force: 30 failures from one address within 5 minutes.
    let brute: Vec<&&Value> = acme
        .iter()
        .filter(|v| {
            v["event"] == "user.login"
                && v["addr.remote"]
                    .as_str()
                    .is_some_and(|a| a.starts_with(BRUTE_FORCE_IP))
        })
        .collect();
    assert_eq!(brute.len(), 30);
    assert!(brute.iter().all(|v| v["success"] == false));
    let span = ct_time(&brute[29]["time"]) - ct_time(&brute[0]["time"]);
    assert!(span <= chrono::Duration::minutes(5), "{span}");

    // Impossible travel: alice in Okta from Berlin, 20 minutes later Teleport from Sydney.
    let okta_berlin: Vec<&&Value> = acme
        .iter()
        .filter(|v| {
            v["eventType"] == "user.session.start"
                && v["actor"]["alternateId"] == "alice@acme.com"
                && v["client"]["geographicalContext"]["city"] == "Berlin"
        })
        .collect();
    let sydney = World::build(0)
        .cities
        .iter()
        .find(|c| c.key == "sydney")
        .unwrap()
        .network
        .clone();
    let sydney_prefix = sydney.rsplit_once('.').unwrap().0.to_string();
    let tp_sydney: Vec<&&Value> = acme
        .iter()
        .filter(|v| {
            v["event"] == "user.login"
                && v["user"] == "alice@acme.com"
                && v["addr.remote"]
                    .as_str()
                    .is_some_and(|a| a.starts_with(&sydney_prefix))
        })
        .collect();
    assert_eq!(tp_sydney.len(), 1);
    let t_sydney = ct_time(&tp_sydney[0]["time"]);
    assert!(
        okta_berlin
            .iter()
            .any(|v| t_sydney - ct_time(&v["published"]) == chrono::Duration::minutes(20)),
        "no Berlin Okta login 20 minutes before {t_sydney}"
    );

    // New country: dave (Warsaw) from Nigeria.
    assert_eq!(
        count(&|v| v["actor"]["alternateId"] == "dave@acme.com"
            && v["client"]["geographicalContext"]["country"] == "Nigeria"),
        2
    );
    assert_eq!(
        count(&|v| v["actor"]["alternateId"] == "dave@acme.com"
            && v["client"]["geographicalContext"]["country"] != "Poland"),
        2,
        "dave is only ever in Poland otherwise"
    );
    assert_eq!(
        count(&|v| v["eventName"] == "ConsoleLogin" && v["userIdentity"]["type"] == "Root"),
        1
    );
    assert_eq!(count(&|v| v["userIdentity"]["type"] == "Root"), 3);
    assert_eq!(
        count(&|v| v["userIdentity"]["type"] == "Root" && v["eventName"] == "ListUsers"),
        1
    );
    assert_eq!(count(&|v| v["eventName"] == "StopLogging"), 1);
    assert_eq!(
        count(&|v| v["action"] == "repo.access" && v["visibility"] == "public"),
        1
    );
    assert_eq!(count(&|v| v["eventType"] == "user.mfa.factor.reset_all"), 1);
    let globex_root = events
        .iter()
        .filter(|(t, v)| t == "globex" && v["userIdentity"]["type"] == "Root")
        .count();
    assert_eq!(globex_root, 0);
}

#[test]
fn short_spans_still_get_every_story_once() {
    assert!(run(&spec(1, 0, 1000, DemoSources::All)).is_empty());
    let one = parsed(&run(&spec(1, 1, 50, DemoSources::All)));
    let count = |f: &dyn Fn(&Value) -> bool| one.iter().filter(|(_, v)| f(v)).count();
    assert_eq!(count(&|v| v["eventName"] == "StopLogging"), 1);
    assert_eq!(
        count(&|v| v["eventName"] == "ConsoleLogin" && v["userIdentity"]["type"] == "Root"),
        1
    );
    assert_eq!(count(&|v| v["eventType"] == "user.mfa.factor.reset_all"), 1);
    assert_eq!(
        count(&|v| v["action"] == "repo.access" && v["visibility"] == "public"),
        1
    );
    assert_eq!(
        count(&|v| v["addr.remote"]
            .as_str()
            .is_some_and(|a| a.starts_with(BRUTE_FORCE_IP))),
        30
    );
    let tp_only = parsed(&run(&spec(1, 1, 50, DemoSources::TeleportOnly)));
    assert!(
        tp_only
            .iter()
            .any(|(_, v)| v["user"] == "alice@acme.com" && v["login"] == "root")
    );
}

#[test]
fn people_are_at_home_in_the_geoip_fixture() {
    let w = World::build(9);
    for t in &w.tenants {
        for p in &t.people {
            for (ip, c) in p.ips.iter().zip(&p.cities) {
                let ip: IpAddr = ip.parse().unwrap();
                assert!(crate::ingest::enrich::is_public(ip), "{ip}");
                let (base, len) = w.cities[*c].network.split_once('/').unwrap();
                let base: IpAddr = base.parse().unwrap();
                let len: u32 = len.parse().unwrap();
                let same = match (ip, base) {
                    (IpAddr::V4(a), IpAddr::V4(b)) => {
                        (u32::from(a) ^ u32::from(b)) >> (32 - len) == 0
                    }
                    (IpAddr::V6(a), IpAddr::V6(b)) => {
                        (u128::from(a) ^ u128::from(b)) >> (128 - len) == 0
                    }
                    _ => false,
                };
                assert!(same, "{ip} not in {}", w.cities[*c].network);
            }
        }
    }
    let ids = identities();
    assert_eq!(ids.iter().filter(|i| i.tenant == "acme").count(), 25);
    assert!(ids.iter().any(|i| i.person == "alice"
        && i.name == "Alice Keller"
        && i.teleport_user == "alice@acme.com"
        && i.github_login == "alice-keller"
        && i.aws_arn == "arn:aws:iam::483920175612:user/alice"
        && i.okta_login == "alice@acme.com"));
}

#[test]
fn time_formats() {
    let ms = days_from_civil(2024, 3, 20) * DAY_MS + 12 * HOUR_MS + 12 * MIN_MS + 3_370;
    let f = |style| {
        let mut b = String::new();
        push_time(&mut b, ms, style);
        b
    };
    assert_eq!(f(Ts::Go), "2024-03-20T12:12:03.37Z");
    assert_eq!(f(Ts::Millis), "2024-03-20T12:12:03.370Z");
    assert_eq!(f(Ts::Secs), "2024-03-20T12:12:03Z");
    let mut b = String::new();
    push_time(&mut b, ms - 370, Ts::Go);
    assert_eq!(b, "2024-03-20T12:12:03Z");
    b.clear();
    push_ct_expiration(&mut b, ms + HOUR_MS);
    assert_eq!(b, "Mar 20, 2024, 1:12:03 PM");
    for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2024, 12, 31), (2100, 3, 1)] {
        assert_eq!(
            civil_from_days(days_from_civil(y, m, d)),
            (i64::from(y), m, d)
        );
    }
    let mut b = String::new();
    push_esc(&mut b, "a\"b\\c\n");
    assert_eq!(b, "a\\\"b\\\\c\\n");
}

#[test]
fn speed_sanity() {
    let s = spec(1, 10, 20_000, DemoSources::All);
    let started = std::time::Instant::now();
    let mut n = 0u64;
    let mut bytes = 0usize;
    generate(&s, &mut |_, l| {
        n += 1;
        bytes += l.len();
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "demo: {n} events, {:.0} bytes/event, {:.0} events/s ({} build)",
        bytes as f64 / n as f64,
        n as f64 / secs,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    assert!(n > 150_000);
}

/// The fixture GeoIP database answers for every entry of cities.json, like a MaxMind City
/// database would, and not for private space.
#[test]
fn geoip_fixture_matches_cities_json() {
    let reader = maxminddb::Reader::from_source(GEOIP_FIXTURE).expect("valid mmdb");
    assert_eq!(reader.metadata().database_type, "GeoIP2-City");
    assert_eq!(reader.metadata().ip_version, 6);
    let entries: Vec<Value> = serde_json::from_str(CITIES_JSON).unwrap();
    assert!(entries.len() >= 25);
    for e in &entries {
        let rec: CityRec = serde_json::from_value(e.clone()).unwrap();
        for h in [0u64, 6, 200] {
            let ip = rec.host(h);
            let mut probes = vec![ip];
            if let IpAddr::V4(v4) = ip {
                probes.push(IpAddr::V6(v4.to_ipv6_mapped()));
            }
            for probe in probes {
                let found = reader.lookup(probe).unwrap();
                let city: maxminddb::geoip2::City =
                    found.decode().unwrap().unwrap_or_else(|| panic!("{probe}"));
                assert_eq!(city.city.names.english, Some(rec.city.as_str()), "{probe}");
                assert_eq!(
                    city.city.geoname_id,
                    e["geoname_id"].as_u64().map(|g| g as u32)
                );
                assert_eq!(city.country.iso_code, Some(rec.country.iso_code.as_str()));
                assert_eq!(city.country.names.english, Some(rec.country.name.as_str()));
                assert_eq!(city.continent.code, e["continent"]["code"].as_str());
                assert_eq!(city.location.latitude, Some(rec.latitude));
                assert_eq!(city.location.longitude, Some(rec.longitude));
                assert_eq!(
                    city.location.accuracy_radius,
                    e["accuracy_radius"].as_u64().map(|a| a as u16)
                );
                assert_eq!(city.location.time_zone, e["time_zone"].as_str());
                assert_eq!(
                    city.subdivisions.first().and_then(|s| s.iso_code),
                    e["region"]["iso_code"].as_str()
                );
                assert!(
                    crate::ingest::enrich::is_public(probe),
                    "{probe} would never be looked up"
                );
            }
        }
    }
    for ip in ["10.0.0.1", "8.8.8.8", "2001:4860::8888"] {
        let found = reader.lookup(ip.parse().unwrap()).unwrap();
        assert!(
            found.decode::<maxminddb::geoip2::City>().unwrap().is_none(),
            "{ip}"
        );
    }
    // The enricher's view of it.
    let geo = crate::ingest::enrich::GeoIp::from_bytes(GEOIP_FIXTURE.to_vec()).unwrap();
    let g = geo.lookup("87.138.60.9".parse().unwrap()).unwrap();
    assert_eq!(g.city.as_deref(), Some("Potsdam"));
    assert_eq!(g.region.as_deref(), Some("Brandenburg"));
    assert!(geo.lookup("10.0.0.1".parse().unwrap()).is_none());
}
