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

// ---------------------------------------------------------------------------------------------
// PRNG and ids

/// splitmix64: tiny, fast, and good enough for synthetic data.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn one<T: Copy>(&mut self, xs: &[T]) -> T {
        *self.pick(xs)
    }
    fn weighted<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
        let total: u32 = table.iter().map(|(_, w)| w).sum();
        let mut x = self.below(u64::from(total)) as u32;
        for (v, w) in table {
            if x < *w {
                return *v;
            }
            x -= w;
        }
        table[table.len() - 1].0
    }
}

fn mix(a: u64, b: u64) -> u64 {
    Rng::new(a ^ b.wrapping_mul(0xd6e8_feb8_6659_fd93)).next()
}

/// FNV-1a, for ids that must not depend on the seed (people's ids in `identities`).
fn hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h, 1)
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UPPER_ALNUM: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A version-4-shaped UUID from 128 PRNG bits.
fn push_uuid(b: &mut String, r: &mut Rng) {
    let hi = r.next();
    let lo = r.next();
    let hi = (hi & !0xf000) | 0x4000;
    let lo = (lo & !(0xc << 60)) | (0x8 << 60);
    let mut out = [0u8; 36];
    let mut o = 0;
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            out[o] = b'-';
            o += 1;
        }
        let nib = if i < 16 {
            (hi >> (60 - 4 * i)) & 0xf
        } else {
            (lo >> (60 - 4 * (i - 16))) & 0xf
        };
        out[o] = HEX[nib as usize];
        o += 1;
    }
    b.push_str(std::str::from_utf8(&out).unwrap_or_default());
}

fn uuid_string(r: &mut Rng) -> String {
    let mut s = String::with_capacity(36);
    push_uuid(&mut s, r);
    s
}

fn push_chars(b: &mut String, r: &mut Rng, alphabet: &[u8], n: usize) {
    for _ in 0..n {
        b.push(char::from(
            alphabet[r.below(alphabet.len() as u64) as usize],
        ));
    }
}

fn id_string(prefix: &str, seed: u64, alphabet: &[u8], n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    push_chars(&mut s, &mut Rng::new(seed), alphabet, n);
    s
}

fn push_hex(b: &mut String, r: &mut Rng, n: usize) {
    push_chars(b, r, HEX, n);
}

// ---------------------------------------------------------------------------------------------
// Time formatting (no chrono on the hot path)

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[derive(Clone, Copy)]
enum Ts {
    /// Go's RFC3339Nano (Teleport): trailing zeros of the fraction trimmed, no fraction at 0.
    Go,
    /// Whole seconds (CloudTrail `eventTime`).
    Secs,
    /// Always three fraction digits (Okta `published`).
    Millis,
}

fn push2(b: &mut String, v: u32) {
    b.push(char::from(b'0' + (v / 10) as u8));
    b.push(char::from(b'0' + (v % 10) as u8));
}

fn push_time(b: &mut String, ms: i64, style: Ts) {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000) as u32;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    let y = y.clamp(0, 9999) as u32;
    push2(b, y / 100);
    push2(b, y % 100);
    b.push('-');
    push2(b, m);
    b.push('-');
    push2(b, d);
    b.push('T');
    push2(b, sod / 3600);
    b.push(':');
    push2(b, sod / 60 % 60);
    b.push(':');
    push2(b, sod % 60);
    match style {
        Ts::Secs => {}
        Ts::Millis => {
            b.push('.');
            b.push(char::from(b'0' + (frac / 100) as u8));
            push2(b, frac % 100);
        }
        Ts::Go => {
            if frac != 0 {
                let digits = [frac / 100, frac / 10 % 10, frac % 10];
                let keep = if !frac.is_multiple_of(10) {
                    3
                } else if !frac.is_multiple_of(100) {
                    2
                } else {
                    1
                };
                b.push('.');
                for dd in &digits[..keep] {
                    b.push(char::from(b'0' + *dd as u8));
                }
            }
        }
    }
    b.push('Z');
}

fn push_u64(b: &mut String, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    b.push_str(std::str::from_utf8(&tmp[i..]).unwrap_or_default());
}

fn push_i64(b: &mut String, v: i64) {
    if v < 0 {
        b.push('-');
    }
    push_u64(b, v.unsigned_abs());
}

/// Appends `v` as the inside of a JSON string.
fn push_esc(b: &mut String, v: &str) {
    if !v.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20) {
        b.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '"' => b.push_str("\\\""),
            '\\' => b.push_str("\\\\"),
            '\n' => b.push_str("\\n"),
            '\t' => b.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                b.push_str("\\u00");
                b.push(char::from(HEX[(c as usize) >> 4]));
                b.push(char::from(HEX[(c as usize) & 0xf]));
            }
            c => b.push(c),
        }
    }
}

/// `,"k":"v"`
fn ks(b: &mut String, k: &str, v: &str) {
    b.push_str(",\"");
    b.push_str(k);
    b.push_str("\":\"");
    push_esc(b, v);
    b.push('"');
}

/// `,"k":<integer>`
fn kn(b: &mut String, k: &str, v: i64) {
    b.push_str(",\"");
    b.push_str(k);
    b.push_str("\":");
    push_i64(b, v);
}

/// `,"k":"<time>"`
fn kt(b: &mut String, k: &str, ms: i64, style: Ts) {
    b.push_str(",\"");
    b.push_str(k);
    b.push_str("\":\"");
    push_time(b, ms, style);
    b.push('"');
}

/// `,"k":"<uuid>"`
fn ku(b: &mut String, k: &str, r: &mut Rng) {
    b.push_str(",\"");
    b.push_str(k);
    b.push_str("\":\"");
    push_uuid(b, r);
    b.push('"');
}

/// `,"k":["a","b"]`
fn ka(b: &mut String, k: &str, vs: &[&str]) {
    b.push_str(",\"");
    b.push_str(k);
    b.push_str("\":[");
    for (i, v) in vs.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        b.push('"');
        push_esc(b, v);
        b.push('"');
    }
    b.push(']');
}

// ---------------------------------------------------------------------------------------------
// The fixture cities

#[derive(Debug, Clone, Deserialize)]
struct CityRec {
    key: String,
    network: String,
    city: String,
    region: Option<RegionRec>,
    country: CountryRec,
    latitude: f64,
    longitude: f64,
    utc_offset_hours: f64,
}

#[derive(Debug, Clone, Deserialize)]
struct RegionRec {
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct CountryRec {
    iso_code: String,
    name: String,
}

impl CityRec {
    /// An address inside this entry's network; `h` picks the host.
    fn host(&self, h: u64) -> IpAddr {
        let (base, prefix) = self
            .network
            .split_once('/')
            .unwrap_or((&self.network, "24"));
        let prefix: u32 = prefix.parse().unwrap_or(24);
        match base.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => {
                let bits = 32 - prefix.min(31);
                let span = (1u64 << bits) - 2;
                IpAddr::V4((u32::from(v4) + 1 + (h % span) as u32).into())
            }
            Ok(IpAddr::V6(v6)) => {
                let bits = 128 - prefix.min(127);
                let mask = if bits >= 128 {
                    u128::MAX
                } else {
                    (1u128 << bits) - 1
                };
                // Low 64 bits random, the rest of the host part small: looks like SLAAC.
                let host = (u128::from(h) | 1) & mask;
                IpAddr::V6((u128::from(v6) | host).into())
            }
            Err(_) => IpAddr::V4(0x5565_0a01.into()),
        }
    }
}

fn load_cities() -> Vec<CityRec> {
    // The file is compiled in and checked by the tests; an error here is a build defect.
    serde_json::from_str(CITIES_JSON).expect("fixtures/geoip/cities.json is valid")
}

// ---------------------------------------------------------------------------------------------
// Static description of the tenants

struct PersonDef {
    login: &'static str,
    name: &'static str,
    city: &'static str,
    gh: &'static str,
    admin: bool,
    /// A second place they appear from (VPN, office).
    alt: Option<&'static str>,
}

const fn pd(
    login: &'static str,
    name: &'static str,
    city: &'static str,
    gh: &'static str,
    admin: bool,
) -> PersonDef {
    PersonDef {
        login,
        name,
        city,
        gh,
        admin,
        alt: None,
    }
}

struct BotDef {
    name: &'static str,
    method: &'static str,
    city: &'static str,
    cert_ttl_h: i64,
    kinds: &'static [(Kind, u32)],
}

struct DbDef {
    service: &'static str,
    protocol: &'static str,
    uri: &'static str,
    ty: &'static str,
    region: &'static str,
    users: &'static [(&'static str, u32)],
    names: &'static [&'static str],
}

struct TenantDef {
    id: &'static str,
    share: f64,
    people: &'static [PersonDef],
    bots: &'static [BotDef],
    /// (account id, alias); the first holds the IAM users.
    accounts: &'static [(&'static str, &'static str)],
    gh_org: &'static str,
    gh_org_id: u64,
    aws_region: &'static str,
    servers: &'static [(&'static str, &'static str, &'static str)],
    dbs: &'static [DbDef],
    kube: &'static [&'static str],
    desktops: &'static [(&'static str, &'static str)],
    repos: &'static [&'static str],
    okta_admin: &'static str,
}

const ACME_PEOPLE: &[PersonDef] = &[
    PersonDef {
        alt: Some("berlin-vpn"),
        ..pd("alice", "Alice Keller", "berlin", "alice-keller", true)
    },
    pd("bob", "Bob Lee", "london", "boblee", false),
    pd("carol", "Carol Martin", "paris", "cmartin", false),
    pd("dave", "Dave Nowak", "warsaw", "dnowak", false),
    pd("erin", "Erin de Vries", "amsterdam", "erindv", true),
    pd("frank", "Frank Russo", "new-york", "frusso", true),
    pd("grace", "Grace Kim", "san-francisco", "gracekim", false),
    pd("heidi", "Heidi Larsen", "seattle", "hlarsen", false),
    pd("ivan", "Ivan Petrenko", "kyiv", "ipetrenko", true),
    pd("judy", "Judy Tremblay", "toronto", "jtremblay", false),
    PersonDef {
        alt: Some("berlin-vpn"),
        ..pd("leo", "Leo Wagner", "berlin", "leowagner", false)
    },
    pd("mia", "Mia Nguyen", "sydney", "mianguyen", false),
    pd("nina", "Nina Vogel", "berlin-v6", "ninavogel", false),
    pd("oscar", "Oscar Silva", "sao-paulo", "osilva", false),
    PersonDef {
        alt: Some("berlin"),
        ..pd("paul", "Paul Braun", "potsdam", "pbraun", false)
    },
    pd("priya", "Priya Raman", "bangalore", "priyar", false),
    pd("quentin", "Quentin Moreau", "paris", "qmoreau", false),
    pd("rachel", "Rachel Cohen", "new-york", "rcohen", false),
    pd("sam", "Sam Ortiz", "san-francisco-v6", "samortiz", false),
    pd("tariq", "Tariq Aziz", "london", "taziz", false),
    pd("uma", "Uma Iyer", "bangalore", "umaiyer", false),
    pd("victor", "Victor Kowalski", "warsaw", "vkowalski", false),
    pd("xiao", "Xiao Chen", "singapore", "xiaochen", false),
    pd("yuki", "Yuki Tanaka", "tokyo", "ytanaka", false),
    pd("zoe", "Zoe Byrne", "dublin", "zoebyrne", true),
];

const GLOBEX_PEOPLE: &[PersonDef] = &[
    pd("kate", "Kate Wilson", "toronto", "katew", true),
    pd("omar", "Omar Haddad", "new-york", "ohaddad", false),
    pd("lena", "Lena Park", "seattle", "lenapark", false),
    pd("tunde", "Tunde Bakare", "lagos", "tbakare", false),
    pd("wei", "Wei Ling", "singapore", "weiling", false),
    pd("hiro", "Hiro Sato", "tokyo", "hsato", false),
];

use Kind::*;

const ACME_BOTS: &[BotDef] = &[
    BotDef {
        name: "github-actions",
        method: "github",
        city: "ashburn",
        cert_ttl_h: 1,
        kinds: &[(KubeRequest, 60), (CertCreate, 15), (BotJoin, 3), (Exec, 4)],
    },
    BotDef {
        name: "ansible",
        method: "iam",
        city: "frankfurt",
        cert_ttl_h: 1,
        kinds: &[
            (SessionStart, 20),
            (Exec, 25),
            (SessionCommand, 35),
            (CertCreate, 10),
            (BotJoin, 2),
        ],
    },
    BotDef {
        // A long certificate TTL on purpose: the long-lived-certificate report finds it.
        name: "backup",
        method: "token",
        city: "dublin",
        cert_ttl_h: 48,
        kinds: &[
            (DbSessionStart, 10),
            (DbSessionQuery, 40),
            (CertCreate, 5),
            (BotJoin, 1),
        ],
    },
];

const GLOBEX_BOTS: &[BotDef] = &[BotDef {
    name: "deployer",
    method: "github",
    city: "ashburn",
    cert_ttl_h: 1,
    kinds: &[
        (KubeRequest, 60),
        (CertCreate, 15),
        (BotJoin, 3),
        (SessionStart, 5),
        (Exec, 5),
    ],
}];

const PG_USERS: &[(&str, u32)] = &[("app_ro", 50), ("app_rw", 30), ("postgres", 15)];

