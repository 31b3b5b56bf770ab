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
    /// Days of events.
    #[arg(long, default_value_t = 30)]
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
            tx.send(Chunk {
                tenant: Arc::from(tenant),
                input: Arc::from("demo"),
                first_line: first,
                lines,
            })
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
    println!(
        "\nThe lake is at {} ({} days from {}, GeoIP: the built-in fixture database).",
        lake.display(),
        spec.days,
        spec.start
    );
    println!("Try:");
    println!(
        "  auditlake query --lake {} --tenant acme \\",
        args.lake.lake
    );
    println!(
        "    \"SELECT event_date, count(*) AS count, user FROM session_start WHERE login = 'root' GROUP BY event_date, user ORDER BY event_date\""
    );
    println!(
        "  auditlake query --lake {} --format tctl \\",
        args.lake.lake
    );
    println!("    'select event_time,identity_user from cert_create order by event_date limit 1'");
    println!(
        "  auditlake query --lake {} \"SELECT event_source, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC\"",
        args.lake.lake
    );
    Ok(ExitCode::SUCCESS)
}
