//! Decoder tests: realistic records of each source, odd ones included.

use super::*;

fn one(raw: &str) -> Row {
    decode_record(raw, None).unwrap_or_else(|e| panic!("{e}: {raw}"))
}

#[test]
fn teleport_session_start() {
    let raw = r#"{"event":"session.start","code":"T2000I","time":"2024-03-20T12:13:00.1234Z","uid":"u-1","ei":0,"cluster_name":"acme.teleport.sh","user":"zoë","login":"root","user_kind":1,"sid":"5640a1","server_id":"de38","server_hostname":"ip-10-0-1-5","server_addr":"10.0.1.5:3022","addr.remote":"[2001:db8::7]:51454","with_mfa":"7a6f"}"#;
    let r = one(raw);
    assert_eq!(r.event_source, "teleport");
    assert_eq!(r.event_type, "session.start");
    assert_eq!(r.action.as_deref(), Some("session.start"));
    assert_eq!(r.origin.as_deref(), Some("acme.teleport.sh"));
    assert_eq!(r.teleport_cluster.as_deref(), Some("acme.teleport.sh"));
    assert_eq!(r.identity.as_deref(), Some("zoë"));
    assert_eq!(r.identity_kind.as_deref(), Some("user"));
    assert_eq!(r.status.as_deref(), Some("success"));
    assert_eq!(r.ip.as_deref(), Some("2001:db8::7"));
    assert_eq!(r.event_time_ms, 1710936780123);
    assert_eq!(r.uid, "u-1");
    assert_eq!(r.target_resource.as_deref(), Some("ip-10-0-1-5"));
    assert_eq!(r.target_kind.as_deref(), Some("node"));
    assert_eq!(r.target_location.as_deref(), Some("10.0.1.5:3022"));
    assert_eq!(r.target_id.as_deref(), Some("de38"));
    assert_eq!(r.token.as_deref(), Some("7a6f"));
    assert_eq!(r.event_data, raw);
    assert!(r.city.is_none() && r.aws_account_id.is_none());
}