const TENANTS: &[TenantDef] = &[
    TenantDef {
        id: "acme",
        share: 0.9,
        people: ACME_PEOPLE,
        bots: ACME_BOTS,
        accounts: &[
            ("483920175612", "acme-prod"),
            ("739104628351", "acme-staging"),
        ],
        gh_org: "acme-corp",
        gh_org_id: 81_234_567,
        aws_region: "eu-central-1",
        servers: &[
            ("bastion-1", "10.10.0.5", "prod"),
            ("web-1", "10.10.1.11", "prod"),
            ("web-2", "10.10.1.12", "prod"),
            ("api-1", "10.10.2.21", "prod"),
            ("api-2", "10.10.2.22", "prod"),
            ("worker-1", "10.10.3.31", "prod"),
            ("db-admin-1", "10.10.5.7", "prod"),
            ("ci-runner-1", "10.20.1.5", "staging"),
            ("staging-web-1", "10.20.2.11", "staging"),
        ],
        dbs: &[
            DbDef {
                service: "pg-prod",
                protocol: "postgres",
                uri: "pg-prod.cluster-cx2qv8a1.eu-central-1.rds.amazonaws.com:5432",
                ty: "rds",
                region: "eu-central-1",
                users: PG_USERS,
                names: &["app", "billing"],
            },
            DbDef {
                service: "pg-analytics",
                protocol: "postgres",
                uri: "pg-analytics.internal.acme.io:5432",
                ty: "self-hosted",
                region: "",
                users: &[("analyst", 70), ("postgres", 10)],
                names: &["warehouse"],
            },
            DbDef {
                service: "mysql-legacy",
                protocol: "mysql",
                uri: "mysql-legacy.internal.acme.io:3306",
                ty: "self-hosted",
                region: "",
                users: &[("app", 80), ("root", 5)],
                names: &["legacy"],
            },
        ],
        kube: &["prod-eks", "staging-eks"],
        desktops: &[("win-ad-01", "10.10.8.10"), ("win-build-02", "10.20.8.12")],
        repos: &[
            "acme-corp/api",
            "acme-corp/web",
            "acme-corp/infra",
            "acme-corp/mobile",
            "acme-corp/docs",
            "acme-corp/internal-tools",
            "acme-corp/data-pipeline",
        ],
        okta_admin: "zoe",
    },
    TenantDef {
        id: "globex",
        share: 0.1,
        people: GLOBEX_PEOPLE,
        bots: GLOBEX_BOTS,
        accounts: &[("215987346021", "globex-prod")],
        gh_org: "globex-inc",
        gh_org_id: 92_345_678,
        aws_region: "us-east-1",
        servers: &[
            ("gx-bastion", "10.40.0.5", "prod"),
            ("gx-app-1", "10.40.1.10", "prod"),
            ("gx-app-2", "10.40.1.11", "prod"),
        ],
        dbs: &[DbDef {
            service: "gx-postgres",
            protocol: "postgres",
            uri: "gx-postgres.cmq1z2xkp7.us-east-1.rds.amazonaws.com:5432",
            ty: "rds",
            region: "us-east-1",
            users: &[("readonly", 60), ("postgres", 20)],
            names: &["globex"],
        }],
        kube: &["gx-prod"],
        desktops: &[("gx-win-01", "10.40.8.10")],
        repos: &[
            "globex-inc/platform",
            "globex-inc/site",
            "globex-inc/terraform",
        ],
        okta_admin: "kate",
    },
];

fn email(login: &str, tenant: &str) -> String {
    format!("{login}@{tenant}.com")
}

// ---------------------------------------------------------------------------------------------
// The world, built from the static description and the seed

struct Person {
    login: &'static str,
    name: &'static str,
    email: String,
    gh: &'static str,
    gh_id: u64,
    okta_id: String,
    aida: String,
    akia: String,
    admin: bool,
    /// Addresses: [0] home, then more in the home city, then the alternate place.
    ips: Vec<String>,
    cities: Vec<usize>,
    offset_min: i64,
    browser: usize,
    device: Option<(String, String, u8)>,
    mfa_uuid: String,
    weight: u32,
}

impl Person {
    fn ip(&self, r: &mut Rng) -> (usize, &str) {
        let i = if r.chance(0.8) {
            0
        } else {
            r.below(self.ips.len() as u64) as usize
        };
        (self.cities[i], &self.ips[i])
    }
}

struct Bot {
    def: &'static BotDef,
    user: String,
    ip: String,
    city: usize,
}

struct Server {
    host: &'static str,
    addr: &'static str,
    env: &'static str,
    id: String,
}

struct Tenant {
    def: &'static TenantDef,
    id: &'static str,
    cluster: String,
    people: Vec<Person>,
    /// Cumulative activity weights of `people`.
    cum: Vec<u32>,
    bots: Vec<Bot>,
    servers: Vec<Server>,
    /// Okta app instance ids for Teleport, AWS, GitHub, Slack, Google Workspace.
    apps: Vec<(String, &'static str)>,
    okta_admin: usize,
    ci_ip: String,
}

impl Tenant {
    fn pick_person(&self, r: &mut Rng) -> usize {
        let total = *self.cum.last().unwrap_or(&1);
        let x = r.below(u64::from(total)) as u32;
        self.cum
            .partition_point(|c| *c <= x)
            .min(self.people.len() - 1)
    }
    fn person_by_login(&self, login: &str) -> usize {
        self.people
            .iter()
            .position(|p| p.login == login)
            .unwrap_or(0)
    }
}

struct World {
    cities: Vec<CityRec>,
    tenants: Vec<Tenant>,
}

const BROWSERS: &[(&str, &str, &str)] = &[
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mac OS X",
        "CHROME",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
        "Windows 10",
        "EDGE",
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Linux",
        "FIREFOX",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
        "Mac OS X",
        "SAFARI",
    ),
];

impl World {
    fn build(seed: u64) -> World {
        let cities = load_cities();
        let city_idx = |key: &str| cities.iter().position(|c| c.key == key).unwrap_or(0);
        let mut tenants = Vec::new();
        for def in TENANTS {
            let mut r = Rng::new(mix(seed, hash(def.id)));
            let mut people = Vec::new();
            for p in def.people {
                let h = hash(&format!("{}/{}", def.id, p.login));
                let home = city_idx(p.city);
                let mut ips = Vec::new();
                let mut cs = Vec::new();
                for _ in 0..3 {
                    ips.push(cities[home].host(r.next()).to_string());
                    cs.push(home);
                }
                if let Some(alt) = p.alt {
                    let a = city_idx(alt);
                    for _ in 0..2 {
                        ips.push(cities[a].host(r.next()).to_string());
                        cs.push(a);
                    }
                }
                let mut hr = Rng::new(h);
                let device = hr.chance(0.7).then(|| {
                    let os = if hr.chance(0.8) { 2 } else { 3 };
                    (
                        uuid_string(&mut hr),
                        id_string("C02", hr.next(), UPPER_ALNUM, 7),
                        os,
                    )
                });
                people.push(Person {
                    login: p.login,
                    name: p.name,
                    email: email(p.login, def.id),
                    gh: p.gh,
                    gh_id: 10_000_000 + hr.below(90_000_000),
                    okta_id: id_string("00u", hr.next(), ALNUM, 17),
                    aida: id_string("AIDA", hr.next(), UPPER_ALNUM, 17),
                    akia: id_string("AKIA", hr.next(), UPPER_ALNUM, 16),
                    admin: p.admin,
                    ips,
                    cities: cs,
                    offset_min: (cities[home].utc_offset_hours * 60.0) as i64,
                    browser: hr.below(BROWSERS.len() as u64) as usize,
                    device,
                    mfa_uuid: uuid_string(&mut hr),
                    weight: 50 + hr.below(100) as u32 + if p.admin { 60 } else { 0 },
                });
            }
            let cum = people
                .iter()
                .scan(0u32, |acc, p| {
                    *acc += p.weight;
                    Some(*acc)
                })
                .collect();
            let bots = def
                .bots
                .iter()
                .map(|b| {
                    let c = city_idx(b.city);
                    Bot {
                        def: b,
                        user: format!("bot-{}", b.name),
                        ip: cities[c].host(r.next()).to_string(),
                        city: c,
                    }
                })
                .collect();
            let servers = def
                .servers
                .iter()
                .map(|(host, addr, env)| {
                    let mut hr = Rng::new(hash(&format!("{}/{host}", def.id)));
                    Server {
                        host,
                        addr,
                        env,
                        id: uuid_string(&mut hr),
                    }
                })
                .collect();
            let apps = [
                "Teleport",
                "AWS IAM Identity Center",
                "GitHub Enterprise Cloud",
                "Slack",
                "Google Workspace",
            ]
            .iter()
            .map(|name| {
                (
                    id_string("0oa", hash(&format!("{}/{name}", def.id)), ALNUM, 17),
                    *name,
                )
            })
            .collect();
            let okta_admin = def
                .people
                .iter()
                .position(|p| p.login == def.okta_admin)
                .unwrap_or(0);
            let ci_ip = cities[city_idx("ashburn")].host(r.next()).to_string();
            tenants.push(Tenant {
                def,
                id: def.id,
                cluster: format!("{}.teleport.sh", def.id),
                people,
                cum,
                bots,
                servers,
                apps,
                okta_admin,
                ci_ip,
            });
        }
        World { cities, tenants }
    }

