//! The static description of the demo tenants: people, bots, databases, accounts (data tables;
//! `world` turns them into a seeded world).

use super::*;

pub(super) struct PersonDef {
    pub(super) login: &'static str,
    pub(super) name: &'static str,
    pub(super) city: &'static str,
    pub(super) gh: &'static str,
    pub(super) admin: bool,
    /// A second place they appear from (VPN, office).
    pub(super) alt: Option<&'static str>,
}

pub(super) const fn pd(
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

pub(super) struct BotDef {
    pub(super) name: &'static str,
    pub(super) method: &'static str,
    pub(super) city: &'static str,
    pub(super) cert_ttl_h: i64,
    pub(super) kinds: &'static [(Kind, u32)],
}

pub(super) struct DbDef {
    pub(super) service: &'static str,
    pub(super) protocol: &'static str,
    pub(super) uri: &'static str,
    pub(super) ty: &'static str,
    pub(super) region: &'static str,
    pub(super) users: &'static [(&'static str, u32)],
    pub(super) names: &'static [&'static str],
}

pub(super) struct TenantDef {
    pub(super) id: &'static str,
    pub(super) share: f64,
    pub(super) people: &'static [PersonDef],
    pub(super) bots: &'static [BotDef],
    /// (account id, alias); the first holds the IAM users.
    pub(super) accounts: &'static [(&'static str, &'static str)],
    pub(super) gh_org: &'static str,
    pub(super) gh_org_id: u64,
    pub(super) aws_region: &'static str,
    pub(super) servers: &'static [(&'static str, &'static str, &'static str)],
    pub(super) dbs: &'static [DbDef],
    pub(super) kube: &'static [&'static str],
    pub(super) desktops: &'static [(&'static str, &'static str)],
    pub(super) repos: &'static [&'static str],
    pub(super) okta_admin: &'static str,
}

pub(super) const ACME_PEOPLE: &[PersonDef] = &[
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

pub(super) const GLOBEX_PEOPLE: &[PersonDef] = &[
    pd("kate", "Kate Wilson", "toronto", "katew", true),
    pd("omar", "Omar Haddad", "new-york", "ohaddad", false),
    pd("lena", "Lena Park", "seattle", "lenapark", false),
    pd("tunde", "Tunde Bakare", "lagos", "tbakare", false),
    pd("wei", "Wei Ling", "singapore", "weiling", false),
    pd("hiro", "Hiro Sato", "tokyo", "hsato", false),
];

pub(super) const ACME_BOTS: &[BotDef] = &[
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

pub(super) const GLOBEX_BOTS: &[BotDef] = &[BotDef {
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

pub(super) const PG_USERS: &[(&str, u32)] = &[("app_ro", 50), ("app_rw", 30), ("postgres", 15)];

pub(super) const TENANTS: &[TenantDef] = &[
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

pub(super) fn email(login: &str, tenant: &str) -> String {
    format!("{login}@{tenant}.com")
}