#[test]
fn teleport_odd_ones() {
    // cert.create: user and IP inside `identity`; no port.
    let r = one(
        r#"{"event":"cert.create","code":"TC000I","time":"2024-03-20T12:12:03Z","uid":"c","cert_type":"user","identity":{"user":"alice","client_ip":"203.0.113.7","teleport_cluster":"acme"}}"#,
    );
    assert_eq!(
        (r.identity.as_deref(), r.ip.as_deref(), r.origin.as_deref()),
        (Some("alice"), Some("203.0.113.7"), Some("acme"))
    );
    // A failed login: success=false wins over the code; no IP at all.
    let r = one(
        r#"{"event":"user.login","code":"T1000W","time":"2024-03-20T10:00:00+01:00","uid":"l","user":"bob","success":false,"user_agent":"Mozilla/5.0"}"#,
    );
    assert_eq!(r.status.as_deref(), Some("failure"));
    assert_eq!(r.ip, None);
    assert_eq!(r.event_time_ms, 1710925200000);
    assert_eq!(r.user_agent.as_deref(), Some("Mozilla/5.0"));
    // A bot join; an instance join.
    let r = one(
        r#"{"event":"bot.join","code":"TJ001I","time":"2024-03-20T10:00:00Z","bot_name":"ci","method":"github","token_name":"gh-token","success":true}"#,
    );
    assert_eq!(
        (
            r.identity.as_deref(),
            r.identity_kind.as_deref(),
            r.token.as_deref()
        ),
        (Some("ci"), Some("bot"), Some("gh-token"))
    );
    let r = one(
        r#"{"event":"instance.join","code":"TJ002I","time":"2024-03-20T10:00:00Z","node_name":"web-1","host_id":"h1","role":"Instance","success":true}"#,
    );
    assert_eq!(
        (
            r.identity.as_deref(),
            r.identity_kind.as_deref(),
            r.identity_id.as_deref()
        ),
        (Some("web-1"), Some("service"), Some("h1"))
    );
    // IPv4 with port, kube target.
    let r = one(
        r#"{"event":"kube.request","code":"T3009I","time":"2024-03-20T10:00:00Z","uid":"k","user":"alex","kubernetes_cluster":"gke-prod","request_path":"/api/v1/pods","addr.remote":"198.51.100.9:443"}"#,
    );
    assert_eq!(
        (
            r.ip.as_deref(),
            r.target_kind.as_deref(),
            r.target_resource.as_deref()
        ),
        (Some("198.51.100.9"), Some("kube_cluster"), Some("gke-prod"))
    );
    // No uid: a deterministic one.
    let raw = r#"{"event":"user.login","time":"2024-03-20T10:00:00Z","user":"x"}"#;
    assert_eq!(one(raw).uid, one(raw).uid);
    assert_ne!(
        one(raw).uid,
        one(r#"{"event":"user.login","time":"2024-03-20T10:00:01Z","user":"x"}"#).uid
    );
}

#[test]
fn cloudtrail_records_and_files() {
    let file = r#"{"Records":[
      {"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},"eventTime":"2024-03-20T09:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"81.2.69.142","userAgent":"Mozilla","eventID":"ct-1","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333","responseElements":{"ConsoleLogin":"Failure"}},
      {"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:alice","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE"},"eventTime":"2024-03-20T09:05:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"eu-west-1","sourceIPAddress":"cloudtrail.amazonaws.com","eventID":"ct-2","recipientAccountId":"111122223333","requestParameters":{"bucketName":"audit"},"errorCode":"AccessDenied"}
    ]}"#;
    let rows: Vec<Row> = decode_text(file, None)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2);
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!(a.event_source, "aws");
    assert_eq!(a.event_type, "ConsoleLogin");
    assert_eq!(
        a.identity.as_deref(),
        Some("arn:aws:iam::111122223333:root")
    );
    assert_eq!(a.identity_kind.as_deref(), Some("root"));
    assert_eq!(a.status.as_deref(), Some("failure"));
    assert_eq!(a.ip.as_deref(), Some("81.2.69.142"));
    assert_eq!(a.origin.as_deref(), Some("us-east-1"));
    assert_eq!(a.aws_account_id.as_deref(), Some("111122223333"));
    assert_eq!(a.aws_service.as_deref(), Some("signin.amazonaws.com"));
    assert_eq!(a.uid, "ct-1");
    let back: serde_json::Value = serde_json::from_str(&a.event_data).unwrap();
    assert_eq!(back["eventID"], "ct-1");
    assert_eq!(b.identity_kind.as_deref(), Some("role"));
    assert_eq!(b.token.as_deref(), Some("ASIAEXAMPLE"));
    assert_eq!(b.ip, None, "a service hostname is not an IP");
    assert_eq!(b.status.as_deref(), Some("failure"));
    assert_eq!(
        (b.target_resource.as_deref(), b.target_kind.as_deref()),
        (Some("audit"), Some("AWS::S3::Bucket"))
    );
}

