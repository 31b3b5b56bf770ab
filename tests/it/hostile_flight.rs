//! `auditlake serve` against hostile clients, through the real binary and pyarrow.flight / ADBC
//! (tests/flight/hostile.py): deep and over-size statements, forged handles and random tickets,
//! an endless query under the deadline, a client that vanishes mid-stream, a DoPut flood, a
//! memory hog, overflowing `--days`, unauthenticated calls — after each the server still
//! answers `SELECT 1` and its log has no panic — and a soak of 50 clients of two tenants.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;
use crate::flight::{Server, one, server_log, start, token};

/// Runs one mode of the hostile client; its JSON.
fn hostile(mode: &str, uri: &str, tok: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(common::python())
        .arg(common::repo().join("tests/flight/hostile.py"))
        .args([mode, uri, tok])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hostile.py {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("hostile.py {mode} printed {text:?}: {e}"))
}

/// Runs `sql` (from a file: a 360 KB statement does not fit in one argv string).
fn sql(dir: &Path, uri: &str, tok: &str, sql: &str) -> serde_json::Value {
    let f = dir.join(format!("q-{}.sql", uuid::Uuid::new_v4().simple()));
    std::fs::write(&f, sql).unwrap();
    hostile("sql", uri, tok, &[f.to_str().unwrap()])
}

/// The server answers `SELECT 1`, is still the same process, and has logged no panic.
fn still_serving(server: &mut Server, tokens: &Path, uri: &str, tok: &str) {
    assert!(server.alive(), "the server died:\n{}", log(tokens));
    let rows = one(uri, tok, "SELECT 1", None).expect("SELECT 1 after a hostile call");
    assert_eq!(rows, serde_json::json!([["1"]]));
    let log = log(tokens);
    for bad in ["panicked", "stack overflow", "fatal runtime error"] {
        assert!(!log.contains(bad), "server log has {bad:?}:\n{log}");
    }
}

fn log(tokens: &Path) -> String {
    std::fs::read_to_string(server_log(tokens)).unwrap_or_default()
}