    fn city(&self, key: &str) -> usize {
        self.cities.iter().position(|c| c.key == key).unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------
// Planning a day: which events happen when, by whom

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    // Teleport: the 35 Access Monitoring event types.
    AccessListCreate,
    AccessListUpdate,
    AccessListDelete,
    AccessListReview,
    AccessListMemberCreate,
    AccessListMemberUpdate,
    AccessListMemberDelete,
    AccessRequestCreate,
    AccessRequestReview,
    Auth,
    BotJoin,
    CertCreate,
    DbSessionQuery,
    DbSessionQueryFailed,
    DbSessionStart,
    DeviceAuthenticate,
    DeviceEnroll,
    Exec,
    InstanceJoin,
    JoinTokenCreate,
    KubeRequest,
    LockCreated,
    LockDeleted,
    RecoveryCodeUsed,
    ResetPasswordTokenCreate,
    SamlIdpAuth,
    SessionCommand,
    SessionJoin,
    SessionRejected,
    SessionStart,
    UserCreate,
    UserLogin,
    UserPasswordChange,
    DesktopStart,
    DesktopEnd,
    // CloudTrail
    CtConsoleLogin,
    CtAssumeRole,
    CtWebIdentity,
    CtServiceAssumeRole,
    CtCreateAccessKey,
    CtDeleteAccessKey,
    CtPutObject,
    CtGetObject,
    CtDescribeInstances,
    CtListBuckets,
    CtGetCallerIdentity,
    // GitHub
    GhClone,
    GhFetch,
    GhPush,
    GhPrCreate,
    GhPrMerge,
    GhWorkflowRun,
    GhRepoCreate,
    GhUpdateMember,
    GhBranchOverride,
    GhRepoAccess,
    GhTeamAddMember,
    // Okta
    OkSessionStart,
    OkMfa,
    OkSso,
    OkPolicy,
    OkSessionEnd,
    OkPrivilegeGrant,
    OkPasswordUpdate,
    // Stories
    StRootLogin,
    StRootCall,
    StBruteForce,
    StNewCountryLogin,
    StNewCountryMfa,
    StRepoPublic,
    StTravelOkta,
    StTravelLogin,
    StTravelCert,
    StTravelSession,
    StMfaReset,
    StStopLogging,
    StStartLogging,
}

/// The actor of events by neither a person nor a bot: CloudTrail's CI role and AWS services,
/// GitHub's Actions bot, the joining instance.
const OTHER: u16 = u16::MAX;

/// One planned event. Rendering depends only on the slot, so planning fixes the output.
#[derive(Clone, Copy)]
struct Slot {
    t: i64,
    seq: u32,
    tenant: u8,
    kind: Kind,
    /// Index into the tenant's people, or `people.len() + bot index`, or `OTHER`.
    actor: u16,
    /// Seeds the event's own PRNG; paired events share it (a request and its review).
    aux: u64,
}

const TP_HUMAN: &[(Kind, u32)] = &[
    (KubeRequest, 220),
    (SessionCommand, 140),
    (DbSessionQuery, 120),
    (SessionStart, 110),
    (Exec, 90),
    (CertCreate, 90),
    (DbSessionStart, 60),
    (UserLogin, 60),
    (DeviceAuthenticate, 30),
    (SamlIdpAuth, 20),
    (SessionJoin, 15),
    (DbSessionQueryFailed, 10),
    (Auth, 10),
    (DesktopStart, 10),
];

const CT_HUMAN: &[(Kind, u32)] = &[
    (CtConsoleLogin, 100),
    (CtAssumeRole, 220),
    (CtGetObject, 140),
    (CtPutObject, 120),
    (CtDescribeInstances, 160),
    (CtListBuckets, 60),
    (CtGetCallerIdentity, 80),
    (CtCreateAccessKey, 4),
    (CtDeleteAccessKey, 3),
];

const CT_CI: &[(Kind, u32)] = &[
    (CtWebIdentity, 20),
    (CtPutObject, 40),
    (CtGetObject, 20),
    (CtDescribeInstances, 20),
];

const GH_HUMAN: &[(Kind, u32)] = &[
    (GhClone, 250),
    (GhFetch, 250),
    (GhPush, 200),
    (GhPrCreate, 80),
    (GhPrMerge, 60),
    (GhWorkflowRun, 80),
    (GhRepoCreate, 4),
    (GhUpdateMember, 3),
    (GhBranchOverride, 3),
    (GhRepoAccess, 2),
    (GhTeamAddMember, 4),
];

const OK_HUMAN: &[(Kind, u32)] = &[
    (OkSso, 350),
    (OkSessionStart, 200),
    (OkMfa, 200),
    (OkPolicy, 150),
    (OkSessionEnd, 80),
    (OkPrivilegeGrant, 2),
    (OkPasswordUpdate, 10),
];

/// Admin events a day per tenant (probability of one; counts for the `n` ones): these follow
/// the size of the company, not the traffic.
const TP_DAILY: &[(Kind, f64)] = &[
    (AccessListCreate, 0.3),
    (AccessListUpdate, 0.4),
    (AccessListDelete, 0.15),
    (AccessListReview, 0.3),
    (AccessListMemberCreate, 0.4),
    (AccessListMemberUpdate, 0.3),
    (AccessListMemberDelete, 0.3),
    (DeviceEnroll, 0.3),
    (JoinTokenCreate, 0.5),
    (LockCreated, 0.25),
    (RecoveryCodeUsed, 0.1),
    (ResetPasswordTokenCreate, 0.2),
    (UserCreate, 0.2),
    (UserPasswordChange, 0.3),
    (SessionRejected, 0.6),
];

fn plan_day(w: &World, spec: &DemoSpec, day: i64, weekend: bool, r: &mut Rng, out: &mut Vec<Slot>) {
    let teleport_only = spec.sources == DemoSources::TeleportOnly;
    for (ti, t) in w.tenants.iter().enumerate() {
        let tenant = ti as u8;
        let volume = f64::from(spec.events_per_day) * t.def.share * if weekend { 0.3 } else { 1.0 };
        let n = volume.round() as u64;
        let human_p = if weekend { 0.5 } else { 0.85 };
        let nb = t.people.len() as u16;
        for _ in 0..n {
            let src = if teleport_only { 0 } else { r.below(100) };
            let human = r.chance(human_p);
            let (kind, actor) = if src < 55 {
                if human || t.bots.is_empty() {
                    (r.weighted(TP_HUMAN), t.pick_person(r) as u16)
                } else {
                    let b = r.below(t.bots.len() as u64) as usize;
                    (r.weighted(t.bots[b].def.kinds), nb + b as u16)
                }
            } else if src < 80 {
                let x = r.below(100);
                if x < 80 {
                    (r.weighted(CT_HUMAN), t.pick_person(r) as u16)
                } else if x < 92 {
                    (r.weighted(CT_CI), OTHER)
                } else {
                    (CtServiceAssumeRole, OTHER)
                }
            } else if src < 90 {
                let k = if human { r.weighted(GH_HUMAN) } else { GhClone };
                (
                    k,
                    if human {
                        t.pick_person(r) as u16
                    } else {
                        OTHER
                    },
                )
            } else {
                (r.weighted(OK_HUMAN), t.pick_person(r) as u16)
            };
            let ts = if usize::from(actor) < t.people.len() {
                work_time(r, day, t.people[usize::from(actor)].offset_min)
            } else {
                day + r.below(DAY_MS as u64) as i64
            };
            push_slot(out, r, day, ts, tenant, kind, actor);
        }
        {
            // Admin events (Teleport): part of every demo, whatever the sources.
            for (kind, p) in TP_DAILY {
                let p = if weekend { p * 0.3 } else { *p };
                if r.chance(p) {
                    let a = admin_or_anyone(t, r);
                    let ts = work_time(r, day, t.people[usize::from(a)].offset_min);
                    push_slot(out, r, day, ts, tenant, *kind, a);
                }
            }
            let joins = if weekend { 1 } else { 2 + r.below(4) };
            for _ in 0..joins {
                let ts = day + r.below(DAY_MS as u64) as i64;
                push_slot(out, r, day, ts, tenant, InstanceJoin, OTHER);
            }
            let requests = if weekend { r.below(2) } else { 1 + r.below(4) };
            for _ in 0..requests {
                let a = t.pick_person(r) as u16;
                let ts = work_time(r, day, t.people[usize::from(a)].offset_min);
                push_slot(out, r, day, ts, tenant, AccessRequestCreate, a);
            }
            for b in 0..t.bots.len() {
                let ts = day + r.below(DAY_MS as u64) as i64;
                push_slot(out, r, day, ts, tenant, BotJoin, nb + b as u16);
            }
        }
    }
}

fn admin_or_anyone(t: &Tenant, r: &mut Rng) -> u16 {
    let admins: Vec<usize> = (0..t.people.len()).filter(|i| t.people[*i].admin).collect();
    if admins.is_empty() || r.chance(0.2) {
        t.pick_person(r) as u16
    } else {
        r.one(&admins) as u16
    }
}

/// A time in someone's working day (08:00–19:00 local, peaked early afternoon; 7 % anywhere),
/// folded into the UTC day `day` so that every event stays within its date.
fn work_time(r: &mut Rng, day: i64, offset_min: i64) -> i64 {
    let local_min = if r.chance(0.07) {
        r.below(1440) as i64
    } else {
        8 * 60 + ((r.unit() + r.unit()) / 2.0 * 660.0) as i64
    };
    let utc_min = (local_min - offset_min).rem_euclid(1440);
    day + utc_min * MIN_MS + r.below(MIN_MS as u64) as i64
}

/// Pushes a slot, and its partner when the event comes in pairs.
fn push_slot(
    out: &mut Vec<Slot>,
    r: &mut Rng,
    day: i64,
    t: i64,
    tenant: u8,
    kind: Kind,
    actor: u16,
) {
    let aux = r.next();
    let partner = match kind {
        AccessRequestCreate => Some(AccessRequestReview),
        DesktopStart => Some(DesktopEnd),
        LockCreated => Some(LockDeleted),
        _ => None,
    };
    match partner {
        Some(k) => {
            // Both halves stay within the day: move the first back if the second would spill.
            let dt = pair_gap(kind, aux);
            let t = t.min(day + DAY_MS - 1 - dt);
            out.push(Slot {
                t,
                seq: 0,
                tenant,
                kind,
                actor,
                aux,
            });
            out.push(Slot {
                t: t + dt,
                seq: 0,
                tenant,
                kind: k,
                actor,
                aux,
            });
        }
        None => out.push(Slot {
            t,
            seq: 0,
            tenant,
            kind,
            actor,
            aux,
        }),
    }
}

/// Time between the two halves of a paired event, a function of the pair's shared `aux`.
fn pair_gap(first: Kind, aux: u64) -> i64 {
    let mut r = Rng::new(aux ^ 0x9a1f_0000_da7a);
    match first {
        AccessRequestCreate => r.range(2 * MIN_MS, 45 * MIN_MS),
        DesktopStart => r.range(5 * MIN_MS, 90 * MIN_MS),
        _ => r.range(HOUR_MS, 6 * HOUR_MS),
    }
}

/// Day index of a story placed at `k/12` of the span.
fn story_day(days: u32, k: u32) -> u32 {
    days.saturating_sub(1) * k / 12
}

fn plan_stories(w: &World, spec: &DemoSpec, d: u32, day: i64, r: &mut Rng, out: &mut Vec<Slot>) {
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
const BRUTE_FORCE_IP: &str = "95.165.10.66";
const BRUTE_FORCE_USERS: &[&str] = &[
    "admin",
    "root",
    "alice@acme.com",
    "administrator",
    "test",
    "ubuntu",
    "teleport-admin",
    "zoe@acme.com",
];

// ---------------------------------------------------------------------------------------------
// Rendering

enum Who<'a> {
    P(&'a Person),
    B(&'a Bot),
    /// CloudTrail's CI role or an AWS service; GitHub's Actions bot.
    Other,
}

struct Render {
    b: String,
}

/// Everything a renderer needs about one event.
struct Ev<'a> {
    w: &'a World,
    t: &'a Tenant,
    ts: i64,
    who: Who<'a>,
    /// This event's own draws.
    r: Rng,
    /// Draws shared by both halves of a paired event (same request id, same desktop session).
    pair: Rng,
    aux: u64,
}

impl<'a> Ev<'a> {
    fn person(&self) -> Option<&'a Person> {
        match self.who {
            Who::P(p) => Some(p),
            _ => None,
        }
    }
    fn any_person(&mut self) -> &Person {
        let i = self.t.pick_person(&mut self.r);
        &self.t.people[i]
    }
    /// The Teleport user name and kind (1 human, 2 bot) of the actor.
    fn tp_user(&self) -> (&'a str, i64) {
        match &self.who {
            Who::P(p) => (&p.email, 1),
            Who::B(b) => (&b.user, 2),
            Who::Other => ("system", 2),
        }
    }
    fn ip(&mut self) -> (usize, String) {
        match &self.who {
            Who::P(p) => {
                let (c, ip) = p.ip(&mut self.r);
                (c, ip.to_string())
            }
            Who::B(b) => (b.city, b.ip.clone()),
            Who::Other => (self.w.city("ashburn"), self.t.ci_ip.clone()),
        }
    }
    fn server(&mut self) -> &Server {
        let i = self.r.below(self.t.servers.len() as u64) as usize;
        &self.t.servers[i]
    }
}

impl Render {
    fn render(&mut self, w: &World, t: &Tenant, s: &Slot) {
        self.b.clear();
        let a = usize::from(s.actor);
        let who = if a < t.people.len() {
            Who::P(&t.people[a])
        } else if a - t.people.len() < t.bots.len() {
            Who::B(&t.bots[a - t.people.len()])
        } else {
            Who::Other
        };
        let mut e = Ev {
            w,
            t,
            ts: s.t,
            who,
            r: Rng::new(mix(s.aux, s.kind as u64 + 1)),
            pair: Rng::new(s.aux),
            aux: s.aux,
        };
        let k = s.kind;
        match k {
            AccessListCreate | AccessListUpdate | AccessListDelete | AccessListReview => {
                self.access_list(&mut e, k)
            }
            AccessListMemberCreate | AccessListMemberUpdate | AccessListMemberDelete => {
                self.access_list_member(&mut e, k)
            }
            AccessRequestCreate | AccessRequestReview => self.access_request(&mut e, k),
            Auth => self.auth(&mut e),
            BotJoin => self.bot_join(&mut e),
            CertCreate => self.cert_create(&mut e, None),
            DbSessionQuery | DbSessionQueryFailed => {
                self.db_query(&mut e, k == DbSessionQueryFailed)
            }
            DbSessionStart => self.db_session_start(&mut e),
            DeviceAuthenticate | DeviceEnroll => self.device(&mut e, k),
            Exec => self.exec(&mut e),
            InstanceJoin => self.instance_join(&mut e),
            JoinTokenCreate => self.join_token_create(&mut e),
            KubeRequest => self.kube_request(&mut e),
            LockCreated | LockDeleted => self.lock(&mut e, k),
            RecoveryCodeUsed => self.recovery_code_used(&mut e),
            ResetPasswordTokenCreate => self.reset_password_token(&mut e),
            SamlIdpAuth => self.saml_idp_auth(&mut e),
            SessionCommand => self.session_command(&mut e),
            SessionJoin => self.session_join(&mut e),
            SessionRejected => self.session_rejected(&mut e),
            SessionStart => self.session_start(&mut e, None),
            UserCreate => self.user_create(&mut e),
            UserLogin => {
                let fail = e.r.chance(0.06);
                self.user_login(&mut e, None, fail)
            }
            UserPasswordChange => self.user_password_change(&mut e),
            DesktopStart | DesktopEnd => self.desktop(&mut e, k == DesktopEnd),
            CtConsoleLogin => self.ct_console_login(&mut e, false),
            CtAssumeRole | CtWebIdentity | CtServiceAssumeRole => self.ct_assume_role(&mut e, k),
            CtCreateAccessKey | CtDeleteAccessKey => {
                self.ct_access_key(&mut e, k == CtDeleteAccessKey)
            }
            CtPutObject | CtGetObject => self.ct_s3(&mut e, k == CtPutObject),
            CtDescribeInstances | CtListBuckets | CtGetCallerIdentity => self.ct_read(&mut e, k),
            GhClone | GhFetch | GhPush => self.gh_git(&mut e, k),
            GhPrCreate | GhPrMerge | GhWorkflowRun | GhRepoCreate | GhUpdateMember
            | GhBranchOverride | GhRepoAccess | GhTeamAddMember => self.gh_admin(&mut e, k),
            OkSessionStart => {
                let fail = e.r.chance(0.05);
                self.okta_session_start(&mut e, None, fail)
            }
            OkMfa => {
                let fail = e.r.chance(0.07);
                self.okta_mfa(&mut e, None, fail)
            }
            OkSso | OkPolicy | OkSessionEnd | OkPasswordUpdate => self.okta_user_event(&mut e, k),
            OkPrivilegeGrant => self.okta_admin_event(&mut e, "user.account.privilege.grant"),
            StRootLogin => self.ct_console_login(&mut e, true),
            StRootCall => self.ct_root_call(&mut e),
            StBruteForce => self.brute_force(&mut e, s.aux),
            StNewCountryLogin => {
                let lagos = w.city("lagos");
                self.okta_session_start(&mut e, Some(lagos), false)
            }
            StNewCountryMfa => {
                let lagos = w.city("lagos");
                self.okta_mfa(&mut e, Some(lagos), false)
            }
            StRepoPublic => self.gh_repo_public(&mut e),
            StTravelOkta => {
                let berlin = w.city("berlin");
                self.okta_session_start(&mut e, Some(berlin), false)
            }
            StTravelLogin => {
                let ip = self.travel_ip(w);
                self.user_login(&mut e, Some(&ip), false)
            }
            StTravelCert => {
                let ip = self.travel_ip(w);
                self.cert_create(&mut e, Some(&ip))
            }
            StTravelSession => {
                let ip = self.travel_ip(w);
                self.session_start(&mut e, Some(&ip))
            }
            StMfaReset => self.okta_admin_event(&mut e, "user.mfa.factor.reset_all"),
            StStopLogging | StStartLogging => self.ct_trail(&mut e, k == StStopLogging),
        }
    }

    fn travel_ip(&self, w: &World) -> String {
        w.cities[w.city("sydney")].host(0x0051_d4e7).to_string()
    }

    // ---- Teleport ---------------------------------------------------------------------------

    /// `{"ei":0,"event":…,"uid":…,"code":…,"time":…,"cluster_name":…`
    fn tp_head(&mut self, e: &mut Ev, event: &str, code: &str) {
        let b = &mut self.b;
        b.push_str("{\"ei\":0,\"event\":\"");
        b.push_str(event);
        b.push('"');
        ku(b, "uid", &mut e.r);
        ks(b, "code", code);
        kt(b, "time", e.ts, Ts::Go);
        ks(b, "cluster_name", &e.t.cluster);
    }

    fn tp_user_meta(&mut self, e: &Ev) {
        let (user, kind) = e.tp_user();
        ks(&mut self.b, "user", user);
        kn(&mut self.b, "user_kind", kind);
    }

    fn tp_addr(&mut self, e: &mut Ev, ip: Option<&str>) {
        let ip = match ip {
            Some(ip) => ip.to_string(),
            None => e.ip().1,
        };
        let b = &mut self.b;
        b.push_str(",\"addr.remote\":\"");
        if ip.contains(':') {
            b.push('[');
            b.push_str(&ip);
            b.push(']');
        } else {
            b.push_str(&ip);
        }
        b.push(':');
        push_u64(b, 32_768 + e.r.below(28_000));
        b.push('"');
    }

    fn tp_server(&mut self, e: &mut Ev, port: u32) -> String {
        let (host, addr, env, id) = {
            let s = e.server();
            (s.host, s.addr, s.env, s.id.clone())
        };
        let b = &mut self.b;
        ks(b, "server_id", &id);
        ks(b, "server_hostname", host);
        b.push_str(",\"server_addr\":\"");
        b.push_str(addr);
        b.push(':');
        push_u64(b, u64::from(port));
        b.push('"');
        b.push_str(",\"server_labels\":{\"env\":\"");
        b.push_str(env);
        b.push_str("\",\"team\":\"platform\"}");
        b.push_str(",\"addr.local\":\"");
        b.push_str(addr);
        b.push(':');
        push_u64(b, u64::from(port));
        b.push('"');
        ks(b, "namespace", "default");
        host.to_string()
    }

    /// The fields the Privileged Access Report looks for: present only sometimes.
    fn tp_weak(&mut self, e: &mut Ev, p_request: f64, p_mfa: f64) {
        if e.r.chance(p_request) {
            self.b.push_str(",\"access_requests\":[\"");
            push_uuid(&mut self.b, &mut e.r);
            self.b.push_str("\"]");
        }
        if let Some(p) = e.person() {
            let mfa = p.mfa_uuid.clone();
            let device = p.device.clone();
            if e.r.chance(p_mfa) {
                ks(&mut self.b, "with_mfa", &mfa);
            }
            if let Some((id, tag, os)) = device
                && e.r.chance(0.75)
            {
                let b = &mut self.b;
                b.push_str(",\"trusted_device\":{\"asset_tag\":\"");
                b.push_str(&tag);
                b.push_str("\",\"device_id\":\"");
                b.push_str(&id);
                b.push_str("\",\"os_type\":");
                push_u64(b, u64::from(os));
                b.push('}');
            }
        }
    }

    fn tp_login(&mut self, e: &mut Ev) -> &'static str {
        match &e.who {
            Who::B(b) if b.def.name == "ansible" => {
                if e.r.chance(0.6) {
                    "root"
                } else {
                    "ansible"
                }
            }
            Who::P(p) if p.admin && e.r.chance(0.12) => "root",
            Who::P(p) if e.r.chance(0.3) => p.login,
            _ => e.r.one(&["ubuntu", "ec2-user", "ubuntu", "deploy"]),
        }
    }

    fn end(&mut self) {
        self.b.push('}');
    }

