//! Synthetic demo data: a month of events for a small company across all four sources.
//!
//! `generate` writes raw events, one JSON object a line, in each source's own format (a
//! Teleport audit event, one AWS CloudTrail record, a GitHub organization audit-log entry, an
//! Okta System Log `LogEvent`), so the data goes through exactly the decoders real data does.
//! Everything is a function of `DemoSpec`: a small PRNG seeded from `seed` (no wall clock, no
//! global state), so the same spec always gives the same bytes.
//!
//! # The world
//! * Tenant `acme` (≈90 % of the volume): 25 people in cities of the fixture GeoIP database
//!   (`fixtures/geoip/cities.json`; their addresses fall inside their city's range), Teleport
//!   cluster `acme.teleport.sh`, Okta org `acme.okta.com`, GitHub org `acme-corp`, an AWS
//!   organization with two accounts (`483920175612` prod, `739104628351` staging), three Machine
//!   ID bots (`bot-github-actions` from GitHub Actions runners, `bot-ansible`, `bot-backup`) and
//!   CI on GitHub Actions that assumes an AWS role through OIDC.
//! * Tenant `globex` (≈10 %): six people, one bot, one AWS account. No stories.
//! * People work 08:00–19:00 in their own time zone; weekends carry 30 % of a weekday's volume.
//!   `events_per_day` is a weekday's volume of routine events; on top come a handful of admin
//!   events a day (access lists, locks, joins, …, which do not scale with traffic) and the
//!   stories below, so the total is close to, not exactly, `events_per_day` per weekday.
//! * Source mix of the routine volume: Teleport 55 %, CloudTrail 25 %, GitHub 10 %, Okta 10 %.
//!   Every one of the 35 Access Monitoring event types occurs, and every query of the
//!   Privileged Access Report (seed 001) matches some events but not all of them.
//!
//! # Planted stories (tenant `acme`)
//! Day `k/12` means day index `(days - 1) * k / 12` from `start` (all on day 0 when `days` is
//! 1); times are UTC. Each happens exactly once.
//! * **AWS root console login** (day 2/12, 07:55): the root user of `483920175612` signs in
//!   without MFA from the Berlin office (`85.214.132.0/24`), then calls `GetAccountSummary`
//!   (08:01) and `ListUsers` (08:04).
//! * **Brute force** (day 4/12, 02:14:00–02:18:50): 30 failed local `user.login` on Teleport
//!   from `95.165.10.66` (Moscow), 10 s apart, trying `admin`, `root`, `alice@acme.com`, ….
//! * **New-country login** (day 6/12, 13:05): dave (home Warsaw) signs in to Okta from Lagos
//!   (`105.112.20.0/24`), followed by an MFA push at 13:06; he has never been outside Poland.
//! * **Repo made public** (day 7/12, 19:42): frank runs `repo.access` on
//!   `acme-corp/internal-tools` with `visibility: public`.
//! * **Impossible travel** (day 8/12): alice signs in to Okta from Berlin at 08:10, then at
//!   08:30 a Teleport `user.login` for `alice@acme.com` succeeds from Sydney (`1.144.100.0/24`),
//!   followed by a `cert.create` (08:30:02) and an SSH `session.start` as `root` (08:31) from
//!   the same Sydney address. (≈16,000 km in 20 minutes.)
//! * **Okta MFA reset** (day 9/12, 10:20): zoe (Okta admin) runs `user.mfa.factor.reset_all`
//!   on carol.
//! * **CloudTrail StopLogging** (day 10/12, 16:40): erin stops trail `acme-org-trail`
//!   (from Amsterdam); `StartLogging` follows at 17:22.
//!
//! With `DemoSources::TeleportOnly` only the Teleport halves are planted (the brute force and
//! alice's Sydney login).
//!
//! Near misses, on purpose: paul lives in Potsdam and often works from the Berlin office
//! (27 km), leo and alice sometimes use the Berlin VPN range; none of that is travel.
//!
//! Routine behaviour raises no high or critical alert (`auditlake alerts`), so the stories stand
//! out: people rotate their own AWS keys, admins add people to Okta groups (no admin grants)
//! and edit branch protection (no overrides), automation logs in as its own user, and admins
//! rarely use root.

mod bytes;
mod civil;
mod cloudtrail;
mod data;
mod github;
mod okta;
mod plan;
mod render;
mod rng;
mod stories;
mod teleport;
#[cfg(test)]
mod tests;
mod world;

use Kind::*;
use bytes::*;
use civil::*;
use data::*;
use plan::*;
use render::*;
use rng::*;
use stories::*;
use world::*;

use std::net::IpAddr;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

/// The fixture cities (also the source of `fixtures/geoip/auditlake-test-city.mmdb`).
const CITIES_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/geoip/cities.json"
));

const DAY_MS: i64 = 86_400_000;
const MIN_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoSpec {
    pub seed: u64,
    /// First UTC day.
    pub start: NaiveDate,
    pub days: u32,
    /// Routine events on a weekday, all tenants and sources together.
    pub events_per_day: u32,
    pub sources: DemoSources,
}

/// Which sources to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoSources {
    All,
    TeleportOnly,
}

/// One demo person and their name in each source, for cross-source identity mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoIdentity {
    pub tenant: String,
    /// A stable key for the person (`alice`).
    pub person: String,
    /// Display name (`Alice Keller`).
    pub name: String,
    pub email: String,
    pub teleport_user: String,
    pub github_login: String,
    pub aws_arn: String,
    pub okta_login: String,
}

/// The demo's people across sources (humans only; bots have no cross-source identity).
pub fn identities() -> Vec<DemoIdentity> {
    let mut out = Vec::new();
    for def in TENANTS {
        for p in def.people {
            out.push(DemoIdentity {
                tenant: def.id.to_string(),
                person: p.login.to_string(),
                name: p.name.to_string(),
                email: email(p.login, def.id),
                teleport_user: email(p.login, def.id),
                github_login: p.gh.to_string(),
                aws_arn: format!("arn:aws:iam::{}:user/{}", def.accounts[0].0, p.login),
                okta_login: email(p.login, def.id),
            });
        }
    }
    out
}

/// Calls `emit(tenant, line)` for every event, in time order per day: `line` is ONE raw event as
/// compact JSON text in the source's own real format (Teleport audit event JSON, a single AWS
/// CloudTrail record, a GitHub org audit-log entry, an Okta System Log LogEvent).
pub fn generate(spec: &DemoSpec, emit: &mut dyn FnMut(&str, &str)) {
    let world = World::build(spec.seed);
    let mut r = Render {
        b: String::with_capacity(4096),
    };
    let mut slots: Vec<Slot> = Vec::new();
    let start_days = days_from_civil(spec.start.year(), spec.start.month(), spec.start.day());
    for d in 0..spec.days {
        let day_start = (start_days + i64::from(d)) * DAY_MS;
        let date = spec.start + chrono::Days::new(u64::from(d));
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        slots.clear();
        let mut rng = Rng::new(mix(spec.seed, 0x5eed_0000 + u64::from(d)));
        plan_day(&world, spec, day_start, weekend, &mut rng, &mut slots);
        plan_stories(&world, spec, d, day_start, &mut rng, &mut slots);
        // Stable on (time, plan order): the plan is deterministic, so the output is too.
        for (i, s) in slots.iter_mut().enumerate() {
            s.seq = i as u32;
        }
        slots.sort_unstable_by_key(|s| (s.t, s.seq));
        for s in &slots {
            let ten = &world.tenants[usize::from(s.tenant)];
            r.render(&world, ten, s);
            emit(ten.id, &r.b);
        }
    }
}
