//! Compaction under concurrency and crashes, through the real binary: two `compact` runs of
//! one partition at once while a reader counts rows, and `kill -9` at random points. Every
//! round: rows = distinct uids = the input, for the reader too, and no reader error.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::Moto;

const EVENTS: usize = 3000;
const TARGET_ROWS: &str = "700";

/// Where the lake is: a directory, or an S3 bucket on moto.
struct Lake {
    url: String,
    moto: Option<Moto>,
    _dir: tempfile::TempDir,
}

impl Lake {
    fn local() -> Lake {
        let dir = tempfile::tempdir().unwrap();
        Lake {
            url: dir.path().join("lake").to_str().unwrap().to_string(),
            moto: None,
            _dir: dir,
        }
    }

    fn s3() -> Lake {
        let moto = Moto::start();
        moto.create_bucket("lake");
        Lake {
            url: "s3://lake".into(),
            moto: Some(moto),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_auditlake"));
        c.args(args)
            .arg("--lake")
            .arg(&self.url)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        if let Some(m) = &self.moto {
            m.env(&mut c);
        }
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "auditlake {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// (rows, distinct uids) as a reader sees them, or the reader's error.
    fn count(&self) -> Result<(usize, usize), String> {
        self.count_in("events")
    }

    /// The same over a relation: `events`, or a view (read from its sidecars, which every
    /// compaction's switch makes stale: the reader races their rebuild).
    fn count_in(&self, relation: &str) -> Result<(usize, usize), String> {
        let sql = format!("SELECT count(*), count(DISTINCT uid) FROM {relation}");
        let out = self
            .cmd(&["query", "--format", "csv", &sql])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().nth(1).ok_or(format!("no result: {text}"))?;
        let (a, b) = line.split_once(',').ok_or(format!("bad result: {text}"))?;
        Ok((
            a.trim().parse().map_err(|_| format!("bad count: {text}"))?,
            b.trim().parse().map_err(|_| format!("bad count: {text}"))?,
        ))
    }
}

/// Teleport events with distinct uids, one day, four event types (so files are sorted runs).
fn events(path: &Path, from: usize, n: usize) {
    let types = ["user.login", "session.start", "cert.create", "exec"];
    let mut s = String::new();
    for i in from..from + n {
        s.push_str(&format!(
            r#"{{"event":"{}","code":"T1000I","time":"2024-03-20T{:02}:{:02}:{:02}.{:03}Z","uid":"u-{i:08}","user":"alice","cluster_name":"c"}}"#,
            types[i % 4],
            (i / 3600) % 24,
            (i / 60) % 60,
            i % 60,
            (i * 7) % 1000
        ));
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

/// A partition of EVENTS uids in several files, plus a file repeating 400 of them; compacted
/// once so the loop starts from rows = distinct uids.
fn seeded(lake: &Lake) {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.ndjson");
    let again = dir.path().join("again.ndjson");
    events(&all, 0, EVENTS);
    events(&again, 1000, 400);
    for f in [&all, &again] {
        lake.run(&[
            "ingest",
            "--tenant",
            "acme",
            "--flush-rows",
            "500",
            f.to_str().unwrap(),
        ]);
    }
    assert_eq!(lake.count().unwrap(), (EVENTS + 400, EVENTS));
    lake.run(&[
        "compact",
        "--target-rows",
        TARGET_ROWS,
        "--grace",
        "0s",
        "--min-files",
        "1",
    ]);
    assert_eq!(lake.count().unwrap(), (EVENTS, EVENTS));
}

/// Counts a reader thread saw, and its errors.
struct Reader {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(usize, Vec<String>)>,
}

fn reader(lake: Arc<Lake>) -> Reader {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut bad = Vec::new();
        let mut n = 0;
        // One event in four is a session.start (`events`), so the view holds a quarter.
        let sessions = (0..EVENTS).filter(|i| i % 4 == 1).count();
        while !s.load(Ordering::SeqCst) {
            n += 1;
            // A third of the reads go through the n-gram indexes, which every compaction
            // writes anew for its files and deletes with the replaced ones.
            let (relation, want) = match n % 3 {
                0 => ("session_start", (sessions, sessions)),
                1 => ("events", (EVENTS, EVENTS)),
                _ => (
                    r#"(SELECT * FROM events WHERE event_data LIKE '%"event":"session.start"%') s"#,
                    (sessions, sessions),
                ),
            };
            match lake.count_in(relation) {
                Ok(c) if c == want => {}
                Ok(c) => bad.push(format!("read {c:?} from {relation}")),
                Err(e) => bad.push(format!("{relation}: {e}")),
            }
        }
        (n, bad)
    });
    Reader { stop, handle }
}

fn compact_args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec![
        "compact",
        "--json",
        "--target-rows",
        TARGET_ROWS,
        "--grace",
        "2s",
        "--lock-ttl",
        "5s",
    ];
    v.extend_from_slice(extra);
    v
}

fn data_files(lake: &Lake) -> usize {
    let dir = Path::new(&lake.url).join("data/acme/2024-03-20");
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".parquet")
        })
        .count()
}