    fn access_list(&mut self, e: &mut Ev, k: Kind) {
        let (ev, code) = match k {
            AccessListCreate => ("access_list.create", "TAL001I"),
            AccessListUpdate => ("access_list.update", "TAL002I"),
            AccessListDelete => ("access_list.delete", "TAL003I"),
            _ => ("access_list.review", "TAL004I"),
        };
        self.tp_head(e, ev, code);
        self.tp_user_meta(e);
        let (title, name) = e.r.one(&[
            ("Production Access", "prod-access"),
            ("Database Admins", "db-admins"),
            ("On-call Engineers", "on-call"),
            ("Contractors", "contractors"),
        ]);
        let b = &mut self.b;
        ks(b, "name", name);
        ks(b, "access_list_title", title);
        let (user, _) = e.tp_user();
        ks(b, "updated_by", user);
        if k == AccessListReview {
            ku(b, "review_id", &mut e.r);
            b.push_str(",\"membership_requirements_changed\":{\"roles\":[\"access\",\"prod-ro\"]}");
            if e.r.chance(0.5) {
                let gone = &e.t.people[e.t.pick_person(&mut e.r)].email;
                ka(b, "removed_members", &[gone]);
            }
            ks(b, "review_frequency_changed", "3 months");
        } else {
            kt(b, "expires", e.ts + 90 * DAY_MS, Ts::Go);
        }
        self.end();
    }

    fn access_list_member(&mut self, e: &mut Ev, k: Kind) {
        let (ev, code) = match k {
            AccessListMemberCreate => ("access_list.member.create", "TAL005I"),
            AccessListMemberUpdate => ("access_list.member.update", "TAL006I"),
            _ => ("access_list.member.delete", "TAL007I"),
        };
        self.tp_head(e, ev, code);
        self.tp_user_meta(e);
        let list =
            e.r.one(&["prod-access", "db-admins", "on-call", "contractors"]);
        let member = e.any_person().email.clone();
        let b = &mut self.b;
        ks(b, "access_list_name", list);
        b.push_str(",\"members\":[{\"member_name\":\"");
        b.push_str(&member);
        b.push('"');
        if k == AccessListMemberDelete {
            kt(b, "removed_on", e.ts, Ts::Go);
        } else {
            kt(b, "joined_on", e.ts - e.r.range(0, 30) * DAY_MS, Ts::Go);
        }
        ks(
            b,
            "reason",
            if k == AccessListMemberDelete {
                "left the team"
            } else {
                "joined on-call rotation"
            },
        );
        b.push_str("}]");
        let (user, _) = e.tp_user();
        ks(b, "updated_by", user);
        self.end();
    }

    fn access_request(&mut self, e: &mut Ev, k: Kind) {
        // Create and review share `pair`, so they draw the same request id.
        let mut idr = e.pair.clone();
        let id = uuid_string(&mut idr);
        let roles: &[&str] = if idr.chance(0.5) {
            &["db-admin"]
        } else {
            &["prod-access"]
        };
        let reason = idr.one(&[
            "debugging incident INC-2231",
            "deploy hotfix",
            "customer ticket 4412",
            "schema migration",
        ]);
        let approve = idr.chance(0.85);
        if k == AccessRequestCreate {
            self.tp_head(e, "access_request.create", "T5000I");
            self.tp_user_meta(e);
            let b = &mut self.b;
            ks(b, "id", &id);
            ka(b, "roles", roles);
            ks(b, "reason", reason);
            ks(b, "state", "PENDING");
            if roles[0] == "prod-access" {
                let s = &e.t.servers[idr.below(e.t.servers.len() as u64) as usize];
                b.push_str(",\"resource_ids\":[{\"cluster\":\"");
                b.push_str(&e.t.cluster);
                b.push_str("\",\"kind\":\"node\",\"name\":\"");
                b.push_str(&s.id);
                b.push_str("\"}]");
            }
            kt(b, "max_duration", e.ts + 8 * HOUR_MS, Ts::Go);
            kt(b, "expires", e.ts + 8 * HOUR_MS, Ts::Go);
        } else {
            self.tp_head(e, "access_request.review", "T5002I");
            let reviewer = {
                let admins: Vec<&Person> = e.t.people.iter().filter(|p| p.admin).collect();
                if admins.is_empty() {
                    e.t.people[0].email.clone()
                } else {
                    e.r.pick(&admins).email.clone()
                }
            };
            let b = &mut self.b;
            ks(b, "user", &reviewer);
            kn(b, "user_kind", 1);
            ks(b, "id", &id);
            ks(b, "reviewer", &reviewer);
            let state = if approve { "APPROVED" } else { "DENIED" };
            ks(b, "proposed_state", state);
            ks(b, "state", state);
            ks(
                b,
                "reason",
                if approve {
                    "ok"
                } else {
                    "use the read-only role"
                },
            );
            kt(b, "max_duration", e.ts + 8 * HOUR_MS, Ts::Go);
        }
        self.end();
    }

    fn auth(&mut self, e: &mut Ev) {
        self.tp_head(e, "auth", "T3007W");
        self.tp_user_meta(e);
        let allowed = match &e.who {
            Who::P(p) => p.login,
            _ => "ubuntu",
        };
        ks(&mut self.b, "login", "root");
        ks(&mut self.b, "proto", "ssh");
        self.tp_addr(e, None);
        let b = &mut self.b;
        b.push_str(",\"success\":false");
        let msg = format!(
            "ssh: principal \"root\" not in the set of valid principals for given certificate: [\"{allowed}\" \"-teleport-internal-join\"]"
        );
        ks(b, "error", &msg);
        self.end();
    }

    fn bot_join(&mut self, e: &mut Ev) {
        let bot = match &e.who {
            Who::B(b) => *b,
            _ => &e.t.bots[0],
        };
        let fail = e.r.chance(0.03);
        self.tp_head(e, "bot.join", if fail { "TJ001E" } else { "TJ001I" });
        let b = &mut self.b;
        ks(b, "bot_name", bot.def.name);
        ks(b, "method", bot.def.method);
        let token = format!("{}-bot-token", bot.def.name);
        ks(b, "token_name", &token);
        b.push_str(if fail {
            ",\"success\":false"
        } else {
            ",\"success\":true"
        });
        if fail {
            ks(b, "error", "id token validation failed: token has expired");
        }
        ks(b, "user_name", &bot.user);
        match bot.def.method {
            "github" => {
                let repo = e.r.pick(e.t.def.repos);
                b.push_str(",\"attributes\":{\"sub\":\"repo:");
                b.push_str(repo);
                b.push_str(":ref:refs/heads/main\",\"repository\":\"");
                b.push_str(repo);
                b.push_str("\",\"repository_owner\":\"");
                b.push_str(e.t.def.gh_org);
                b.push_str("\",\"workflow\":\"deploy\",\"ref\":\"refs/heads/main\",\"event_name\":\"push\",\"run_id\":\"");
                push_u64(b, 8_000_000_000 + e.r.below(900_000_000));
                b.push_str("\"}");
            }
            "iam" => {
                b.push_str(",\"attributes\":{\"account\":\"");
                b.push_str(e.t.def.accounts[0].0);
                b.push_str("\",\"arn\":\"arn:aws:sts::");
                b.push_str(e.t.def.accounts[0].0);
                b.push_str(":assumed-role/ansible-runner/i-0");
                push_hex(b, &mut e.r, 16);
                b.push_str("\"}");
            }
            _ => {}
        }
        let ip = bot.ip.clone();
        self.tp_addr(e, Some(&ip));
        self.end();
    }

    fn cert_create(&mut self, e: &mut Ev, ip_override: Option<&str>) {
        self.tp_head(e, "cert.create", "TC000I");
        let (user, kind) = e.tp_user();
        let user = user.to_string();
        let ip = match ip_override {
            Some(ip) => ip.to_string(),
            None => e.ip().1,
        };
        let (ttl, per_session, roles, logins): (i64, bool, &[&str], Vec<&str>) = match &e.who {
            Who::P(p) => {
                let x = e.r.below(100);
                let roles: &[&str] = if p.admin {
                    &["access", "editor", "auditor"]
                } else {
                    &["access", "dev"]
                };
                let mut logins = vec!["ubuntu", "ec2-user", p.login];
                if p.admin {
                    logins.push("root");
                }
                if x < 10 {
                    (MIN_MS, true, roles, logins)
                } else if x < 85 {
                    (8 * HOUR_MS, false, roles, logins)
                } else if x < 90 {
                    (12 * HOUR_MS, false, roles, logins)
                } else {
                    (30 * HOUR_MS, false, roles, logins)
                }
            }
            Who::B(b) => (
                b.def.cert_ttl_h * HOUR_MS,
                false,
                &["bot"],
                vec!["ubuntu", "root"],
            ),
            Who::Other => (HOUR_MS, false, &["bot"], vec![]),
        };
        let mfa = e.person().map(|p| p.mfa_uuid.clone());
        let b = &mut self.b;
        ks(b, "cert_type", "user");
        b.push_str(",\"identity\":{\"user\":\"");
        push_esc(b, &user);
        b.push('"');
        ka(b, "roles", roles);
        let mut all_logins = logins.clone();
        all_logins.push("-teleport-internal-join");
        ka(b, "logins", &all_logins);
        kt(b, "expires", e.ts + ttl, Ts::Go);
        ks(b, "route_to_cluster", &e.t.cluster);
        ks(b, "teleport_cluster", &e.t.cluster);
        ks(b, "client_ip", &ip);
        if per_session {
            ka(b, "usage", &["usage:ssh"]);
            if let Some(m) = &mfa {
                ks(b, "mfa_device_uuid", m);
            }
        }
        if e.r.chance(0.3) {
            ka(b, "kubernetes_groups", &["developers"]);
            ka(b, "kubernetes_users", &[&user]);
        }
        ks(b, "prev_identity_expires", "0001-01-01T00:00:00Z");
        ks(b, "private_key_policy", "none");
        b.push('}');
        if kind == 1 {
            let ua = if e.r.chance(0.7) {
                "tsh/17.4.8"
            } else {
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"
            };
            ks(b, "user_agent", ua);
        }
        self.end();
    }

    fn db_pick(e: &mut Ev) -> (&'static DbDef, &'static str, &'static str) {
        let db = e.r.pick(e.t.def.dbs);
        let mut user = e.r.weighted(db.users);
        // Only admins and the backup bot are allowed the superuser.
        let privileged = matches!(&e.who, Who::P(p) if p.admin) || matches!(&e.who, Who::B(_));
        if (user == "postgres" || user == "root") && !privileged && e.r.chance(0.6) {
            user = db.users[0].0;
        }
        (db, user, e.r.one(db.names))
    }

    fn db_common(&mut self, db: &DbDef, user: &str, name: &str, sid: &str) {
        let b = &mut self.b;
        ks(b, "sid", sid);
        ks(b, "db_service", db.service);
        ks(b, "db_protocol", db.protocol);
        ks(b, "db_uri", db.uri);
        ks(b, "db_user", user);
        ks(b, "db_name", name);
    }

    fn db_session_start(&mut self, e: &mut Ev) {
        let (db, user, name) = Self::db_pick(e);
        let fail = e.r.chance(0.04);
        self.tp_head(
            e,
            "db.session.start",
            if fail { "TDB00W" } else { "TDB00I" },
        );
        self.tp_user_meta(e);
        let sid = uuid_string(&mut e.r);
        self.db_common(db, user, name, &sid);
        let b = &mut self.b;
        ks(b, "db_type", db.ty);
        ks(
            b,
            "db_origin",
            if db.ty == "rds" { "cloud" } else { "config" },
        );
        if !db.region.is_empty() {
            ks(b, "db_aws_region", db.region);
        }
        ku(b, "server_id", &mut e.r);
        ks(b, "namespace", "default");
        b.push_str(if fail {
            ",\"success\":false"
        } else {
            ",\"success\":true"
        });
        if fail {
            let msg = format!(
                "access to db denied. User does not have permissions. Confirm database user and name. ({user})"
            );
            ks(b, "error", &msg);
        }
        self.tp_addr(e, None);
        self.tp_weak(e, 0.2, 0.3);
        if matches!(e.who, Who::P(_)) {
            ks(
                &mut self.b,
                "user_agent",
                if db.protocol == "postgres" {
                    "psql"
                } else {
                    "mysql"
                },
            );
        }
        self.end();
    }

    fn db_query(&mut self, e: &mut Ev, failed: bool) {
        let (db, user, name) = Self::db_pick(e);
        self.tp_head(
            e,
            if failed {
                "db.session.query.failed"
            } else {
                "db.session.query"
            },
            if failed { "TDB02W" } else { "TDB02I" },
        );
        self.tp_user_meta(e);
        let sid = uuid_string(&mut e.r);
        self.db_common(db, user, name, &sid);
        let (q, params, err): (&str, &[&str], &str) = if failed {
            e.r.one(&[
                (
                    "DROP TABLE audit_log",
                    &[][..],
                    "ERROR: permission denied for table audit_log (SQLSTATE 42501)",
                ),
                (
                    "SELECT * FROM payroll",
                    &[][..],
                    "ERROR: relation \"payroll\" does not exist (SQLSTATE 42P01)",
                ),
                (
                    "UPDATE users SET role = $1 WHERE id = $2",
                    &["admin", "1042"][..],
                    "ERROR: permission denied for table users (SQLSTATE 42501)",
                ),
            ])
        } else if db.protocol == "mysql" {
            e.r.one(&[
                ("SELECT * FROM customers LIMIT 50", &[][..], ""),
                ("SHOW TABLES", &[][..], ""),
                (
                    "SELECT id, status FROM orders WHERE id = ?",
                    &["88123"][..],
                    "",
                ),
            ])
        } else {
            e.r.one(&[
                (
                    "SELECT id, email FROM users WHERE id = $1",
                    &["1042"][..],
                    "",
                ),
                (
                    "SELECT count(*) FROM orders WHERE created_at > now() - interval '1 day'",
                    &[][..],
                    "",
                ),
                (
                    "UPDATE invoices SET status = $1 WHERE id = $2",
                    &["paid", "77120"][..],
                    "",
                ),
                ("SELECT * FROM pg_stat_activity", &[][..], ""),
                ("COPY (SELECT * FROM events) TO STDOUT", &[][..], ""),
            ])
        };
        let b = &mut self.b;
        ks(b, "db_query", q);
        if !params.is_empty() {
            ka(b, "db_query_parameters", params);
        }
        b.push_str(if failed {
            ",\"success\":false"
        } else {
            ",\"success\":true"
        });
        if failed {
            ks(b, "error", err);
        }
        self.end();
    }