fn error_of(v: &serde_json::Value) -> String {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {v}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_and_oversize_statements_are_refused_and_the_server_lives() {
    let (dir, _lake) = common::fixture_lake().await;
    let tokens = dir.path().join("tokens.yaml");
    let alice = token(&tokens, "alice", "acme");
    let (mut server, addr) = start(dir.path(), &tokens, &[]);
    let uri = format!("grpc://{addr}");

    // ~360 KB: a deeply nested JSON literal and a long `$.a.a…` path.
    let depth = 90_000;
    let doc = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let path = format!("${}", ".a".repeat(depth));
    let q = format!("SELECT json_extract_scalar('{doc}', '{path}') AS v");
    assert!(q.len() > 350_000, "{}", q.len());
    let v = sql(dir.path(), &uri, &alice, &q);
    // Either answered (NULL: no such path) or refused in words; never the process.
    if let Some(rows) = v.get("rows") {
        assert_eq!(rows, &serde_json::json!([[null]]), "{v}");
    }
    still_serving(&mut server, &tokens, &uri, &alice);

    // Nesting past the parser's recursion limit is an error, not a stack overflow.
    let nested = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let e = error_of(&sql(dir.path(), &uri, &alice, &nested));
    assert!(e.to_lowercase().contains("recursion"), "{e}");
    still_serving(&mut server, &tokens, &uri, &alice);

    // A long flat chain (`0 + 1 + 1 …`) is parsed by a loop, not recursion, but planned by
    // recursion: refused by its operator count; a shorter one runs.
    let flat = format!("SELECT 0{} AS n", " + 1".repeat(20_000));
    let e = error_of(&sql(dir.path(), &uri, &alice, &flat));
    assert!(e.contains("operators"), "{e}");
    still_serving(&mut server, &tokens, &uri, &alice);
    let short = format!("SELECT 0{} AS n", " + 1".repeat(900));
    let v = sql(dir.path(), &uri, &alice, &short);
    assert_eq!(v["rows"], serde_json::json!([["900"]]), "{v}");

    // Over the statement cap: ResourceExhausted, in words.
    let big = format!("SELECT '{}'", "x".repeat(2 * 1024 * 1024));
    let e = error_of(&sql(dir.path(), &uri, &alice, &big));
    assert!(e.contains("over the") && e.contains("limit"), "{e}");
    still_serving(&mut server, &tokens, &uri, &alice);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_handles_and_random_tickets_are_refused() {
    let (dir, _lake) = common::fixture_lake().await;
    let tokens = dir.path().join("tokens.yaml");
    let alice = token(&tokens, "alice", "acme");
    let (mut server, addr) = start(dir.path(), &tokens, &[]);
    let uri = format!("grpc://{addr}");
    let v = hostile("forged", &uri, &alice, &[]);
    let results = v["results"].as_array().unwrap();
    assert!(results.len() > 50, "{v}");
    for r in results {
        let msg = r[2].as_str().unwrap();
        assert_ne!(msg, "allowed", "{r}");
        // A clear refusal in the client's terms, never an internal error or a broken
        // connection (the gRPC code is in the client's debug context).
        for bad in [
            "INTERNAL:",
            "UNAVAILABLE:",
            "returned internal",
            "returned unavailable",
        ] {
            assert!(!msg.contains(bad), "{r}");
        }
    }
    assert!(
        results
            .iter()
            .any(|r| r[2].as_str().unwrap().contains("malformed or forged")),
        "{v}"
    );
    still_serving(&mut server, &tokens, &uri, &alice);
    drop(server);
}

/// CPU seconds the process has used (utime + stime of /proc/PID/stat).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit(')').next().unwrap();
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat, counted after the command name's closing parenthesis.
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_queries_end_at_the_deadline_and_vanished_clients_cancel() {
    let (dir, _lake) = common::fixture_lake().await;
    let tokens = dir.path().join("tokens.yaml");
    let alice = token(&tokens, "alice", "acme");
    let bob = token(&tokens, "bob", "acme");
    let (mut server, addr) = start(
        dir.path(),
        &tokens,
        &["--timeout-secs", "3", "--max-queries-per-token", "1", "-v"],
    );
    let uri = format!("grpc://{addr}");

    // The deadline covers the streaming of results, not only planning.
    let endless = "SELECT count(*) FROM generate_series(1, 9223372036854775807)";
    let v = sql(dir.path(), &uri, &alice, endless);
    let e = error_of(&v);
    assert!(e.to_lowercase().contains("deadline"), "{e}");
    let secs = v["secs"].as_f64().unwrap();
    assert!((2.5..20.0).contains(&secs), "ended after {secs}s");
    still_serving(&mut server, &tokens, &uri, &alice);

    // A client that starts a long stream and vanishes: the query stops at once (its CPU use
    // stops growing), long before the deadline would stop it.
    let long = dir.path().join("long.sql");
    std::fs::write(
        &long,
        "SELECT * FROM generate_series(1, 9223372036854775807)",
    )
    .unwrap();
    let v = hostile("disconnect", &uri, &alice, &[long.to_str().unwrap()]);
    assert_eq!(v["read_batches"], 1, "{v}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log(&tokens).contains("\"cancelled\"") {
        assert!(
            Instant::now() < deadline,
            "no cancelled query in the log:\n{}",
            log(&tokens)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = cpu_secs(server.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_secs(server.pid()) - before;
    assert!(
        used < 0.5,
        "the server used {used}s of CPU after the client left"
    );
    still_serving(&mut server, &tokens, &uri, &alice);

    // One query at a time per token: a second one of alice's is refused while the first
    // runs; bob's is not. The first lasts until the 3 s deadline and each probe is a Python
    // process of its own (a second or more on a loaded machine), so a probe can miss the
    // window: a first query that ended unobserved is started again.
    let start_first = || {
        Command::new(common::python())
            .arg(common::repo().join("tests/flight/hostile.py"))
            .args(["sql", &uri, &alice])
            .arg(dir.path().join("long.sql"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut first = start_first();
    let deadline = Instant::now() + Duration::from_secs(60);
    let refused = loop {
        let r = one(&uri, &alice, "SELECT 1", None);
        if let Err(e) = r {
            break e;
        }
        assert!(Instant::now() < deadline, "alice was never refused");
        if first.try_wait().unwrap().is_some() {
            first = start_first();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(refused.contains("already runs 1 queries"), "{refused}");
    assert!(one(&uri, &bob, "SELECT 1", None).is_ok());
    let _ = first.wait();
    still_serving(&mut server, &tokens, &uri, &alice);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doput_floods_and_memory_hogs_are_capped() {
    let (dir, _lake) = common::fixture_lake().await;
    let tokens = dir.path().join("tokens.yaml");
    let alice = token(&tokens, "alice", "acme");
    let (mut server, addr) = start(
        dir.path(),
        &tokens,
        &[
            "--memory-limit-mb",
            "256",
            "--query-memory-mb",
            "32",
            "--timeout-secs",
            "60",
        ],
    );
    let uri = format!("grpc://{addr}");
    let v = hostile("flood", &uri, &alice, &["64"]);
    let e = error_of(&v);
    assert!(
        e.contains("over the") && e.contains("--max-put-bytes"),
        "{v}"
    );
    assert!(v["sent_mb"].as_u64().unwrap() < 64, "{v}");
    still_serving(&mut server, &tokens, &uri, &alice);

    // Over the query's share of the pool: ResourceExhausted, and the server lives.
    let hog = "SELECT array_agg(x) IS NULL FROM generate_series(1, 100000000) t(x)";
    let e = error_of(&sql(dir.path(), &uri, &alice, hog));
    assert!(e.contains("memory") || e.contains("share"), "{e}");
    still_serving(&mut server, &tokens, &uri, &alice);

    // A function whose output dwarfs its input (8 GiB from 30 bytes of SQL; the pool does not
    // see expression results): refused before it allocates, and the server lives.
    for amp in [
        "SELECT length(rpad('x', 2147483647))",
        "SELECT length(replace(repeat('a', 100000), 'a', repeat('b', 100000)))",
    ] {
        let e = error_of(&sql(dir.path(), &uri, &alice, amp));
        assert!(e.contains("one call may build"), "{e}");
        still_serving(&mut server, &tokens, &uri, &alice);
    }

    // A days window past the calendar: a clear InvalidArgument from RunReport.
    let out = Command::new(common::python())
        .arg(common::repo().join("tests/flight/flight_actions.py"))
        .args([&uri, &alice, "RunReport", r#"{"days": 4000000000}"#])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(error_of(&v).contains("out of range"), "{v}");
    still_serving(&mut server, &tokens, &uri, &alice);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflowing_days_is_exit_2_on_the_cli() {
    let (dir, _lake) = common::fixture_lake().await;
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(["query", "--lake", dir.path().to_str().unwrap()])
        .args(["--days", "4000000000", "SELECT count(*) FROM events"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("out of range") && !err.contains("panicked"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_callers_learn_nothing_and_the_tokens_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _lake) = common::fixture_lake().await;
    let tokens = dir.path().join("tokens.yaml");
    let alice = token(&tokens, "alice", "acme");
    let expired = super::flight::token_with(&tokens, "old", "acme", &["--ttl", "0s"]);
    let mode = std::fs::metadata(&tokens).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "tokens file mode {mode:o}");
    // Listening on every interface without TLS is said loudly (nothing is sent there: the
    // test talks to 127.0.0.1).
    let (mut server, addr) = start(dir.path(), &tokens, &["--addr", "0.0.0.0:0"]);
    let port = addr.rsplit(':').next().unwrap();
    let uri = format!("grpc://127.0.0.1:{port}");
    let v = hostile("unauth", &uri, "", &[&expired]);
    for what in ["none", "bad", "expired", "basic"] {
        let msg = v[what].as_str().unwrap();
        assert!(
            msg.contains(auditlake::faces::flight::AUTH_FAILED),
            "{what}: {msg}"
        );
        for leak in ["expired", "revoked", "tokens.yaml", "Bearer", "header"] {
            assert!(!msg.contains(leak), "{what} leaks {leak:?}: {msg}");
        }
    }
    // A malformed tokens file: callers are told nothing of its path or parser.
    std::fs::write(&tokens, "tokens: [ {{{").unwrap();
    let e = one(&uri, &alice, "SELECT 1", None).unwrap_err();
    assert!(!e.contains("tokens.yaml") && !e.contains("yaml"), "{e}");
    let log = log(&tokens);
    assert!(log.contains("WITHOUT TLS"), "{log}");
    assert!(log.contains("token expired at"), "{log}");
    assert!(server.alive());
    drop(server);
}

/// VmHWM (peak resident set) of a process, in MiB.
fn peak_rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .unwrap()
}

/// The pool of the soak, and the margin over it its server's peak RSS may reach: the binary,
/// the query runtime's stacks, caches, and batches in flight that no pool tracks.
const SOAK_POOL_MB: u64 = 256;
const SOAK_MARGIN_MB: u64 = 512;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_fifty_clients_two_tenants_hostile_mix() {
    let secs: u64 = std::env::var("AUDITLAKE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let (dir, _lake) = common::fixture_lake().await;
    let tokens = dir.path().join("tokens.yaml");
    // Five tokens per tenant, five clients per token: within the per-token cap.
    let mut tenants = Vec::new();
    for tenant in ["acme", "globex"] {
        let toks: Vec<String> = (0..5)
            .map(|i| token(&tokens, &format!("{tenant}{i}"), tenant))
            .collect();
        tenants.push(serde_json::json!([tenant, toks]));
    }
    let pool = SOAK_POOL_MB.to_string();
    let (mut server, addr) = start(
        dir.path(),
        &tokens,
        &[
            "--timeout-secs",
            "10",
            "--memory-limit-mb",
            &pool,
            "--query-memory-mb",
            "48",
        ],
    );
    let uri = format!("grpc://{addr}");
    let started = Instant::now();
    let v = hostile(
        "soak",
        &uri,
        "-",
        &[
            &secs.to_string(),
            &serde_json::Value::from(tenants.clone()).to_string(),
        ],
    );
    let took = started.elapsed();
    let peak = peak_rss_mb(server.pid());
    eprintln!(
        "soak: {secs}s asked, {:.0}s taken; peak RSS {peak} MiB (pool {SOAK_POOL_MB} MiB); {v}",
        took.as_secs_f64()
    );
    assert_eq!(v["good_wrong"], serde_json::json!([]), "{v}");
    let ok = v["good_ok"].as_u64().unwrap();
    assert!(ok >= 100, "only {ok} good answers: {v}");
    assert!(
        v["hostile"].as_object().is_some_and(|h| !h.is_empty()),
        "no hostile query ran: {v}"
    );
    assert!(
        peak < SOAK_POOL_MB + SOAK_MARGIN_MB,
        "peak RSS {peak} MiB over the pool plus margin"
    );
    let first = &tenants[0][1][0];
    still_serving(&mut server, &tokens, &uri, first.as_str().unwrap());
    drop(server);
}