fn race(lake: Lake, rounds: usize) {
    seeded(&lake);
    let lake = Arc::new(lake);
    let r = reader(lake.clone());
    let (mut skipped, mut both) = (0, 0);
    let start = Instant::now();
    for round in 0..rounds {
        let a: Vec<Child> = (0..2)
            .map(|_| {
                lake.cmd(&compact_args(&[]))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut busy = 0;
        for c in a {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: compact failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let json = String::from_utf8_lossy(&out.stdout);
            if json.contains("\"locked_by\"") {
                busy += 1;
            } else {
                // Forced to span several output files (3000 rows / 700).
                assert!(json.contains("\"files_after\": 5"), "round {round}: {json}");
            }
        }
        if busy > 0 {
            skipped += 1;
        } else {
            both += 1;
        }
        assert_eq!(lake.count().unwrap(), (EVENTS, EVENTS), "round {round}");
    }
    r.stop.store(true, Ordering::SeqCst);
    let (reads, bad) = r.handle.join().unwrap();
    eprintln!(
        "{rounds} rounds in {:?}: {skipped} with one run skipped as busy, {both} run one after \
         the other; {reads} reads",
        start.elapsed()
    );
    assert!(
        bad.is_empty(),
        "{} of {reads} reads wrong: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
    assert!(reads > rounds / 2, "the reader barely ran: {reads} reads");
    assert!(skipped > 0, "the two runs never overlapped");
}

#[test]
fn two_compactions_at_once_with_a_reader_local() {
    let lake = Lake::local();
    race(lake, 50);
}

#[test]
fn two_compactions_at_once_with_a_reader_s3() {
    race(Lake::s3(), 15);
}

/// Seeds a partition of several files needing a multi-level merge, then kills compactions at
/// random points; after each kill a reader sees the input exactly, and a final run recovers.
#[test]
fn kill_9_at_random_points_then_recover() {
    let seed: u64 = std::env::var("AUDITLAKE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill -9 test seed {seed} (AUDITLAKE_TEST_SEED={seed} to replay)");
    let mut rng = seed | 1;
    let mut next = move |n: u64| {
        // xorshift64: reproducible from the seed, no dependency.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n.max(1)
    };
    let lake = Lake::local();
    seeded(&lake);
    let args = [
        "compact",
        "--json",
        "--min-files",
        "1",
        "--target-rows",
        TARGET_ROWS,
        "--grace",
        "0s",
        "--lock-ttl",
        "1s",
        "--max-fan-in",
        "2",
    ];
    // How long one whole compaction takes, to aim the kills inside it.
    let t0 = Instant::now();
    lake.run(&args);
    let full = t0.elapsed().as_millis() as u64;
    let lock = Path::new(&lake.url).join("_compact/acme/2024-03-20/lock.json");
    let mut killed_mid = 0;
    for i in 0..12 {
        wait_lock_free(&lock);
        let mut c = lake
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let at = next(full + full / 4);
        std::thread::sleep(Duration::from_millis(at));
        let finished = c.try_wait().unwrap().is_some();
        let _ = c.kill();
        let _ = c.wait();
        if !finished {
            killed_mid += 1;
        }
        assert_eq!(
            lake.count(),
            Ok((EVENTS, EVENTS)),
            "after kill {i} at {at} ms"
        );
    }
    assert!(killed_mid > 0, "no kill landed inside a compaction");
    wait_lock_free(&lock);
    let out = lake.run(&args);
    assert!(!out.contains("\"locked_by\""), "lock still held: {out}");
    assert_eq!(lake.count(), Ok((EVENTS, EVENTS)));
    // Nothing left behind: no tombstone, no merge run, exactly the new files.
    let part = Path::new(&lake.url).join("data/acme/2024-03-20");
    let names: Vec<String> = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // A data file's n-gram index stays with it; one without its file is a leftover.
    let leftovers: Vec<&String> = names
        .iter()
        .filter(|n| !n.ends_with(".parquet"))
        .filter(|n| {
            let file = n
                .strip_prefix("_grams-")
                .and_then(|s| s.strip_suffix(".bin"))
                .map(|stem| format!("{stem}.parquet"));
            !file.is_some_and(|f| names.contains(&f))
        })
        .collect();
    assert!(leftovers.is_empty(), "left in the partition: {leftovers:?}");
    let runs = Path::new(&lake.url).join("_compact/acme/2024-03-20/runs");
    let runs = std::fs::read_dir(&runs).map(|d| d.count()).unwrap_or(0);
    assert_eq!(runs, 0, "merge runs left behind");
    assert_eq!(data_files(&lake), EVENTS.div_ceil(700));
}

/// Polls the lock object until it has lapsed (a killed holder's TTL), bounded.
fn wait_lock_free(lock: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let free = match std::fs::read(lock) {
            Ok(b) => {
                let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
                let exp = v["expires_unix_ms"].as_i64().unwrap_or(0);
                exp < chrono::Utc::now().timestamp_millis()
            }
            Err(_) => true,
        };
        if free {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the lock at {} never lapsed",
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Replaced files stay hidden for the grace period, then go: with `--wait` in the same run,
/// otherwise at the next compaction of the partition once the period is over.
#[test]
fn replaced_files_go_after_the_grace_period() {
    let lake = Lake::local();
    seeded(&lake);
    let part = Path::new(&lake.url).join("data/acme/2024-03-20");
    let tombstones = || {
        std::fs::read_dir(&part)
            .unwrap()
            .filter(|e| {
                let n = e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                n.starts_with("_compact-") && n.ends_with(".json")
            })
            .count()
    };
    let files = EVENTS.div_ceil(700);
    assert_eq!((data_files(&lake), tombstones()), (files, 0));
    lake.run(&[
        "compact",
        "--target-rows",
        TARGET_ROWS,
        "--grace",
        "1s",
        "--wait",
    ]);
    assert_eq!((data_files(&lake), tombstones()), (files, 0));
    // Without --wait: old and new files side by side, the tombstone hiding the old ones.
    let t0 = Instant::now();
    lake.run(&["compact", "--target-rows", TARGET_ROWS, "--grace", "1s"]);
    let early = Instant::now() < t0 + Duration::from_millis(900);
    assert_eq!(lake.count(), Ok((EVENTS, EVENTS)));
    if early {
        assert_eq!((data_files(&lake), tombstones()), (2 * files, 1));
    }
    // A later run that compacts nothing still deletes them once the period is over.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = lake.run(&["compact", "--json", "--min-files", "99"]);
        if out.contains("\"cleaned\": 1") {
            break;
        }
        assert!(Instant::now() < deadline, "never cleaned: {out}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!((data_files(&lake), tombstones()), (files, 0));
    assert_eq!(lake.count(), Ok((EVENTS, EVENTS)));
}