    fn device(&mut self, e: &mut Ev, k: Kind) {
        let enroll = k == DeviceEnroll;
        self.tp_head(
            e,
            if enroll {
                "device.enroll"
            } else {
                "device.authenticate"
            },
            if enroll { "TV005I" } else { "TV006I" },
        );
        self.tp_user_meta(e);
        let dev = match e.person().and_then(|p| p.device.clone()) {
            Some(d) => d,
            None => (
                uuid_string(&mut e.r),
                id_string("C02", e.r.next(), UPPER_ALNUM, 7),
                2,
            ),
        };
        let b = &mut self.b;
        b.push_str(",\"device\":{\"device_id\":\"");
        b.push_str(&dev.0);
        b.push_str("\",\"asset_tag\":\"");
        b.push_str(&dev.1);
        b.push_str("\",\"os_type\":");
        push_u64(b, u64::from(dev.2));
        b.push_str(",\"device_origin\":1,\"credential_id\":\"");
        push_uuid(b, &mut e.r);
        b.push_str("\"},\"success\":true");
        self.end();
    }

    fn exec(&mut self, e: &mut Ev) {
        let kube = matches!(e.who, Who::B(b) if b.def.method == "github") || e.r.chance(0.25);
        let fail = e.r.chance(0.05);
        self.tp_head(e, "exec", if fail { "T3002E" } else { "T3002I" });
        self.tp_user_meta(e);
        let login = self.tp_login(e);
        ks(&mut self.b, "login", login);
        ku(&mut self.b, "sid", &mut e.r);
        self.tp_addr(e, None);
        if kube {
            let cluster = e.r.one(e.t.def.kube);
            let (user, _) = e.tp_user();
            let user = user.to_string();
            let ns = e.r.one(&["default", "payments", "web", "monitoring"]);
            let b = &mut self.b;
            ks(b, "proto", "kube");
            ks(b, "kubernetes_cluster", cluster);
            ka(b, "kubernetes_users", &[&user]);
            ka(b, "kubernetes_groups", &["developers"]);
            ks(b, "kubernetes_pod_namespace", ns);
            b.push_str(",\"kubernetes_pod_name\":\"api-");
            push_hex(b, &mut e.r, 10);
            b.push('-');
            push_chars(b, &mut e.r, b"bcdfghjklmnpqrstvwxz2456789", 5);
            b.push('"');
            ks(b, "kubernetes_container_name", "app");
            ks(b, "kubernetes_container_image", "ghcr.io/acme/api:1.42.0");
            ku(b, "server_id", &mut e.r);
            let cmd = e.r.one(&[
                "sh -c env",
                "/bin/sh",
                "cat /etc/passwd",
                "ls /app/config",
                "python manage.py shell",
            ]);
            ks(b, "command", cmd);
        } else {
            ks(&mut self.b, "proto", "ssh");
            self.tp_server(e, 3022);
            let cmd = e.r.one(&[
                "systemctl status nginx",
                "journalctl -u app --since '1 hour ago'",
                "df -h",
                "cat /etc/passwd",
                "sudo tail -n 100 /var/log/syslog",
                "uptime",
                "docker ps",
                "ansible-playbook site.yml --check",
            ]);
            ks(&mut self.b, "command", cmd);
        }
        let b = &mut self.b;
        ks(b, "exitCode", if fail { "1" } else { "0" });
        if fail {
            ks(b, "exitError", "exit status 1");
        }
        self.end();
    }

    fn instance_join(&mut self, e: &mut Ev) {
        self.tp_head(e, "instance.join", "TJ002I");
        let method = e.r.one(&["token", "token", "iam", "ec2"]);
        let b = &mut self.b;
        let host = format!("ip-10-10-{}-{}", e.r.below(8), 2 + e.r.below(250));
        ks(b, "node_name", &host);
        ku(b, "host_id", &mut e.r);
        ks(b, "role", "Instance");
        ks(b, "method", method);
        if method == "token" {
            b.push_str(",\"token_name\":\"************************");
            push_hex(b, &mut e.r, 8);
            b.push('"');
            // Most join tokens live 30 minutes; some were made for a week (flagged by the report).
            let ttl = if e.r.chance(0.2) {
                7 * DAY_MS
            } else {
                30 * MIN_MS
            };
            kt(b, "token_expires", e.ts + ttl, Ts::Go);
        } else {
            let name = format!("{}-join", method);
            ks(b, "token_name", &name);
            b.push_str(",\"attributes\":{\"account\":\"");
            b.push_str(e.t.def.accounts[0].0);
            b.push_str("\"}");
        }
        b.push_str(",\"success\":true");
        self.end();
    }

    fn join_token_create(&mut self, e: &mut Ev) {
        self.tp_head(e, "join_token.create", "TJT00I");
        self.tp_user_meta(e);
        let b = &mut self.b;
        b.push_str(",\"name\":\"************************");
        push_hex(b, &mut e.r, 8);
        b.push('"');
        let roles: &[&str] =
            e.r.one(&[&["Node"][..], &["Node", "Db"][..], &["Kube"][..]]);
        ka(b, "roles", roles);
        ks(b, "join_method", "token");
        let ttl = if e.r.chance(0.3) { 7 * DAY_MS } else { HOUR_MS };
        kt(b, "expires", e.ts + ttl, Ts::Go);
        let (user, _) = e.tp_user();
        ks(b, "updated_by", user);
        self.end();
    }

    fn kube_request(&mut self, e: &mut Ev) {
        self.tp_head(e, "kube.request", "T3009I");
        self.tp_user_meta(e);
        let (user, _) = e.tp_user();
        let user = user.to_string();
        let cluster = e.r.one(e.t.def.kube);
        let masters = match &e.who {
            Who::P(p) => p.admin && e.r.chance(0.35) || e.r.chance(0.03),
            _ => e.r.chance(0.1),
        };
        let b = &mut self.b;
        let login = user.split('@').next().unwrap_or(&user).to_string();
        ks(b, "login", &login);
        ks(b, "proto", "kube");
        ks(b, "kubernetes_cluster", cluster);
        ka(b, "kubernetes_users", &[&user]);
        ka(
            b,
            "kubernetes_groups",
            if masters {
                &["system:masters"]
            } else {
                &["developers"]
            },
        );
        let (verb, ns, kind, name) = (
            e.r.one(&[
                "GET", "GET", "GET", "LIST", "WATCH", "POST", "PATCH", "DELETE",
            ]),
            e.r.one(&["default", "payments", "web", "monitoring", "kube-system"]),
            e.r.one(&[
                "pods",
                "pods",
                "deployments",
                "services",
                "configmaps",
                "secrets",
            ]),
            e.r.one(&["api", "web", "worker", "redis", "ingress"]),
        );
        ks(b, "verb", verb);
        let group = if kind == "deployments" {
            "apps/v1"
        } else {
            "core/v1"
        };
        let path = if kind == "deployments" {
            format!("/apis/apps/v1/namespaces/{ns}/{kind}/{name}")
        } else {
            format!("/api/v1/namespaces/{ns}/{kind}/{name}")
        };
        ks(b, "request_path", &path);
        ks(b, "resource_api_group", group);
        ks(b, "resource_kind", kind);
        ks(b, "resource_name", name);
        ks(b, "resource_namespace", ns);
        let code = if e.r.chance(0.06) {
            403
        } else if verb == "POST" {
            201
        } else {
            200
        };
        kn(b, "response_code", code);
        ku(b, "server_id", &mut e.r);
        self.tp_addr(e, None);
        self.tp_weak(e, 0.1, 0.15);
        self.end();
    }

    fn lock(&mut self, e: &mut Ev, k: Kind) {
        let created = k == LockCreated;
        // Lock name and target come from the pair's shared draws.
        let mut pr = e.pair.clone();
        let name = uuid_string(&mut pr);
        let target = e.t.people[e.t.pick_person(&mut pr)].email.clone();
        self.tp_head(
            e,
            if created {
                "lock.created"
            } else {
                "lock.deleted"
            },
            if created { "TLK00I" } else { "TLK01I" },
        );
        self.tp_user_meta(e);
        let b = &mut self.b;
        ks(b, "name", &name);
        b.push_str(",\"target\":{\"user\":\"");
        b.push_str(&target);
        b.push_str("\"}");
        if created {
            kt(b, "expires", e.ts + 12 * HOUR_MS, Ts::Go);
        }
        let (user, _) = e.tp_user();
        ks(b, "updated_by", user);
        self.end();
    }

    fn recovery_code_used(&mut self, e: &mut Ev) {
        let fail = e.r.chance(0.3);
        self.tp_head(
            e,
            "recovery_code.used",
            if fail { "T1009W" } else { "T1009I" },
        );
        self.tp_user_meta(e);
        let b = &mut self.b;
        b.push_str(if fail {
            ",\"success\":false"
        } else {
            ",\"success\":true"
        });
        if fail {
            ks(b, "error", "invalid recovery code");
            ks(b, "message", "recovery code verification failed");
        }
        self.end();
    }

    fn reset_password_token(&mut self, e: &mut Ev) {
        self.tp_head(e, "reset_password_token.create", "T6000I");
        self.tp_user_meta(e);
        let target = e.any_person().email.clone();
        let b = &mut self.b;
        ks(b, "name", &target);
        ks(b, "ttl", "8h0m0s");
        kt(b, "expires", e.ts + 8 * HOUR_MS, Ts::Go);
        self.end();
    }

    fn saml_idp_auth(&mut self, e: &mut Ev) {
        self.tp_head(e, "saml.idp.auth", "TSI000I");
        self.tp_user_meta(e);
        let (entity, shortcut) = e.r.one(&[
            ("https://signin.aws.amazon.com/saml", "aws"),
            ("https://grafana.acme.io/saml/metadata", "grafana"),
        ]);
        let b = &mut self.b;
        ks(b, "service_provider_entity_id", entity);
        ks(b, "service_provider_shortcut", shortcut);
        ku(b, "sid", &mut e.r);
        b.push_str(",\"success\":true");
        self.end();
    }

    fn session_command(&mut self, e: &mut Ev) {
        self.tp_head(e, "session.command", "T4000I");
        self.tp_user_meta(e);
        let login = self.tp_login(e);
        ks(&mut self.b, "login", login);
        ku(&mut self.b, "sid", &mut e.r);
        self.tp_server(e, 3022);
        let (program, path, argv): (&str, &str, &[&str]) = e.r.one(&[
            ("ls", "/usr/bin/ls", &["-la"][..]),
            ("cat", "/usr/bin/cat", &["/etc/hosts"][..]),
            (
                "sudo",
                "/usr/bin/sudo",
                &["systemctl", "restart", "app"][..],
            ),
            (
                "curl",
                "/usr/bin/curl",
                &["-s", "http://localhost:8080/health"][..],
            ),
            ("vim", "/usr/bin/vim", &["/etc/nginx/nginx.conf"][..]),
            ("ps", "/usr/bin/ps", &["aux"][..]),
            ("cat", "/usr/bin/cat", &["/etc/passwd"][..]),
            (
                "python3",
                "/usr/bin/python3",
                &["/opt/ansible/module.py"][..],
            ),
        ]);
        let b = &mut self.b;
        let pid = 1000 + e.r.below(60_000);
        kn(b, "pid", pid as i64);
        kn(b, "ppid", (pid - 1 - e.r.below(500).min(pid - 1)) as i64);
        kn(b, "cgroup_id", 4_294_967_000 + e.r.below(10_000) as i64);
        ks(b, "program", program);
        ks(b, "path", path);
        ka(b, "argv", argv);
        kn(b, "return_code", if e.r.chance(0.05) { 1 } else { 0 });
        self.end();
    }

    fn session_join(&mut self, e: &mut Ev) {
        self.tp_head(e, "session.join", "T2001I");
        self.tp_user_meta(e);
        let login = self.tp_login(e);
        ks(&mut self.b, "login", login);
        ku(&mut self.b, "sid", &mut e.r);
        ks(&mut self.b, "proto", "ssh");
        self.tp_server(e, 3022);
        self.tp_addr(e, None);
        self.end();
    }

    fn session_rejected(&mut self, e: &mut Ev) {
        self.tp_head(e, "session.rejected", "T1006W");
        self.tp_user_meta(e);
        let login = self.tp_login(e);
        ks(&mut self.b, "login", login);
        ks(&mut self.b, "proto", "ssh");
        self.tp_server(e, 3022);
        self.tp_addr(e, None);
        let b = &mut self.b;
        ks(
            b,
            "reason",
            "the maximum number of concurrent sessions for this user has been reached",
        );
        kn(b, "max", 2);
        self.end();
    }

    fn session_start(&mut self, e: &mut Ev, ip_override: Option<&str>) {
        self.tp_head(e, "session.start", "T2000I");
        self.tp_user_meta(e);
        let kube = ip_override.is_none() && e.r.chance(0.15);
        let login = if ip_override.is_some() {
            "root"
        } else {
            self.tp_login(e)
        };
        let sid = uuid_string(&mut e.r);
        let b = &mut self.b;
        ks(b, "login", login);
        ks(b, "sid", &sid);
        if kube {
            let (user, _) = e.tp_user();
            let user = user.to_string();
            let cluster = e.r.one(e.t.def.kube);
            let b = &mut self.b;
            ks(b, "proto", "kube");
            ks(b, "kubernetes_cluster", cluster);
            ka(b, "kubernetes_users", &[&user]);
            ka(b, "kubernetes_groups", &["developers"]);
            ks(b, "kubernetes_pod_namespace", "default");
            b.push_str(",\"kubernetes_pod_name\":\"debug-");
            push_hex(b, &mut e.r, 5);
            b.push('"');
            ku(b, "server_id", &mut e.r);
            ks(b, "session_recording", "node");
        } else {
            ks(b, "proto", "ssh");
            ks(b, "size", e.r.one(&["80:25", "120:40", "211:58"]));
            self.tp_server(e, 3022);
            ks(&mut self.b, "session_recording", "node");
            if e.r.chance(0.2) {
                let cmd = e.r.one(&["uptime", "sudo -i", "tail -f /var/log/app.log"]);
                ka(&mut self.b, "initial_command", &[cmd]);
            }
        }
        self.tp_addr(e, ip_override);
        if ip_override.is_none() {
            self.tp_weak(e, 0.12, 0.4);
        }
        ks(&mut self.b, "private_key_policy", "none");
        self.end();
    }

    fn user_create(&mut self, e: &mut Ev) {
        self.tp_head(e, "user.create", "T1002I");
        self.tp_user_meta(e);
        let b = &mut self.b;
        let name =
            e.r.one(&["contractor-1", "svc-grafana", "intern-2", "break-glass"]);
        ks(b, "name", name);
        ka(b, "roles", &["access"]);
        ks(b, "connector", "local");
        self.end();
    }