#[test]
fn github_and_okta() {
    let g = one(
        r#"{"@timestamp":1710936723374,"_document_id":"d-1","action":"repo.access","actor":"dependabot[bot]","actor_id":49699333,"actor_ip":"140.82.112.3","org":"acme","repo":"acme/api","visibility":"public","user_agent":"GitHub-Hookshot","created_at":1710936723374}"#,
    );
    assert_eq!(g.event_source, "github");
    assert_eq!(
        (
            g.event_type.as_str(),
            g.identity.as_deref(),
            g.identity_kind.as_deref()
        ),
        ("repo.access", Some("dependabot[bot]"), Some("bot"))
    );
    assert_eq!(
        (
            g.identity_id.as_deref(),
            g.ip.as_deref(),
            g.github_organization.as_deref(),
            g.github_repo.as_deref()
        ),
        (
            Some("49699333"),
            Some("140.82.112.3"),
            Some("acme"),
            Some("acme/api")
        )
    );
    assert_eq!(g.event_time_ms, 1710936723374);
    assert_eq!(g.uid, "d-1");
    let o = one(
        r#"{"uuid":"o-1","published":"2024-03-20T12:12:03.374Z","eventType":"user.session.start","displayMessage":"User login to Okta","severity":"INFO","actor":{"id":"00u1","type":"User","alternateId":"jose@acme.com","displayName":"José Müller"},"client":{"userAgent":{"rawUserAgent":"Mozilla/5.0"},"ipAddress":"2a02:8108::1","geographicalContext":{"country":"Germany"}},"outcome":{"result":"FAILURE","reason":"INVALID_CREDENTIALS"},"target":[{"id":"0oa1","type":"AppInstance","alternateId":"Teleport","displayName":"Teleport"}]}"#,
    );
    assert_eq!(o.event_source, "okta");
    assert_eq!(
        (
            o.identity.as_deref(),
            o.identity_kind.as_deref(),
            o.identity_id.as_deref()
        ),
        (Some("jose@acme.com"), Some("user"), Some("00u1"))
    );
    assert_eq!(
        (
            o.status.as_deref(),
            o.ip.as_deref(),
            o.user_agent.as_deref()
        ),
        (Some("failure"), Some("2a02:8108::1"), Some("Mozilla/5.0"))
    );
    assert_eq!(
        (
            o.target_resource.as_deref(),
            o.target_kind.as_deref(),
            o.target_id.as_deref()
        ),
        (Some("Teleport"), Some("AppInstance"), Some("0oa1"))
    );
}

#[test]
fn bad_records_say_why() {
    let err = |s: &str| decode_text(s, None).remove(0).unwrap_err().to_string();
    assert!(err(r#"{"event":"user.login", "code": "#).starts_with("invalid JSON"));
    assert!(err(r#"{"event":"user.login","code":"T1000I","uid":"b2"}"#).contains("time"));
    assert!(err(r#"{"event":"user.login","time":"yesterday"}"#).contains("\"yesterday\""));
    assert!(err(r#"{"hello":"world"}"#).contains("keys: hello"));
    assert!(err("42").contains("number"));
    // Forced source: the CloudTrail shape decoded as Teleport has no `event`.
    let e = decode_record(
        r#"{"eventName":"X","eventTime":"2024-01-01T00:00:00Z"}"#,
        Some(SourceKind::Teleport),
    )
    .unwrap_err();
    assert!(e.to_string().contains("event"), "{e}");
    // An array mixes good and bad elements; each stands alone.
    let res = decode_text(
        r#"[{"event":"exec","time":"2024-01-01T00:00:00Z"}, {"x":1}]"#,
        None,
    );
    assert!(res[0].is_ok() && res[1].is_err());
}

#[test]
fn parses_sources_by_name() {
    assert_eq!("aws".parse::<SourceKind>(), Ok(SourceKind::CloudTrail));
    assert_eq!(
        "CloudTrail".parse::<SourceKind>(),
        Ok(SourceKind::CloudTrail)
    );
    assert!("splunk".parse::<SourceKind>().is_err());
}

#[test]
fn every_fixture_and_demo_line_decodes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut counts = std::collections::BTreeMap::new();
    for f in ["fixtures/lake/acme.ndjson", "fixtures/lake/globex.ndjson"] {
        for line in std::fs::read_to_string(root.join(f))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            *counts.entry(one(line).event_source).or_insert(0) += 1;
        }
    }
    assert_eq!(counts.get("teleport"), Some(&35));
    let spec = crate::demo::DemoSpec {
        seed: 3,
        start: chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
        days: 3,
        events_per_day: 400,
        sources: crate::demo::DemoSources::All,
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut bad = Vec::new();
    crate::demo::generate(&spec, &mut |_, line| match decode_record(line, None) {
        Ok(r) => {
            seen.insert(r.event_source);
        }
        Err(e) => bad.push(format!("{e}: {line}")),
    });
    assert!(
        bad.is_empty(),
        "{} demo lines fail, first: {}",
        bad.len(),
        bad[0]
    );
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["aws", "github", "okta", "teleport"]
    );
}
