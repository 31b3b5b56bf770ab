//! `auditlake demo`: generates the synthetic month (see `demo`) and ingests it into a local lake
//! with the fixture GeoIP database, then says what was written and how to query it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;

use crate::demo::{DemoSources, DemoSpec};
use crate::error::{Error, Result};
use crate::ingest::enrich::GeoIp;
use crate::ingest::{self, Chunk, IngestOptions};

/// The fixture GeoIP City database (our own, licence-clean), built into the binary so the demo
/// needs no download.
pub const FIXTURE_GEOIP: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/geoip/auditlake-test-city.mmdb"
));

/// Generate a realistic synthetic month for a small company and ingest it (no AWS needed).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: super::args::LakeArgs,
    /// Random seed: the same seed and start date give the same events.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Days of events (1 to 36,600: a century).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=36_600))]
    pub days: u32,
    /// First day (default: so that the last day is today).
    #[arg(long)]
    pub start: Option<chrono::NaiveDate>,
    /// Events per day, all sources together.
    #[arg(long, default_value_t = 3000)]
    pub events_per_day: u32,
    /// Only Teleport events (for benchmarks).
    #[arg(long)]
    pub teleport_only: bool,
    /// Write the raw events as NDJSON to this file instead of ingesting them.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub views: super::args::ViewsArgs,
}