    fn user_login(&mut self, e: &mut Ev, ip_override: Option<&str>, fail: bool) {
        let local = ip_override.is_none() && e.r.chance(0.1);
        let code = match (local, fail) {
            (true, false) => "T1000I",
            (true, true) => "T1000W",
            (false, false) => "T1001I",
            (false, true) => "T1001W",
        };
        self.tp_head(e, "user.login", code);
        self.tp_user_meta(e);
        let ua = e
            .person()
            .map(|p| BROWSERS[p.browser].0)
            .unwrap_or("tsh/17.4.8");
        let b = &mut self.b;
        ks(b, "method", if local { "local" } else { "saml" });
        b.push_str(if fail {
            ",\"success\":false"
        } else {
            ",\"success\":true"
        });
        if fail {
            ks(
                b,
                "error",
                if local {
                    "invalid credentials"
                } else {
                    "Failed to validate SAML response."
                },
            );
        }
        ks(b, "user_agent", ua);
        if !local && !fail {
            let (user, _) = e.tp_user();
            b.push_str(
                ",\"attributes\":{\"groups\":[\"Everyone\",\"Engineering\"],\"username\":[\"",
            );
            b.push_str(user);
            b.push_str("\"]}");
        }
        if local
            && !fail
            && let Some(p) = e.person()
        {
            b.push_str(",\"mfa_device\":{\"mfa_device_name\":\"yubikey\",\"mfa_device_uuid\":\"");
            b.push_str(&p.mfa_uuid);
            b.push_str("\",\"mfa_device_type\":\"WebAuthn\"}");
        }
        self.tp_addr(e, ip_override);
        self.end();
    }

    fn brute_force(&mut self, e: &mut Ev, i: u64) {
        self.tp_head(e, "user.login", "T1000W");
        let user = BRUTE_FORCE_USERS[(i as usize) % BRUTE_FORCE_USERS.len()];
        let b = &mut self.b;
        ks(b, "user", user);
        ks(b, "method", "local");
        b.push_str(",\"success\":false");
        ks(b, "error", "invalid credentials");
        ks(b, "user_agent", "python-requests/2.31.0");
        self.tp_addr(e, Some(BRUTE_FORCE_IP));
        self.end();
    }

    fn user_password_change(&mut self, e: &mut Ev) {
        self.tp_head(e, "user.password_change", "T1005I");
        self.tp_user_meta(e);
        self.end();
    }

    fn desktop(&mut self, e: &mut Ev, end: bool) {
        // Start and end share the pair's draws: same desktop, same session id.
        let mut pr = e.pair.clone();
        let (desk, addr) = pr.one(e.t.def.desktops);
        let sid = uuid_string(&mut pr);
        let service = uuid_string(&mut pr);
        let winuser = if pr.chance(0.3) {
            "Administrator"
        } else {
            "svc-build"
        };
        let started = e.ts
            - if end {
                pair_gap(DesktopStart, e.aux)
            } else {
                0
            };
        self.tp_head(
            e,
            if end {
                "windows.desktop.session.end"
            } else {
                "windows.desktop.session.start"
            },
            if end { "TDP01I" } else { "TDP00I" },
        );
        self.tp_user_meta(e);
        let (user, _) = e.tp_user();
        let user = user.to_string();
        let b = &mut self.b;
        ks(b, "sid", &sid);
        ks(b, "desktop_name", desk);
        let a = format!("{addr}:3389");
        ks(b, "desktop_addr", &a);
        b.push_str(",\"desktop_labels\":{\"env\":\"prod\",\"os\":\"windows\"}");
        ks(b, "windows_user", winuser);
        let domain = e.t.id.to_uppercase();
        ks(b, "windows_domain", &domain);
        ks(b, "windows_desktop_service", &service);
        b.push_str(",\"allow_user_creation\":false");
        ks(b, "proto", "tdp");
        if end {
            kt(b, "session_start", started, Ts::Go);
            kt(b, "session_stop", e.ts, Ts::Go);
            ka(b, "participants", &[&user]);
            b.push_str(",\"recorded\":true");
        } else {
            b.push_str(",\"success\":true");
            self.tp_addr(e, None);
        }
        self.end();
    }

    // ---- CloudTrail -------------------------------------------------------------------------

    /// The head of a record up to and including `userIdentity`, per the actor.
    fn ct_identity(&mut self, e: &mut Ev, account: &str) {
        let b = &mut self.b;
        b.push_str("{\"eventVersion\":\"1.09\",\"userIdentity\":{");
        match &e.who {
            Who::P(p) => {
                let home = e.t.def.accounts[0].0;
                if account == home {
                    b.push_str("\"type\":\"IAMUser\",\"principalId\":\"");
                    b.push_str(&p.aida);
                    b.push_str("\",\"arn\":\"arn:aws:iam::");
                    b.push_str(home);
                    b.push_str(":user/");
                    b.push_str(p.login);
                    b.push_str("\",\"accountId\":\"");
                    b.push_str(home);
                    b.push_str("\",\"accessKeyId\":\"");
                    b.push_str(&p.akia);
                    b.push_str("\",\"userName\":\"");
                    b.push_str(p.login);
                    b.push('"');
                } else {
                    let role = if p.admin { "Admin" } else { "Engineer" };
                    let roleid = id_string("AROA", hash(role) ^ hash(account), UPPER_ALNUM, 17);
                    b.push_str("\"type\":\"AssumedRole\",\"principalId\":\"");
                    b.push_str(&roleid);
                    b.push(':');
                    b.push_str(p.login);
                    b.push_str("\",\"arn\":\"arn:aws:sts::");
                    b.push_str(account);
                    b.push_str(":assumed-role/");
                    b.push_str(role);
                    b.push('/');
                    b.push_str(p.login);
                    b.push_str("\",\"accountId\":\"");
                    b.push_str(account);
                    b.push_str("\",\"accessKeyId\":\"ASIA");
                    push_chars(b, &mut e.r, UPPER_ALNUM, 16);
                    b.push_str("\",\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\",\"principalId\":\"");
                    b.push_str(&roleid);
                    b.push_str("\",\"arn\":\"arn:aws:iam::");
                    b.push_str(account);
                    b.push_str(":role/");
                    b.push_str(role);
                    b.push_str("\",\"accountId\":\"");
                    b.push_str(account);
                    b.push_str("\",\"userName\":\"");
                    b.push_str(role);
                    b.push_str("\"},\"attributes\":{\"creationDate\":\"");
                    push_time(b, e.ts - e.r.range(MIN_MS, HOUR_MS), Ts::Secs);
                    b.push_str("\",\"mfaAuthenticated\":\"true\"}}");
                }
            }
            _ => {
                let roleid = id_string(
                    "AROA",
                    hash("github-actions-deploy") ^ hash(account),
                    UPPER_ALNUM,
                    17,
                );
                b.push_str("\"type\":\"AssumedRole\",\"principalId\":\"");
                b.push_str(&roleid);
                b.push_str(":GitHubActions\",\"arn\":\"arn:aws:sts::");
                b.push_str(account);
                b.push_str(":assumed-role/github-actions-deploy/GitHubActions\",\"accountId\":\"");
                b.push_str(account);
                b.push_str("\",\"accessKeyId\":\"ASIA");
                push_chars(b, &mut e.r, UPPER_ALNUM, 16);
                b.push_str("\",\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\",\"principalId\":\"");
                b.push_str(&roleid);
                b.push_str("\",\"arn\":\"arn:aws:iam::");
                b.push_str(account);
                b.push_str(":role/github-actions-deploy\",\"accountId\":\"");
                b.push_str(account);
                b.push_str("\",\"userName\":\"github-actions-deploy\"},\"webIdFederationData\":{},\"attributes\":{\"creationDate\":\"");
                push_time(b, e.ts - e.r.range(MIN_MS, 50 * MIN_MS), Ts::Secs);
                b.push_str("\",\"mfaAuthenticated\":\"false\"}}");
            }
        }
        b.push('}');
        kt(b, "eventTime", e.ts, Ts::Secs);
    }

    /// The tail every record shares: ids, type, account, category.
    fn ct_tail(
        &mut self,
        e: &mut Ev,
        account: &str,
        event_type: &str,
        read_only: bool,
        data: bool,
    ) {
        let b = &mut self.b;
        ku(b, "requestID", &mut e.r);
        ku(b, "eventID", &mut e.r);
        b.push_str(if read_only {
            ",\"readOnly\":true"
        } else {
            ",\"readOnly\":false"
        });
        ks(b, "eventType", event_type);
        b.push_str(if data {
            ",\"managementEvent\":false"
        } else {
            ",\"managementEvent\":true"
        });
        ks(b, "recipientAccountId", account);
        ks(b, "eventCategory", if data { "Data" } else { "Management" });
    }

    fn ct_src(&mut self, e: &mut Ev, source: &str, name: &str, region: &str) -> String {
        let b = &mut self.b;
        ks(b, "eventSource", source);
        ks(b, "eventName", name);
        ks(b, "awsRegion", region);
        let (ip, ua) = match &e.who {
            Who::P(p) => {
                let ua = if e.r.chance(0.6) {
                    "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off"
                } else if e.r.chance(0.5) {
                    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.51.1 (go1.22.1; darwin; arm64)"
                } else {
                    BROWSERS[p.browser].0
                };
                (p.ip(&mut e.r).1.to_string(), ua)
            }
            _ => (
                e.t.ci_ip.clone(),
                "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0-1016-azure md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
            ),
        };
        let b = &mut self.b;
        ks(b, "sourceIPAddress", &ip);
        ks(b, "userAgent", ua);
        ip
    }

