//! `auditlake consume` against real SQS and S3 protocol servers (moto on loopback): every good
//! event lands exactly once, bad messages reach the DLQ through the redrive policy, a 400 KiB
//! event travels through `s3_large_files`, kill -9 loses nothing and duplicates nothing, and of
//! two consumers only one leads at a time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;

use crate::common::{self, Moto};

/// moto plus a lake bucket, a transient bucket, a queue with a DLQ, and a config file.
pub(crate) struct Stand {
    pub(crate) moto: Moto,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: PathBuf,
    pub(crate) sqs: aws_sdk_sqs::Client,
    pub(crate) queue: String,
    pub(crate) dlq: String,
}

impl Stand {
    /// `max_receive`: the redrive policy's maxReceiveCount.
    pub(crate) async fn new(extra_yaml: &str, max_receive: u32) -> Stand {
        let moto = Moto::start();
        moto.create_bucket("lake");
        moto.create_bucket("transient");
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&moto.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .load()
            .await;
        let sqs = aws_sdk_sqs::Client::new(&conf);
        let dlq = sqs
            .create_queue()
            .queue_name("events-dlq")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&dlq)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let redrive =
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"{max_receive}"}}"#);
        let queue = sqs
            .create_queue()
            .queue_name("events")
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("auditlake.yaml");
        std::fs::write(
            &config,
            format!(
                "identity_activity_center:\n  region: us-east-1\n  s3: s3://lake/data/\n  s3_large_files: s3://transient/large_files\n  sqs_queue_url: {queue}\n  tenant: acme\n  batch_max_interval: 1s\n  visibility_timeout: 3s\n  receive_wait: 1s\n  lease_ttl: 3s\n  receivers: 2\n  tenants: [globex]\n  cloudtrail_buckets:\n    - s3://transient/AWSLogs/\n{extra_yaml}"
            ),
        )
        .unwrap();
        Stand {
            moto,
            dir,
            config,
            sqs,
            queue,
            dlq,
        }
    }

    /// The binary with the AWS environment pointing at moto.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.moto.cmd();
        c.args(args).env_remove("RUST_LOG");
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "auditlake {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub(crate) fn publish(&self, extra: &[&str], files: &[&Path]) {
        let mut args = vec!["publish", "--config", self.config.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        self.run(&args);
    }

    /// A consumer in the background; its log goes to `log`.
    pub(crate) fn consumer(&self, metrics_port: u16, log: &str) -> Child {
        self.consumer_with(metrics_port, log, &[])
    }

    pub(crate) fn consumer_with(
        &self,
        metrics_port: u16,
        log: &str,
        env: &[(&str, &str)],
    ) -> Child {
        let log = std::fs::File::create(self.dir.path().join(log)).unwrap();
        self.cmd(&[
            "-v",
            "consume",
            "--config",
            self.config.to_str().unwrap(),
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
        ])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
    }

    /// One CSV cell of a query over the whole lake.
    pub(crate) fn scalar(&self, sql: &str) -> String {
        let out = self.run(&["query", "--lake", "s3://lake", "--format", "csv", sql]);
        out.lines().nth(1).unwrap_or_default().to_string()
    }

    pub(crate) async fn depth(&self, url: &str) -> (u64, u64) {
        let a = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        let n = |k: QueueAttributeName| a.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
        (
            n(QueueAttributeName::ApproximateNumberOfMessages),
            n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    pub(crate) fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

/// A metric's value from a consumer's `/metrics` (None while it is not answering).
pub(crate) fn metric(port: u16, name: &str) -> Option<f64> {
    let resp = common::http(&format!("http://127.0.0.1:{port}"), "GET", "/metrics").ok()?;
    resp.lines()
        .find_map(|l| l.strip_prefix(&format!("auditlake_consume_{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// Polls `f` every 100 ms until it is true or `limit` passes.
pub(crate) async fn wait_for(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn sigterm(child: &Child) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_good_event_once_bad_ones_to_the_dlq() {
    // Small batches make several files per partition; the fixture's dates are closed, so the
    // leader compacts them.
    let stand = Stand::new("  batch_max_items: 10\n  compact_interval: 1s\n", 2).await;
    let d = stand.dir.path();
    // Four sources: the fixture has Teleport, CloudTrail and Okta; GitHub is added here.
    let github = d.join("github.ndjson");
    std::fs::write(&github, r#"{"@timestamp":1710936723374,"_document_id":"gh-1","action":"repo.access","actor":"octocat","actor_ip":"140.82.112.3","org":"acme","repo":"acme/api","visibility":"public","created_at":1710936723374}"#.to_string() + "\n").unwrap();
    let bad = d.join("bad.ndjson");
    std::fs::write(
        &bad,
        "{\"event\": \"user.login\", \"time\": \n{\"neither\": \"teleport\", \"nor\": \"aws\"}\n",
    )
    .unwrap();
    let big = d.join("big.ndjson");
    let pad = "x".repeat(400 * 1024);
    std::fs::write(
        &big,
        format!(
            r#"{{"event":"user.login","code":"T1000I","time":"2024-03-20T10:00:00Z","uid":"big-event-1","user":"alice","success":true,"pad":"{pad}"}}"#
        ) + "\n",
    )
    .unwrap();
    let fixture = common::fixture("lake/acme.ndjson");
    stand.publish(&[], &[&fixture, &github, &bad, &big]);
    // A second tenant by message attribute.
    let globex = common::fixture("lake/globex.ndjson");
    stand.publish(
        &["--tenant", "globex", "--events-per-message", "3"],
        &[&globex],
    );

    // CloudTrail's own delivery: a gzipped log file in a bucket, announced by a notification
    // message that the consumer follows.
    let ct = |id: &str, name: &str| {
        format!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/bob","accountId":"111122223333","userName":"bob"}},"eventTime":"2024-03-21T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","eventID":"{id}","recipientAccountId":"111122223333"}}"#
        )
    };
    let doc = format!(
        r#"{{"Records":[{},{}]}}"#,
        ct("ct-from-s3-1", "CreateUser"),
        ct("ct-from-s3-2", "AttachUserPolicy")
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, doc.as_bytes()).unwrap();
    let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/21/log1.json.gz";
    let opts = stand.moto.s3_options();
    let opts: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let trail = auditlake::lake::Lake::open_with("s3://transient", &opts).unwrap();
    object_store::ObjectStoreExt::put(
        trail.store().as_ref(),
        &object_store::path::Path::from(key),
        gz.finish().unwrap().into(),
    )
    .await
    .unwrap();
    stand
        .sqs
        .send_message()
        .queue_url(&stand.queue)
        .message_body(format!(
            r#"{{"s3Bucket":"transient","s3ObjectKey":["{key}"]}}"#
        ))
        .send()
        .await
        .unwrap();

    let port = common::free_port();
    let mut consumer = stand.consumer(port, "consumer.log");
    let good = 34 + 1 + 1 + 3 + 2;
    wait_for(
        "all good events written",
        Duration::from_secs(60),
        async || metric(port, "events_written_total") == Some(good as f64),
    )
    .await;
    // The two malformed messages are received twice (maxReceiveCount 2), then redriven.
    wait_for(
        "malformed messages in the DLQ",
        Duration::from_secs(60),
        async || stand.depth(&stand.dlq).await.0 == 2,
    )
    .await;
    wait_for(
        "the main queue drained",
        Duration::from_secs(30),
        async || stand.depth(&stand.queue).await == (0, 0),
    )
    .await;
    wait_for(
        "closed partitions compacted",
        Duration::from_secs(30),
        async || metric(port, "partitions_compacted_total").is_some_and(|n| n > 0.0),
    )
    .await;
    sigterm(&consumer);
    let status = consumer.wait().unwrap();
    let log = stand.log("consumer.log");
    assert!(status.success(), "consumer exit {status}:\n{log}");
    assert!(
        log.contains("undecodable message left for the DLQ"),
        "{log}"
    );
    assert!(log.contains("lease released"), "{log}");

    // The DLQ holds the original bodies, untouched.
    let dlq_msgs = stand
        .sqs
        .receive_message()
        .queue_url(&stand.dlq)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let mut bodies: Vec<String> = dlq_msgs
        .messages()
        .iter()
        .map(|m| m.body().unwrap().to_string())
        .collect();
    bodies.sort();
    assert_eq!(
        bodies,
        vec![
            "{\"event\": \"user.login\", \"time\":".to_string(),
            "{\"neither\": \"teleport\", \"nor\": \"aws\"}".to_string()
        ]
    );

    assert_eq!(
        stand.scalar("SELECT count(*) FROM events"),
        good.to_string()
    );
    assert_eq!(
        stand.scalar("SELECT count(DISTINCT uid) FROM events"),
        good.to_string()
    );
    assert_eq!(
        stand.scalar(
            "SELECT string_agg(DISTINCT event_source, '|' ORDER BY event_source) FROM events"
        ),
        "aws|github|okta|teleport"
    );
    assert_eq!(
        stand.scalar("SELECT count(*) FROM events WHERE tenant_id = 'globex'"),
        "3"
    );
    assert_eq!(
        stand.scalar(
            "SELECT count(*) FROM events WHERE uid LIKE 'ct-from-s3-%' AND event_source = 'aws'"
        ),
        "2"
    );
    // The large event arrived whole, byte for byte.
    assert_eq!(
        stand.scalar("SELECT length(json_extract_scalar(event_data, '$.pad')) FROM events WHERE uid = 'big-event-1'"),
        (400 * 1024).to_string()
    );
    // Compaction keeps the same rows in fewer files.
    stand.run(&["compact", "--lake", "s3://lake"]);
    assert_eq!(
        stand.scalar("SELECT count(*) || '/' || count(DISTINCT uid) FROM events"),
        format!("{good}/{good}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_loses_and_duplicates_nothing() {
    // Each kill leaves in-flight messages received once more; the seed's Terraform uses 20.
    // Compaction of closed partitions runs between flushes too, and may be killed half-way.
    let stand = Stand::new("  batch_max_items: 1500\n  compact_interval: 2s\n", 20).await;
    let events = stand.dir.path().join("demo.ndjson");
    stand.run(&[
        "demo",
        "--lake",
        stand.dir.path().join("unused").to_str().unwrap(),
        "--days",
        "7",
        "--events-per-day",
        "4000",
        "--out",
        events.to_str().unwrap(),
    ]);
    let total = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert!(total >= 19_000, "{total} events");
    stand.publish(&["--events-per-message", "50"], &[&events]);

    // Kill -9 at pseudo-random points (seed printed so a failure can be replayed).
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill schedule seed {seed}");
    let mut rng = seed | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // First the worst moment, injected: files written, nothing deleted.
    let mut c = stand.consumer_with(
        common::free_port(),
        "abort.log",
        &[("AUDITLAKE_FAULT_ABORT_BEFORE_DELETE", "1")],
    );
    let status = c.wait().unwrap();
    assert!(!status.success(), "the fault must abort the consumer");
    assert!(
        stand.log("abort.log").contains("aborting"),
        "{}",
        stand.log("abort.log")
    );
    for round in 0..4 {
        let port = common::free_port();
        let mut c = stand.consumer(port, &format!("crash-{round}.log"));
        // Wait until it leads (the previous holder's lease must lapse first), then a bit more.
        wait_for("leadership", Duration::from_secs(30), async || {
            metric(port, "leader") == Some(1.0)
        })
        .await;
        let ms = 200 + next() % 2500;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        c.kill().unwrap();
        c.wait().unwrap();
        eprintln!("round {round}: killed after {ms} ms of leadership");
    }
    let port = common::free_port();
    let mut c = stand.consumer(port, "final.log");
    wait_for("the queue drained", Duration::from_secs(180), async || {
        stand.depth(&stand.queue).await == (0, 0)
    })
    .await;
    eprintln!(
        "final round compacted {:?} partitions",
        metric(port, "partitions_compacted_total")
    );
    sigterm(&c);
    assert!(c.wait().unwrap().success(), "{}", stand.log("final.log"));
    assert_eq!(
        stand.depth(&stand.dlq).await.0,
        0,
        "no good message may reach the DLQ"
    );

    // The aborted flush's events came back and were recognised.
    let logs: String = (0..4)
        .map(|r| stand.log(&format!("crash-{r}.log")))
        .chain([stand.log("final.log")])
        .collect();
    assert!(logs.contains("loaded uids of in-doubt flushes"), "{logs}");
    // Every event exactly once, even before compaction: redelivered copies were dropped.
    let counts = stand.scalar("SELECT count(*) || '/' || count(DISTINCT uid) FROM events");
    assert_eq!(counts, format!("{total}/{total}"));
    stand.run(&["compact", "--lake", "s3://lake", "--min-files", "1"]);
    let counts = stand.scalar("SELECT count(*) || '/' || count(DISTINCT uid) FROM events");
    assert_eq!(counts, format!("{total}/{total}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_and_a_takeover() {
    let stand = Stand::new("", 2).await;
    let (pa, pb) = (common::free_port(), common::free_port());
    let mut a = stand.consumer(pa, "a.log");
    let mut b = stand.consumer(pb, "b.log");
    let leader_of = |p| metric(p, "leader") == Some(1.0);
    // Watch both for a while: never two leaders in the same sample.
    let mut first = None;
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline {
        let (la, lb) = (leader_of(pa), leader_of(pb));
        assert!(!(la && lb), "two leaders at once");
        if first.is_none() && (la || lb) {
            first = Some(if la { 'a' } else { 'b' });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = first.expect("a leader within 6 s");
    let (leader, follower, fport) = if first == 'a' {
        (&mut a, &mut b, pb)
    } else {
        (&mut b, &mut a, pa)
    };
    leader.kill().unwrap();
    leader.wait().unwrap();
    let killed = Instant::now();
    // The lease lapses after lease_ttl (3 s); the follower retries every ttl/3.
    wait_for("takeover", Duration::from_secs(10), async || {
        leader_of(fport)
    })
    .await;
    let took = killed.elapsed();
    assert!(took <= Duration::from_secs(6), "takeover took {took:?}");
    assert_eq!(metric(fport, "lease_term"), Some(2.0));
    // The new leader consumes.
    let fixture = common::fixture("lake/globex.ndjson");
    stand.publish(&[], &[&fixture]);
    wait_for(
        "the new leader writes",
        Duration::from_secs(30),
        async || metric(fport, "events_written_total") == Some(3.0),
    )
    .await;
    sigterm(follower);
    assert!(follower.wait().unwrap().success());
}

/// `auditlake doctor` against the same stand: everything answers; then a config naming a
/// missing bucket and a queue without a DLQ gets each failure named with its fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_what_is_missing() {
    let stand = Stand::new(
        "  database: auditlake\n  table: events\n  s3_results: s3://transient/results\n",
        2,
    )
    .await;
    let geo = common::fixture("geoip/auditlake-test-city.mmdb");
    let mut cfg = std::fs::read_to_string(&stand.config).unwrap();
    cfg.push_str(&format!(
        "  maxmind_geoip_city_db_path: {}\n",
        geo.display()
    ));
    std::fs::write(&stand.config, &cfg).unwrap();
    crate::glue::create_glue_table(&stand.moto, "auditlake", "events", "s3://lake", false);
    let out = stand
        .cmd(&[
            "doctor",
            "--config",
            stand.config.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<&serde_json::Value> = checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] != true)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(out.status.success());
    let names: Vec<&str> = checks
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for n in [
        "lake",
        "lake writable",
        "large files",
        "query results",
        "queue",
        "dead-letter queue",
        "geoip",
        "athena workgroup",
        "glue table",
        "glue schema",
    ] {
        assert!(names.contains(&n), "{n} not checked: {names:?}");
    }

    // A bucket that does not exist and a queue without a redrive policy.
    let bare = stand
        .sqs
        .create_queue()
        .queue_name("bare")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let bad = cfg
        .replace("s3: s3://lake/data/", "s3: s3://no-such-bucket/data/")
        .replace(&stand.queue, &bare);
    let bad_cfg = stand.dir.path().join("bad.yaml");
    std::fs::write(&bad_cfg, bad).unwrap();
    let out = stand
        .cmd(&["doctor", "--config", bad_cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL lake "), "{text}");
    assert!(text.contains("s3:ListBucket"), "{text}");
    assert!(text.contains("FAIL dead-letter queue"), "{text}");
    assert!(text.contains("RedrivePolicy"), "{text}");
    assert!(text.contains("ok   queue"), "{text}");
}
