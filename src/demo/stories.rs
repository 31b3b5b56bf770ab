//! The planted stories of tenant `acme` (see the module doc of `demo`): on which day and at
//! what time each happens, who does it, and the brute-force source and the names it tries.

use super::*;

/// Day index of a story placed at `k/12` of the span.
pub(super) fn story_day(days: u32, k: u32) -> u32 {
    days.saturating_sub(1) * k / 12
}

pub(super) fn plan_stories(
    w: &World,
    spec: &DemoSpec,
    d: u32,
    day: i64,
    r: &mut Rng,
    out: &mut Vec<Slot>,
) {
    let Some(ti) = w.tenants.iter().position(|t| t.id == "acme") else {
        return;
    };
    let t = &w.tenants[ti];
    let all = spec.sources == DemoSources::All;
    let at = |h: i64, m: i64, s: i64| day + h * HOUR_MS + m * MIN_MS + s * 1000;
    let mut add = |out: &mut Vec<Slot>, ts: i64, kind: Kind, actor: usize, aux: u64| {
        out.push(Slot {
            t: ts,
            seq: 0,
            tenant: ti as u8,
            kind,
            actor: actor as u16,
            aux: mix(r.next(), aux),
        });
    };
    let days = spec.days;
    if all && d == story_day(days, 2) {
        add(out, at(7, 55, 12), StRootLogin, 0, 0);
        add(out, at(8, 1, 40), StRootCall, 0, 0);
        add(out, at(8, 4, 3), StRootCall, 0, 1);
    }
    if d == story_day(days, 4) {
        for i in 0..30 {
            add(
                out,
                at(2, 14, 0) + i * 10_000 + 137,
                StBruteForce,
                0,
                i as u64,
            );
        }
    }
    if all && d == story_day(days, 6) {
        let dave = t.person_by_login("dave");
        add(out, at(13, 5, 31), StNewCountryLogin, dave, 0);
        add(out, at(13, 6, 2), StNewCountryMfa, dave, 0);
    }
    if all && d == story_day(days, 7) {
        add(
            out,
            at(19, 42, 8),
            StRepoPublic,
            t.person_by_login("frank"),
            0,
        );
    }
    if d == story_day(days, 8) {
        let alice = t.person_by_login("alice");
        if all {
            add(out, at(8, 10, 0), StTravelOkta, alice, 0);
        }
        add(out, at(8, 30, 0), StTravelLogin, alice, 0);
        add(out, at(8, 30, 2), StTravelCert, alice, 0);
        add(out, at(8, 31, 0), StTravelSession, alice, 0);
    }
    if all && d == story_day(days, 9) {
        add(out, at(10, 20, 44), StMfaReset, t.okta_admin, 0);
    }
    if all && d == story_day(days, 10) {
        let erin = t.person_by_login("erin");
        add(out, at(16, 40, 5), StStopLogging, erin, 0);
        add(out, at(17, 22, 51), StStartLogging, erin, 0);
    }
}

/// The brute-force source address (Moscow range of the fixture).
pub(super) const BRUTE_FORCE_IP: &str = "95.165.10.66";
pub(super) const BRUTE_FORCE_USERS: &[&str] = &[
    "admin",
    "root",
    "alice@acme.com",
    "administrator",
    "test",
    "ubuntu",
    "teleport-admin",
    "zoe@acme.com",
];