    fn ct_account(e: &mut Ev) -> &'static str {
        let accts = e.t.def.accounts;
        match &e.who {
            Who::P(_) if accts.len() > 1 && e.r.chance(0.5) => accts[1].0,
            Who::P(_) => accts[0].0,
            _ => accts[accts.len() - 1].0,
        }
    }

    fn ct_region(e: &mut Ev) -> &'static str {
        if e.r.chance(0.8) {
            e.t.def.aws_region
        } else {
            e.r.one(&["us-east-1", "eu-west-1"])
        }
    }

    fn ct_tls(&mut self, host: &str) {
        let b = &mut self.b;
        b.push_str(",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.3\",\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"clientProvidedHostHeader\":\"");
        b.push_str(host);
        b.push_str("\"}");
    }

    fn ct_console_login(&mut self, e: &mut Ev, root: bool) {
        let account = e.t.def.accounts[0].0;
        let fail = !root && e.r.chance(0.1);
        if root {
            let b = &mut self.b;
            b.push_str(
                "{\"eventVersion\":\"1.09\",\"userIdentity\":{\"type\":\"Root\",\"principalId\":\"",
            );
            b.push_str(account);
            b.push_str("\",\"arn\":\"arn:aws:iam::");
            b.push_str(account);
            b.push_str(":root\",\"accountId\":\"");
            b.push_str(account);
            b.push_str("\",\"accessKeyId\":\"\"}");
            kt(b, "eventTime", e.ts, Ts::Secs);
        } else {
            self.ct_identity(e, account);
        }
        let b = &mut self.b;
        ks(b, "eventSource", "signin.amazonaws.com");
        ks(b, "eventName", "ConsoleLogin");
        ks(b, "awsRegion", "us-east-1");
        let (ip, ua) = match &e.who {
            Who::P(p) if !root => (p.ip(&mut e.r).1.to_string(), BROWSERS[p.browser].0),
            _ => {
                let berlin = e.w.city("berlin");
                (
                    e.w.cities[berlin].host(0xb0ff1ce).to_string(),
                    BROWSERS[0].0,
                )
            }
        };
        ks(b, "sourceIPAddress", &ip);
        ks(b, "userAgent", ua);
        b.push_str(",\"requestParameters\":null");
        if fail {
            ks(b, "errorMessage", "Failed authentication");
            b.push_str(",\"responseElements\":{\"ConsoleLogin\":\"Failure\"}");
        } else {
            b.push_str(",\"responseElements\":{\"ConsoleLogin\":\"Success\"}");
        }
        b.push_str(",\"additionalEventData\":{\"LoginTo\":\"https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true\",\"MobileVersion\":\"No\",\"MFAUsed\":\"");
        b.push_str(if root { "No" } else { "Yes" });
        b.push_str("\"}");
        self.ct_tail(e, account, "AwsConsoleSignIn", false, false);
        self.ct_tls("signin.aws.amazon.com");
        self.end();
    }

    fn ct_root_call(&mut self, e: &mut Ev) {
        let account = e.t.def.accounts[0].0;
        let b = &mut self.b;
        b.push_str(
            "{\"eventVersion\":\"1.09\",\"userIdentity\":{\"type\":\"Root\",\"principalId\":\"",
        );
        b.push_str(account);
        b.push_str("\",\"arn\":\"arn:aws:iam::");
        b.push_str(account);
        b.push_str(":root\",\"accountId\":\"");
        b.push_str(account);
        b.push_str("\",\"accessKeyId\":\"ASIA");
        push_chars(b, &mut e.r, UPPER_ALNUM, 16);
        b.push_str("\",\"sessionContext\":{\"attributes\":{\"creationDate\":\"");
        push_time(b, e.ts - 6 * MIN_MS, Ts::Secs);
        b.push_str("\",\"mfaAuthenticated\":\"false\"}}}");
        kt(b, "eventTime", e.ts, Ts::Secs);
        ks(b, "eventSource", "iam.amazonaws.com");
        // The story's first call (08:01) looks around, the second (08:04) lists the users.
        let name = if e.ts.rem_euclid(DAY_MS) < 8 * HOUR_MS + 3 * MIN_MS {
            "GetAccountSummary"
        } else {
            "ListUsers"
        };
        ks(b, "eventName", name);
        ks(b, "awsRegion", "us-east-1");
        let berlin = e.w.city("berlin");
        let ip = e.w.cities[berlin].host(0xb0ff1ce).to_string();
        ks(b, "sourceIPAddress", &ip);
        ks(b, "userAgent", "AWS Internal");
        b.push_str(",\"requestParameters\":null,\"responseElements\":null");
        self.ct_tail(e, account, "AwsApiCall", true, false);
        self.end();
    }

    fn ct_assume_role(&mut self, e: &mut Ev, k: Kind) {
        let account = Self::ct_account(e);
        let region = Self::ct_region(e);
        let role = match (&e.who, k) {
            (_, CtWebIdentity) => "github-actions-deploy",
            (_, CtServiceAssumeRole) => e.r.one(&[
                "ecsTaskExecutionRole",
                "lambda-orders-processor",
                "ec2-app-instance",
            ]),
            (Who::P(p), _) if p.admin => "Admin",
            _ => e.r.one(&["ReadOnly", "Engineer", "Engineer"]),
        };
        let session = match &e.who {
            Who::P(p) => p.login.to_string(),
            _ if k == CtWebIdentity => "GitHubActions".to_string(),
            _ => {
                let mut s = String::from("i-0");
                push_hex(&mut s, &mut e.r, 16);
                s
            }
        };
        let (name, service_host) = match k {
            CtWebIdentity => ("AssumeRoleWithWebIdentity", "sts.amazonaws.com"),
            _ => ("AssumeRole", "sts.amazonaws.com"),
        };
        if k == CtServiceAssumeRole {
            let svc = if role.starts_with("ecs") {
                "ecs-tasks.amazonaws.com"
            } else if role.starts_with("lambda") {
                "lambda.amazonaws.com"
            } else {
                "ec2.amazonaws.com"
            };
            let b = &mut self.b;
            b.push_str("{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"AWSService\",\"invokedBy\":\"");
            b.push_str(svc);
            b.push_str("\"}");
            kt(b, "eventTime", e.ts, Ts::Secs);
            ks(b, "eventSource", "sts.amazonaws.com");
            ks(b, "eventName", "AssumeRole");
            ks(b, "awsRegion", region);
            ks(b, "sourceIPAddress", svc);
            ks(b, "userAgent", svc);
        } else if k == CtWebIdentity {
            let b = &mut self.b;
            b.push_str("{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"WebIdentityUser\",\"principalId\":\"arn:aws:iam::");
            b.push_str(account);
            b.push_str(
                ":oidc-provider/token.actions.githubusercontent.com:sts.amazonaws.com:repo:",
            );
            let repo = e.r.one(e.t.def.repos);
            b.push_str(repo);
            b.push_str(":ref:refs/heads/main\",\"userName\":\"repo:");
            b.push_str(repo);
            b.push_str(":ref:refs/heads/main\",\"identityProvider\":\"token.actions.githubusercontent.com\"}");
            kt(b, "eventTime", e.ts, Ts::Secs);
            ks(b, "eventSource", "sts.amazonaws.com");
            ks(b, "eventName", name);
            ks(b, "awsRegion", region);
            let ip = e.t.ci_ip.clone();
            ks(b, "sourceIPAddress", &ip);
            ks(
                b,
                "userAgent",
                "aws-sdk-js/3.556.0 ua/2.0 os/linux#6.5.0-1018-azure lang/js md/nodejs#20.12.2 api/sts#3.556.0",
            );
        } else {
            self.ct_identity(e, e.t.def.accounts[0].0);
            self.ct_src(e, "sts.amazonaws.com", name, region);
        }
        let b = &mut self.b;
        let role_arn = format!("arn:aws:iam::{account}:role/{role}");
        b.push_str(",\"requestParameters\":{\"roleArn\":\"");
        b.push_str(&role_arn);
        b.push_str("\",\"roleSessionName\":\"");
        b.push_str(&session);
        b.push_str("\",\"durationSeconds\":3600}");
        let akid = {
            let mut s = String::from("ASIA");
            push_chars(&mut s, &mut e.r, UPPER_ALNUM, 16);
            s
        };
        b.push_str(",\"responseElements\":{\"credentials\":{\"accessKeyId\":\"");
        b.push_str(&akid);
        b.push_str("\",\"sessionToken\":\"IQoJb3JpZ2luX2VjE");
        push_chars(b, &mut e.r, ALNUM, 40);
        b.push_str("\",\"expiration\":\"");
        push_ct_expiration(b, e.ts + HOUR_MS);
        b.push_str("\"},\"assumedRoleUser\":{\"assumedRoleId\":\"");
        let roleid = id_string("AROA", hash(role) ^ hash(account), UPPER_ALNUM, 17);
        b.push_str(&roleid);
        b.push(':');
        b.push_str(&session);
        b.push_str("\",\"arn\":\"arn:aws:sts::");
        b.push_str(account);
        b.push_str(":assumed-role/");
        b.push_str(role);
        b.push('/');
        b.push_str(&session);
        b.push_str("\"}}");
        b.push_str(",\"resources\":[{\"accountId\":\"");
        b.push_str(account);
        b.push_str("\",\"type\":\"AWS::IAM::Role\",\"ARN\":\"");
        b.push_str(&role_arn);
        b.push_str("\"}]");
        self.ct_tail(e, account, "AwsApiCall", false, false);
        if k != CtServiceAssumeRole {
            self.ct_tls(service_host);
        }
        self.end();
    }

    fn ct_access_key(&mut self, e: &mut Ev, delete: bool) {
        let account = e.t.def.accounts[0].0;
        self.ct_identity(e, account);
        let name = if delete {
            "DeleteAccessKey"
        } else {
            "CreateAccessKey"
        };
        self.ct_src(e, "iam.amazonaws.com", name, "us-east-1");
        let target = e.any_person().login;
        let b = &mut self.b;
        let mut key = String::from("AKIA");
        push_chars(&mut key, &mut e.r, UPPER_ALNUM, 16);
        if delete {
            b.push_str(",\"requestParameters\":{\"userName\":\"");
            b.push_str(target);
            b.push_str("\",\"accessKeyId\":\"");
            b.push_str(&key);
            b.push_str("\"},\"responseElements\":null");
        } else {
            b.push_str(",\"requestParameters\":{\"userName\":\"");
            b.push_str(target);
            b.push_str("\"},\"responseElements\":{\"accessKey\":{\"userName\":\"");
            b.push_str(target);
            b.push_str("\",\"accessKeyId\":\"");
            b.push_str(&key);
            b.push_str("\",\"status\":\"Active\",\"createDate\":\"");
            push_ct_expiration(b, e.ts);
            b.push_str("\"}}");
        }
        self.ct_tail(e, account, "AwsApiCall", false, false);
        self.ct_tls("iam.amazonaws.com");
        self.end();
    }

    fn ct_s3(&mut self, e: &mut Ev, put: bool) {
        let account = Self::ct_account(e);
        let region = e.t.def.aws_region;
        self.ct_identity(e, account);
        let name = if put { "PutObject" } else { "GetObject" };
        self.ct_src(e, "s3.amazonaws.com", name, region);
        let bucket = if matches!(e.who, Who::P(_)) {
            e.r.one(&["data-exports", "app-assets", "terraform-state"])
        } else {
            "build-artifacts"
        };
        let bucket = format!("{}-{bucket}", e.t.id);
        let key = format!(
            "{}/{:08x}.tar.gz",
            e.r.pick(&["releases", "exports", "tmp"]),
            e.r.next() as u32
        );
        let denied = e.r.chance(0.04);
        let b = &mut self.b;
        if denied {
            ks(b, "errorCode", "AccessDenied");
            ks(b, "errorMessage", "Access Denied");
        }
        b.push_str(",\"requestParameters\":{\"bucketName\":\"");
        b.push_str(&bucket);
        b.push_str("\",\"Host\":\"");
        b.push_str(&bucket);
        b.push_str(".s3.");
        b.push_str(region);
        b.push_str(".amazonaws.com\",\"key\":\"");
        b.push_str(&key);
        b.push_str("\"},\"responseElements\":");
        b.push_str(if put && !denied {
            "{\"x-amz-server-side-encryption\":\"aws:kms\"}"
        } else {
            "null"
        });
        b.push_str(",\"additionalEventData\":{\"SignatureVersion\":\"SigV4\",\"CipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"bytesTransferredIn\":");
        push_u64(b, if put { 1000 + e.r.below(5_000_000) } else { 0 });
        b.push_str(",\"AuthenticationMethod\":\"AuthHeader\",\"x-amz-id-2\":\"");
        push_chars(b, &mut e.r, ALNUM, 40);
        b.push_str("\",\"bytesTransferredOut\":");
        push_u64(b, if put { 0 } else { 1000 + e.r.below(5_000_000) });
        b.push('}');
        b.push_str(",\"resources\":[{\"type\":\"AWS::S3::Object\",\"ARN\":\"arn:aws:s3:::");
        b.push_str(&bucket);
        b.push('/');
        b.push_str(&key);
        b.push_str("\"},{\"accountId\":\"");
        b.push_str(account);
        b.push_str("\",\"type\":\"AWS::S3::Bucket\",\"ARN\":\"arn:aws:s3:::");
        b.push_str(&bucket);
        b.push_str("\"}]");
        self.ct_tail(e, account, "AwsApiCall", !put, true);
        self.ct_tls("s3.amazonaws.com");
        self.end();
    }

    fn ct_read(&mut self, e: &mut Ev, k: Kind) {
        let account = Self::ct_account(e);
        let region = Self::ct_region(e);
        self.ct_identity(e, account);
        let (src, name, host) = match k {
            CtDescribeInstances => (
                "ec2.amazonaws.com",
                "DescribeInstances",
                "ec2.amazonaws.com",
            ),
            CtListBuckets => ("s3.amazonaws.com", "ListBuckets", "s3.amazonaws.com"),
            _ => (
                "sts.amazonaws.com",
                "GetCallerIdentity",
                "sts.amazonaws.com",
            ),
        };
        self.ct_src(e, src, name, region);
        let denied = k == CtDescribeInstances && e.r.chance(0.05);
        let b = &mut self.b;
        if denied {
            ks(b, "errorCode", "Client.UnauthorizedOperation");
            ks(
                b,
                "errorMessage",
                "You are not authorized to perform this operation.",
            );
        }
        match k {
            CtDescribeInstances => b.push_str(
                ",\"requestParameters\":{\"instancesSet\":{},\"filterSet\":{\"items\":[{\"name\":\"tag:env\",\"valueSet\":{\"items\":[{\"value\":\"prod\"}]}}]}},\"responseElements\":null",
            ),
            CtListBuckets => {
                b.push_str(",\"requestParameters\":{\"Host\":\"s3.amazonaws.com\"},\"responseElements\":null")
            }
            _ => b.push_str(",\"requestParameters\":null,\"responseElements\":null"),
        }
        self.ct_tail(e, account, "AwsApiCall", true, false);
        self.ct_tls(host);
        self.end();
    }

    fn ct_trail(&mut self, e: &mut Ev, stop: bool) {
        let account = e.t.def.accounts[0].0;
        self.ct_identity(e, account);
        self.ct_src(
            e,
            "cloudtrail.amazonaws.com",
            if stop { "StopLogging" } else { "StartLogging" },
            "us-east-1",
        );
        let b = &mut self.b;
        b.push_str(",\"requestParameters\":{\"name\":\"arn:aws:cloudtrail:us-east-1:");
        b.push_str(account);
        b.push_str(":trail/");
        b.push_str(e.t.id);
        b.push_str("-org-trail\"},\"responseElements\":null");
        self.ct_tail(e, account, "AwsApiCall", false, false);
        self.ct_tls("cloudtrail.us-east-1.amazonaws.com");
        self.end();
    }

    // ---- GitHub -----------------------------------------------------------------------------

    /// `{"@timestamp":…,"_document_id":…,"action":…,"actor":…` plus location and org.
    fn gh_head(&mut self, e: &mut Ev, action: &str) {
        let (actor, actor_id, ip, cc) = match &e.who {
            Who::P(p) => {
                let (c, ip) = p.ip(&mut e.r);
                (
                    p.gh,
                    p.gh_id,
                    ip.to_string(),
                    e.w.cities[c].country.iso_code.clone(),
                )
            }
            _ => (
                "github-actions[bot]",
                41_898_282,
                e.t.ci_ip.clone(),
                "US".to_string(),
            ),
        };
        let b = &mut self.b;
        b.push_str("{\"@timestamp\":");
        push_i64(b, e.ts);
        b.push_str(",\"_document_id\":\"");
        push_chars(b, &mut e.r, B64URL, 22);
        b.push('"');
        ks(b, "action", action);
        ks(b, "actor", actor);
        kn(b, "actor_id", actor_id as i64);
        ks(b, "actor_ip", &ip);
        b.push_str(",\"actor_location\":{\"country_code\":\"");
        b.push_str(&cc);
        b.push_str("\"}");
        ks(b, "business", e.t.id);
        kn(b, "created_at", e.ts);
        ks(b, "org", e.t.def.gh_org);
        kn(b, "org_id", e.t.def.gh_org_id as i64);
    }

    fn gh_repo(&mut self, repo: &str, repo_id: u64) {
        ks(&mut self.b, "repo", repo);
        kn(&mut self.b, "repo_id", repo_id as i64);
    }

    fn gh_git(&mut self, e: &mut Ev, k: Kind) {
        let action = match k {
            GhClone => "git.clone",
            GhFetch => "git.fetch",
            _ => "git.push",
        };
        self.gh_head(e, action);
        let ri = e.r.below(e.t.def.repos.len() as u64) as usize;
        let repo = e.t.def.repos[ri];
        self.gh_repo(repo, 600_000_000 + ri as u64 * 7919);
        let ssh = e.r.chance(0.4);
        let b = &mut self.b;
        ks(b, "repository", repo);
        b.push_str(",\"repository_public\":false");
        kn(b, "transport_protocol", if ssh { 2 } else { 1 });
        ks(
            b,
            "transport_protocol_name",
            if ssh { "ssh" } else { "http" },
        );
        ks(
            b,
            "operation_type",
            if k == GhPush { "modify" } else { "access" },
        );
        ks(b, "user_agent", "git/2.44.0");
        self.end();
    }

    fn gh_admin(&mut self, e: &mut Ev, k: Kind) {
        let action = match k {
            GhPrCreate => "pull_request.create",
            GhPrMerge => "pull_request.merge",
            GhWorkflowRun => "workflows.completed_workflow_run",
            GhRepoCreate => "repo.create",
            GhUpdateMember => "org.update_member",
            GhBranchOverride => "protected_branch.policy_override",
            GhRepoAccess => "repo.access",
            _ => "team.add_member",
        };
        self.gh_head(e, action);
        let ri = e.r.below(e.t.def.repos.len() as u64) as usize;
        let repo = e.t.def.repos[ri];
        let repo_id = 600_000_000 + ri as u64 * 7919;
        let ua = e
            .person()
            .map(|p| BROWSERS[p.browser].0)
            .unwrap_or("GitHub-Hookshot");
        match k {
            GhPrCreate | GhPrMerge => {
                self.gh_repo(repo, repo_id);
                let b = &mut self.b;
                kn(
                    b,
                    "pull_request_id",
                    1_800_000_000 + e.r.below(100_000_000) as i64,
                );
                let t = e.r.one(&[
                    "Fix flaky test",
                    "Bump dependencies",
                    "Add audit export",
                    "Refactor auth middleware",
                ]);
                ks(b, "pull_request_title", t);
                ks(
                    b,
                    "operation_type",
                    if k == GhPrCreate { "create" } else { "modify" },
                );
            }
            GhWorkflowRun => {
                self.gh_repo(repo, repo_id);
                let b = &mut self.b;
                ks(b, "name", e.r.one(&["CI", "Deploy", "CodeQL"]));
                ks(b, "event", "push");
                ks(b, "head_branch", "main");
                ks(
                    b,
                    "conclusion",
                    if e.r.chance(0.9) {
                        "success"
                    } else {
                        "failure"
                    },
                );
                kn(b, "run_number", 1000 + e.r.below(9000) as i64);
                kn(
                    b,
                    "workflow_run_id",
                    8_000_000_000 + e.r.below(900_000_000) as i64,
                );
                ks(b, "operation_type", "modify");
            }
            GhRepoCreate => {
                let name = format!("{}/sandbox-{:04x}", e.t.def.gh_org, e.r.below(0xffff));
                self.gh_repo(&name, 700_000_000 + e.r.below(10_000_000));
                let b = &mut self.b;
                ks(b, "visibility", "private");
                b.push_str(",\"public_repo\":false");
                ks(b, "operation_type", "create");
            }
            GhUpdateMember => {
                let target = e.any_person().gh;
                let b = &mut self.b;
                ks(b, "user", target);
                let up = e.r.chance(0.5);
                ks(b, "permission", if up { "admin" } else { "read" });
                ks(b, "old_permission", if up { "read" } else { "admin" });
                ks(b, "operation_type", "modify");
            }
            GhBranchOverride => {
                self.gh_repo(repo, repo_id);
                let b = &mut self.b;
                ks(b, "branch", "refs/heads/main");
                ks(b, "name", "main");
                b.push_str(",\"overridden_codes\":[\"required_status_checks\"]");
                ks(b, "operation_type", "modify");
            }
            GhRepoAccess => {
                // Routine visibility changes stay non-public; the one public flip is a story.
                self.gh_repo(repo, repo_id);
                let b = &mut self.b;
                let to_internal = e.r.chance(0.5);
                ks(
                    b,
                    "visibility",
                    if to_internal { "internal" } else { "private" },
                );
                ks(
                    b,
                    "previous_visibility",
                    if to_internal { "private" } else { "internal" },
                );
                ks(b, "operation_type", "modify");
            }
            _ => {
                let target = e.any_person().gh;
                let team = format!(
                    "{}/{}",
                    e.t.def.gh_org,
                    e.r.pick(&["platform", "backend", "security"])
                );
                let b = &mut self.b;
                ks(b, "team", &team);
                ks(b, "user", target);
                ks(b, "operation_type", "modify");
            }
        }
        ks(&mut self.b, "user_agent", ua);
        self.end();
    }

    fn gh_repo_public(&mut self, e: &mut Ev) {
        self.gh_head(e, "repo.access");
        let repo = format!("{}/internal-tools", e.t.def.gh_org);
        let ri = e.t.def.repos.iter().position(|r| *r == repo).unwrap_or(0);
        self.gh_repo(&repo, 600_000_000 + ri as u64 * 7919);
        let ua = e.person().map(|p| BROWSERS[p.browser].0).unwrap_or("");
        let b = &mut self.b;
        ks(b, "visibility", "public");
        ks(b, "previous_visibility", "private");
        ks(b, "operation_type", "modify");
        ks(b, "user_agent", ua);
        self.end();
    }

    // ---- Okta -------------------------------------------------------------------------------

    /// `{"actor":…,"client":…` with location from the fixture city; returns nothing, writes up
    /// to and including `"client":{…}`.
    fn okta_head(&mut self, e: &mut Ev, p: &Person, city: Option<usize>) {
        let (c, ip) = match city {
            Some(c) => (c, e.w.cities[c].host(0x0c7a ^ hash(p.login)).to_string()),
            None => {
                let (c, ip) = p.ip(&mut e.r);
                (c, ip.to_string())
            }
        };
        let city = &e.w.cities[c];
        let (ua, os, browser) = BROWSERS[p.browser];
        let b = &mut self.b;
        b.push_str("{\"actor\":{\"id\":\"");
        b.push_str(&p.okta_id);
        b.push_str("\",\"type\":\"User\",\"alternateId\":\"");
        b.push_str(&p.email);
        b.push_str("\",\"displayName\":\"");
        b.push_str(p.name);
        b.push_str("\",\"detailEntry\":null}");
        b.push_str(",\"client\":{\"userAgent\":{\"rawUserAgent\":\"");
        b.push_str(ua);
        b.push_str("\",\"os\":\"");
        b.push_str(os);
        b.push_str("\",\"browser\":\"");
        b.push_str(browser);
        b.push_str("\"},\"zone\":\"null\",\"device\":\"Computer\",\"id\":null,\"ipAddress\":\"");
        b.push_str(&ip);
        b.push('"');
        let geo_start = b.len();
        b.push_str(",\"geographicalContext\":{\"city\":\"");
        push_esc(b, &city.city);
        b.push_str("\",\"state\":");
        match &city.region {
            Some(r) => {
                b.push('"');
                push_esc(b, &r.name);
                b.push('"');
            }
            None => b.push_str("null"),
        }
        b.push_str(",\"country\":\"");
        push_esc(b, &city.country.name);
        b.push_str("\",\"postalCode\":null,\"geolocation\":{\"lat\":");
        push_f64(b, city.latitude);
        b.push_str(",\"lon\":");
        push_f64(b, city.longitude);
        b.push_str("}}");
        let geo = b[geo_start + 1..].to_string();
        b.push('}');
        b.push_str(",\"device\":null,\"authenticationContext\":{\"authenticationProvider\":null,\"credentialProvider\":null,\"credentialType\":null,\"issuer\":null,\"interface\":null,\"authenticationStep\":0,\"externalSessionId\":\"102");
        push_chars(
            b,
            &mut Rng::new(hash(p.login) ^ (e.ts / DAY_MS) as u64),
            ALNUM,
            22,
        );
        b.push_str("\"}");
        // request.ipChain repeats the client address and its location.
        let v = if ip.contains(':') { "V6" } else { "V4" };
        b.push_str(",\"request\":{\"ipChain\":[{\"ip\":\"");
        b.push_str(&ip);
        b.push_str("\",");
        b.push_str(&geo);
        b.push_str(",\"version\":\"");
        b.push_str(v);
        b.push_str("\",\"source\":null}]}");
        b.push_str(",\"securityContext\":{\"asNumber\":null,\"asOrg\":null,\"isp\":null,\"domain\":null,\"isProxy\":false}");
    }

    /// Writes the fields after the head, through `uuid`, `published`, `version`, and the target.
    fn okta_tail(&mut self, e: &mut Ev, ev: OktaEv, target: &str) {
        let b = &mut self.b;
        ks(b, "displayMessage", ev.message);
        ks(b, "eventType", ev.event_type);
        b.push_str(",\"outcome\":{\"result\":\"");
        b.push_str(ev.result);
        b.push_str("\",\"reason\":");
        match ev.reason {
            Some(r) => {
                b.push('"');
                push_esc(b, r);
                b.push('"');
            }
            None => b.push_str("null"),
        }
        b.push('}');
        kt(b, "published", e.ts, Ts::Millis);
        ks(
            b,
            "severity",
            if ev.result == "FAILURE" {
                "WARN"
            } else {
                "INFO"
            },
        );
        b.push_str(",\"debugContext\":{\"debugData\":{\"requestId\":\"");
        push_chars(b, &mut e.r, ALNUM, 26);
        b.push_str("\",\"requestUri\":\"");
        b.push_str(ev.uri);
        b.push_str("\",\"url\":\"");
        b.push_str(ev.uri);
        b.push_str("?\"}}");
        match ev.legacy {
            Some(l) => ks(b, "legacyEventType", l),
            None => b.push_str(",\"legacyEventType\":null"),
        }
        b.push_str(",\"transaction\":{\"type\":\"WEB\",\"id\":\"");
        push_chars(b, &mut e.r, ALNUM, 26);
        b.push_str("\",\"detail\":{}}");
        ku(b, "uuid", &mut e.r);
        ks(b, "version", "0");
        b.push_str(",\"target\":");
        b.push_str(if target.is_empty() { "null" } else { target });
        self.end();
    }

    fn okta_person<'a>(e: &Ev<'a>) -> &'a Person {
        match e.who {
            Who::P(p) => p,
            _ => &e.t.people[0],
        }
    }

    fn okta_session_start(&mut self, e: &mut Ev, city: Option<usize>, fail: bool) {
        let p = Self::okta_person(e);
        self.okta_head(e, p, city);
        let ev = OktaEv {
            event_type: "user.session.start",
            message: "User login to Okta",
            result: if fail { "FAILURE" } else { "SUCCESS" },
            reason: fail.then_some("INVALID_CREDENTIALS"),
            legacy: Some(if fail {
                "core.user_auth.login_failed"
            } else {
                "core.user_auth.login_success"
            }),
            uri: "/idp/idx/identify",
        };
        self.okta_tail(e, ev, "");
    }

    fn okta_mfa(&mut self, e: &mut Ev, city: Option<usize>, fail: bool) {
        let p = Self::okta_person(e);
        self.okta_head(e, p, city);
        let ev = OktaEv {
            event_type: "user.authentication.auth_via_mfa",
            message: "Authentication of user via MFA",
            result: if fail { "FAILURE" } else { "SUCCESS" },
            reason: fail.then_some("User rejected Okta push verify"),
            legacy: Some(if fail {
                "core.user.factor.attempt_fail"
            } else {
                "core.user.factor.attempt_success"
            }),
            uri: "/idp/idx/authenticators/poll",
        };
        let mut target = String::from("[{\"id\":\"pfd");
        push_chars(
            &mut target,
            &mut Rng::new(hash(p.login) ^ 0xfac7),
            ALNUM,
            17,
        );
        target.push_str(
            "\",\"type\":\"AuthenticatorEnrollment\",\"alternateId\":\"unknown\",\"displayName\":\"Okta Verify\",\"detailEntry\":{\"methodTypeUsed\":\"Get a push notification\",\"methodUsedVerifiedProperties\":\"[DEVICE_BOUND, HARDWARE_PROTECTED, USER_VERIFYING]\"}}]",
        );
        self.okta_tail(e, ev, &target);
    }

    fn okta_user_event(&mut self, e: &mut Ev, k: Kind) {
        let p = Self::okta_person(e);
        self.okta_head(e, p, None);
        let mut target = String::new();
        let ev = match k {
            OkSso => {
                let (id, app) = e.r.pick(&e.t.apps).clone();
                target.push_str("[{\"id\":\"");
                target.push_str(&id);
                target.push_str("\",\"type\":\"AppInstance\",\"alternateId\":\"");
                target.push_str(app);
                target.push_str("\",\"displayName\":\"SAML 2.0 App\",\"detailEntry\":{\"signOnModeType\":\"SAML_2_0\"}},{\"id\":\"0ua");
                push_chars(
                    &mut target,
                    &mut Rng::new(hash(p.login) ^ hash(app)),
                    ALNUM,
                    17,
                );
                target.push_str("\",\"type\":\"AppUser\",\"alternateId\":\"");
                target.push_str(&p.email);
                target.push_str("\",\"displayName\":\"");
                target.push_str(p.name);
                target.push_str("\",\"detailEntry\":null}]");
                OktaEv {
                    event_type: "user.authentication.sso",
                    message: "User single sign on to app",
                    result: "SUCCESS",
                    reason: None,
                    legacy: Some("app.auth.sso"),
                    uri: "/app/saml/sso/saml",
                }
            }
            OkPolicy => {
                target.push_str("[{\"id\":\"00p");
                push_chars(&mut target, &mut Rng::new(hash(e.t.id) ^ 0x9011), ALNUM, 17);
                target.push_str("\",\"type\":\"PolicyEntity\",\"alternateId\":\"unknown\",\"displayName\":\"Default Policy\",\"detailEntry\":{\"policyType\":\"OktaSignOn\"}},{\"id\":\"0pr");
                push_chars(&mut target, &mut Rng::new(hash(e.t.id) ^ 0x9012), ALNUM, 17);
                target.push_str("\",\"type\":\"PolicyRule\",\"alternateId\":\"unknown\",\"displayName\":\"Require MFA\",\"detailEntry\":{\"policyRuleFactorMode\":\"2FA\"}}]");
                OktaEv {
                    event_type: "policy.evaluate_sign_on",
                    message: "Evaluation of sign-on policy",
                    result: "CHALLENGE",
                    reason: Some("Sign-on policy evaluation resulted in CHALLENGE"),
                    legacy: None,
                    uri: "/idp/idx/identify",
                }
            }
            OkSessionEnd => OktaEv {
                event_type: "user.session.end",
                message: "User logout from Okta",
                result: "SUCCESS",
                reason: None,
                legacy: Some("core.user_auth.logout_success"),
                uri: "/login/signout",
            },
            _ => {
                okta_user_target(&mut target, p);
                OktaEv {
                    event_type: "user.account.update_password",
                    message: "User update password for Okta",
                    result: "SUCCESS",
                    reason: None,
                    legacy: Some("core.user.config.password_update.success"),
                    uri: "/idp/myaccount/password",
                }
            }
        };
        self.okta_tail(e, ev, &target);
    }

    /// An admin acting on another person: privilege grant or MFA reset.
    fn okta_admin_event(&mut self, e: &mut Ev, event_type: &'static str) {
        let admin = &e.t.people[e.t.okta_admin];
        let target_person = if event_type == "user.mfa.factor.reset_all" {
            &e.t.people[e.t.person_by_login("carol")]
        } else {
            match e.who {
                Who::P(p) if p.login != admin.login => p,
                _ => &e.t.people[e.t.pick_person(&mut e.r)],
            }
        };
        self.okta_head(e, admin, None);
        let mut target = String::new();
        okta_user_target(&mut target, target_person);
        let ev = if event_type == "user.mfa.factor.reset_all" {
            OktaEv {
                event_type,
                message: "Reset all factors for user",
                result: "SUCCESS",
                reason: None,
                legacy: Some("core.user.factor.reset_all"),
                uri: "/api/v1/users/lifecycle/reset_factors",
            }
        } else {
            OktaEv {
                event_type,
                message: "Grant user privilege",
                result: "SUCCESS",
                reason: None,
                legacy: Some("core.user.admin_privilege.granted"),
                uri: "/api/v1/users/roles",
            }
        };
        self.okta_tail(e, ev, &target);
    }
}

