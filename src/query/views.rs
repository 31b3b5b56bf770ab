//! The shared SQL catalog, embedded from `sql/`: the Glue table DDL and the Access Monitoring
//! views. The same text runs on Athena and on the local engine; nothing here rewrites SQL
//! beyond naming the table.

use std::sync::LazyLock;

use regex::Regex;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/sql_files.rs"));
}

/// `sql/detections/*.sql` as (file stem, text).
pub fn detection_files() -> &'static [(&'static str, &'static str)] {
    embedded::DETECTIONS
}

/// `sql/glue/events.sql`, verbatim.
pub const GLUE_DDL: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/glue/events.sql"));

/// The bucket placeholder used in `sql/glue/events.sql` (the seed's example bucket).
const DDL_LOCATION: &str = "s3://example-long-term-bucket";

/// One view of the catalog.
#[derive(Debug, Clone)]
pub struct View {
    /// View name (`session_start`).
    pub name: &'static str,
    /// The Teleport event type it selects (`session.start`), from the file's first line.
    pub event_type: String,
    /// One-line description, from the file's first line.
    pub description: String,
    /// The file's text: a `SELECT … FROM events WHERE …` body (comments included).
    pub body: &'static str,
}

static FROM_EVENTS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bFROM\s+events\b").expect("valid regex"));

impl View {
    /// The body with `events` replaced by the configured table name.
    pub fn body_for(&self, table: &str) -> String {
        if table == "events" {
            self.body.trim().to_string()
        } else {
            FROM_EVENTS
                .replace_all(self.body.trim(), format!("FROM {table}"))
                .into_owned()
        }
    }

    /// `CREATE OR REPLACE VIEW name AS body`: valid on DataFusion and on Athena engine v3.
    pub fn ddl(&self, table: &str) -> String {
        format!(
            "CREATE OR REPLACE VIEW {} AS\n{}",
            self.name,
            self.body_for(table)
        )
    }
}

/// Every view of `sql/views/`, sorted by name.
pub fn views() -> Vec<View> {
    embedded::VIEWS
        .iter()
        .map(|(name, body)| {
            let first = body.lines().next().unwrap_or_default();
            let header = first.trim_start_matches("--").trim();
            let (event_type, description) = match header.split_once(':') {
                Some((t, d)) => (t.trim().to_string(), d.trim().to_string()),
                None => (name.replace('_', "."), header.to_string()),
            };
            View {
                name,
                event_type,
                description,
                body,
            }
        })
        .collect()
}

/// Looks a view up by name.
pub fn view(name: &str) -> Option<View> {
    views()
        .into_iter()
        .find(|v| v.name.eq_ignore_ascii_case(name))
}

/// The Glue DDL with the table name and lake location filled in.
///
/// `location` is the bucket (`s3://bucket`) or the data prefix (`s3://bucket/data`); either
/// way partitions are expected under `…/data/${tenant_id}/${event_date}/`.
pub fn glue_ddl(location: Option<&str>, table: &str) -> String {
    let mut ddl = GLUE_DDL.to_string();
    if let Some(loc) = location {
        let loc = loc.trim_end_matches('/');
        let loc = loc.strip_suffix("/data").unwrap_or(loc);
        ddl = ddl.replace(DDL_LOCATION, loc);
    }
    if table != "events" {
        ddl = ddl.replacen(
            "IF NOT EXISTS events (",
            &format!("IF NOT EXISTS {table} ("),
            1,
        );
    }
    ddl
}

/// Parses the column list of a `CREATE EXTERNAL TABLE` text: (columns, partition keys), each
/// `(name, type)` in order. Used to prove the DDL and the Arrow schema agree.
/// `(name, type)` pairs of a column list.
pub type NamedTypes = Vec<(String, String)>;

pub fn parse_ddl_columns(ddl: &str) -> (NamedTypes, NamedTypes) {
    let no_comments: String = ddl
        .lines()
        .map(|l| l.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let section = |start: &str| -> Vec<(String, String)> {
        let Some(i) = no_comments.find(start) else {
            return vec![];
        };
        let rest = &no_comments[i + start.len()..];
        let Some(open) = rest.find('(') else {
            return vec![];
        };
        let Some(close) = rest[open..].find(')') else {
            return vec![];
        };
        rest[open + 1..open + close]
            .split(',')
            .filter_map(|c| {
                let mut it = c.split_whitespace();
                Some((it.next()?.to_string(), it.next()?.to_string()))
            })
            .collect()
    };
    (section("CREATE EXTERNAL TABLE"), section("PARTITIONED BY"))
}
