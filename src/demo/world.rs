//! The world built from the static description and the seed: the fixture cities (and addresses
//! inside their GeoIP ranges), people, bots, servers and tenants.

use super::*;

#[derive(Debug, Clone, Deserialize)]
pub(super) struct CityRec {
    pub(super) key: String,
    pub(super) network: String,
    pub(super) city: String,
    pub(super) region: Option<RegionRec>,
    pub(super) country: CountryRec,
    pub(super) latitude: f64,
    pub(super) longitude: f64,
    pub(super) utc_offset_hours: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct RegionRec {
    pub(super) name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct CountryRec {
    pub(super) iso_code: String,
    pub(super) name: String,
}

impl CityRec {
    /// An address inside this entry's network; `h` picks the host.
    pub(super) fn host(&self, h: u64) -> IpAddr {
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

pub(super) fn load_cities() -> Vec<CityRec> {
    // The file is compiled in and checked by the tests; an error here is a build defect.
    serde_json::from_str(CITIES_JSON).expect("fixtures/geoip/cities.json is valid")
}

pub(super) struct Person {
    pub(super) login: &'static str,
    pub(super) name: &'static str,
    pub(super) email: String,
    pub(super) gh: &'static str,
    pub(super) gh_id: u64,
    pub(super) okta_id: String,
    pub(super) aida: String,
    pub(super) akia: String,
    pub(super) admin: bool,
    /// Addresses: [0] home, then more in the home city, then the alternate place.
    pub(super) ips: Vec<String>,
    pub(super) cities: Vec<usize>,
    pub(super) offset_min: i64,
    pub(super) browser: usize,
    pub(super) device: Option<(String, String, u8)>,
    pub(super) mfa_uuid: String,
    pub(super) weight: u32,
}

impl Person {
    pub(super) fn ip(&self, r: &mut Rng) -> (usize, &str) {
        let i = if r.chance(0.8) {
            0
        } else {
            r.below(self.ips.len() as u64) as usize
        };
        (self.cities[i], &self.ips[i])
    }
}

pub(super) struct Bot {
    pub(super) def: &'static BotDef,
    pub(super) user: String,
    pub(super) ip: String,
    pub(super) city: usize,
}

pub(super) struct Server {
    pub(super) host: &'static str,
    pub(super) addr: &'static str,
    pub(super) env: &'static str,
    pub(super) id: String,
}

pub(super) struct Tenant {
    pub(super) def: &'static TenantDef,
    pub(super) id: &'static str,
    pub(super) cluster: String,
    pub(super) people: Vec<Person>,
    /// Cumulative activity weights of `people`.
    pub(super) cum: Vec<u32>,
    pub(super) bots: Vec<Bot>,
    pub(super) servers: Vec<Server>,
    /// Okta app instance ids for Teleport, AWS, GitHub, Slack, Google Workspace.
    pub(super) apps: Vec<(String, &'static str)>,
    pub(super) okta_admin: usize,
    pub(super) ci_ip: String,
}

impl Tenant {
    pub(super) fn pick_person(&self, r: &mut Rng) -> usize {
        let total = *self.cum.last().unwrap_or(&1);
        let x = r.below(u64::from(total)) as u32;
        self.cum
            .partition_point(|c| *c <= x)
            .min(self.people.len() - 1)
    }
    pub(super) fn person_by_login(&self, login: &str) -> usize {
        self.people
            .iter()
            .position(|p| p.login == login)
            .unwrap_or(0)
    }
}

pub(super) struct World {
    pub(super) cities: Vec<CityRec>,
    pub(super) tenants: Vec<Tenant>,
}

pub(super) const BROWSERS: &[(&str, &str, &str)] = &[
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
    pub(super) fn build(seed: u64) -> World {
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

    pub(super) fn city(&self, key: &str) -> usize {
        self.cities.iter().position(|c| c.key == key).unwrap_or(0)
    }
}