pub fn spec(args: &Args) -> DemoSpec {
    let days = args.days.max(1);
    let start = args
        .start
        .unwrap_or_else(|| Utc::now().date_naive() - chrono::Days::new(u64::from(days - 1)));
    DemoSpec {
        seed: args.seed,
        start,
        days,
        events_per_day: args.events_per_day,
        sources: if args.teleport_only {
            DemoSources::TeleportOnly
        } else {
            DemoSources::All
        },
    }
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let spec = spec(&args);
    if let Some(path) = &args.out {
        let f = std::fs::File::create(path).map_err(|e| Error::Io {
            op: "create",
            path: path.clone(),
            source: e,
        })?;
        let mut w = std::io::BufWriter::new(f);
        let mut err = None;
        let mut n = 0u64;
        crate::demo::generate(&spec, &mut |_tenant, line| {
            if err.is_none() {
                if let Err(e) = writeln!(w, "{line}") {
                    err = Some(e);
                }
                n += 1;
            }
        });
        if let Some(e) = err.or_else(|| w.flush().err()) {
            return Err(Error::Io {
                op: "write",
                path: path.clone(),
                source: e,
            });
        }
        println!(
            "wrote {n} events ({} days from {}) to {}",
            spec.days,
            spec.start,
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }

    let lake = args.lake.open()?;
    let geoip = GeoIp::from_bytes(FIXTURE_GEOIP.to_vec())?;
    let opts = IngestOptions {
        geoip: Some(Arc::new(geoip)),
        tenant: "acme".into(),
        ..Default::default()
    };
    let producer_spec = spec.clone();
    let summary = ingest::run(&lake, opts, move |tx| {
        // One pending chunk per tenant: chunks carry their tenant.
        let mut pending: std::collections::HashMap<String, Vec<String>> = Default::default();
        let mut line_no = 0u64;
        let mut closed = false;
        let send = |tenant: &str, lines: Vec<String>, first: u64| {
            tx.send(Chunk::of(
                Arc::from(tenant),
                Arc::from("demo"),
                first,
                lines,
            ))
            .is_ok()
        };
        crate::demo::generate(&producer_spec, &mut |tenant, line| {
            if closed {
                return;
            }
            line_no += 1;
            let buf = pending.entry(tenant.to_string()).or_default();
            buf.push(line.to_string());
            if buf.len() >= 2048 {
                let lines = std::mem::take(buf);
                closed = !send(tenant, lines, line_no);
            }
        });
        for (tenant, lines) in pending {
            if !lines.is_empty() && !send(&tenant, lines, line_no) {
                break;
            }
        }
        Ok(0)
    })
    .await?;
    // One person's identities across sources, for cross-source detections (`auditlake alerts`).
    let mut csv = String::from("tenant_id,identity,person\n");
    for id in crate::demo::identities() {
        let mut names = vec![id.email, id.teleport_user, id.github_login, id.okta_login];
        if let Some((_, user)) = id.aws_arn.rsplit_once(":user/") {
            names.push(user.to_string());
        }
        names.push(id.aws_arn);
        names.sort();
        names.dedup();
        for n in names {
            csv.push_str(&format!("{},{n},{}\n", id.tenant, id.person));
        }
    }
    crate::lake::store::Catalog::new(&lake)
        .put_identities(&csv)
        .await?;
    print!("{}", summary.render());
    // As `ingest` leaves a lake: the columns the reports read, built for the days written.
    let mut by_tenant: std::collections::BTreeMap<&str, Vec<chrono::NaiveDate>> =
        Default::default();
    for (t, d) in summary.by_partition.keys() {
        by_tenant.entry(t.as_str()).or_default().push(*d);
    }
    for (tenant, dates) in &by_tenant {
        if let Some(line) = args.views.prepare(&lake, tenant, dates).await {
            println!("{tenant}: {line}");
        }
    }
    println!(
        "\nThe lake is at {} ({} days from {}, GeoIP: the built-in fixture database).",
        lake.display(),
        spec.days,
        spec.start
    );
    print!("{}", tour(&args.lake.lake, &spec));
    Ok(ExitCode::SUCCESS)
}

/// The tour printed after the demo: every line runs as printed (from the checkout, through
/// `cargo run`; an installed binary prints its own name instead), and it visits each face: the
/// shell, a one-shot query, the HTML report, the alerts, and the Flight SQL server.
pub fn tour(lake: &str, spec: &DemoSpec) -> String {
    let via_cargo = std::env::var_os("CARGO").is_some();
    let bin = if via_cargo {
        "cargo run -q --".to_string()
    } else {
        shell_quote(
            &std::env::args()
                .next()
                .unwrap_or_else(|| "auditlake".into()),
        )
    };
    let lake = shell_quote(lake);
    // Reports and alerts look back 30 days from today by default: a month generated further
    // in the past needs a wider window to be seen.
    let age = (Utc::now().date_naive() - spec.start).num_days() + 1;
    let window = super::report::DEFAULT_REPORT_DAYS.min(super::alerts::DEFAULT_ALERT_DAYS);
    let days = if age > i64::from(window) {
        format!(" --days {age}")
    } else {
        String::new()
    };
    let scope = format!("--lake {lake} --tenant acme{days}");
    let mut s = String::from("\nTry it");
    if via_cargo {
        s.push_str(" (`cargo install --path .` puts `auditlake` on your PATH; then type `auditlake` for `cargo run -q --`)");
    }
    s.push_str(":\n");
    let mut step = |comment: &str, cmds: &[String]| {
        s.push_str(&format!("  # {comment}\n"));
        for c in cmds {
            s.push_str(&format!("  {bin} {c}\n"));
        }
    };
    step(
        "The interactive shell: \\d lists the views, \\? the commands, Tab completes, \\q quits.",
        &[format!("sql {scope}")],
    );
    step(
        "A one-shot query: who logged in as root, per day.",
        &[format!(
            "query {scope} \"SELECT event_date, user, count(*) AS sessions FROM session_start WHERE login = 'root' GROUP BY 1, 2 ORDER BY 1, 2\""
        )],
    );
    step(
        "The Privileged Access Report as one self-contained page (open report.html in a browser).",
        &[format!("report {scope} --format html --out report.html")],
    );
    step(
        "What the detections found: a summary per rule, then the alerts grouped by identity and day.",
        &[
            format!("alerts {scope} --summary"),
            format!("alerts {scope}"),
        ],
    );
    step(
        "Arrow Flight SQL for Grafana, DBeaver or ADBC: a token (printed once), then the server (Ctrl-C stops it).",
        &[
            "token add analyst --tenant acme --tokens tokens.yaml".to_string(),
            format!("serve --lake {lake} --tokens tokens.yaml"),
        ],
    );
    s
}

/// `s` as one POSIX shell word: bare when it is plainly safe, else single-quoted.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_quote("./auditlake-lake"), "./auditlake-lake");
        assert_eq!(shell_quote("s3://b/data/"), "s3://b/data/");
        assert_eq!(shell_quote("my lake"), "'my lake'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