struct OktaEv {
    event_type: &'static str,
    message: &'static str,
    result: &'static str,
    reason: Option<&'static str>,
    legacy: Option<&'static str>,
    uri: &'static str,
}

fn okta_user_target(target: &mut String, p: &Person) {
    target.push_str("[{\"id\":\"");
    target.push_str(&p.okta_id);
    target.push_str("\",\"type\":\"User\",\"alternateId\":\"");
    target.push_str(&p.email);
    target.push_str("\",\"displayName\":\"");
    target.push_str(p.name);
    target.push_str("\",\"detailEntry\":null}]");
}

fn push_f64(b: &mut String, v: f64) {
    use std::fmt::Write as _;
    let _ = write!(b, "{v}");
}

/// CloudTrail's odd `expiration` format: `Mar 20, 2024, 1:12:03 PM`.
fn push_ct_expiration(b: &mut String, ms: i64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    let h = sod / 3600;
    b.push_str(MONTHS[(m - 1) as usize]);
    b.push(' ');
    push_u64(b, u64::from(d));
    b.push_str(", ");
    push_i64(b, y);
    b.push_str(", ");
    push_u64(b, u64::from(if h.is_multiple_of(12) { 12 } else { h % 12 }));
    b.push(':');
    push2(b, sod / 60 % 60);
    b.push(':');
    push2(b, sod % 60);
    b.push_str(if h < 12 { " AM" } else { " PM" });
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::IpAddr;

    use serde_json::Value;

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
        let ct_time =
            |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();

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
}
