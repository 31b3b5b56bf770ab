//! Decoder tests: realistic records of each source, odd ones included.

use super::*;

fn one(raw: &str) -> Row<'static> {
    decode_record(raw, None)
        .unwrap_or_else(|e| panic!("{e}: {raw}"))
        .into_owned()
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
            &*g.event_type,
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
            seen.insert(r.event_source.into_owned());
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

/// Real vendor shapes the first mapping missed (issue 15, item 7).
#[test]
fn mapping_holes_of_real_samples() {
    // CloudTrail AssumedRole without `arn`: the session's principalId names it.
    let r = one(
        r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice","accountId":"111122223333","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/Admin","userName":"Admin"}}},"eventTime":"2024-03-20T09:01:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"ar-1"}"#,
    );
    assert_eq!(
        (r.identity.as_deref(), r.identity_kind.as_deref()),
        (Some("AROAEXAMPLE:alice"), Some("role"))
    );
    // … and with nothing but the session context, the issuing role.
    let r = one(
        r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"type":"Role","userName":"Admin"}}},"eventTime":"2024-03-20T09:01:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"ar-2"}"#,
    );
    assert_eq!(r.identity.as_deref(), Some("Admin"));
    // Okta's client.ipAddress as the string "null": the first hop of request.ipChain.
    let r = one(
        r#"{"uuid":"o-9","published":"2024-03-21T09:00:00Z","eventType":"user.session.start","actor":{"type":"User","alternateId":"a@b.c"},"client":{"ipAddress":"null"},"request":{"ipChain":[{"ip":"198.51.100.77"}]},"outcome":{"result":"SUCCESS"}}"#,
    );
    assert_eq!(r.ip.as_deref(), Some("198.51.100.77"));
    // Teleport codes in lower case keep their status.
    for (code, want) in [
        ("t2000i", "success"),
        ("t1000w", "failure"),
        ("t3004e", "failure"),
    ] {
        let r = one(&format!(
            r#"{{"event":"session.start","code":"{code}","time":"2024-03-20T12:13:00Z","uid":"lc-{code}","user":"zoë"}}"#
        ));
        assert_eq!(r.status.as_deref(), Some(want), "{code}");
    }
}

/// Times that parse but no real event has are rejects naming the window, never a row in a
/// partition no reader lists (issue 15, item 4).
#[test]
fn implausible_times_are_rejects() {
    let err = |raw: &str| decode_record(raw, None).unwrap_err().to_string();
    // Epoch microseconds and nanoseconds where milliseconds are expected.
    for n in ["1710936723374000", "1710936723374000000"] {
        let e = err(&format!(
            r#"{{"@timestamp":{n},"_document_id":"gh","action":"repo.access","actor":"x"}}"#
        ));
        assert!(
            e.contains("outside the plausible window 1970-01-01..2200-01-01"),
            "{e}"
        );
        assert!(e.contains("microseconds or nanoseconds"), "{e}");
    }
    // Year 10000, negative years, before 1970.
    for t in [
        "+10000-01-01T00:00:00Z",
        "10000-01-01T00:00:00",
        "-0002-12-17T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
    ] {
        let raw = format!(r#"{{"event":"user.login","time":"{t}","uid":"t"}}"#);
        let res = decode_record(&raw, None);
        let e = res.expect_err(t).to_string();
        assert!(
            e.contains("outside the plausible window") || e.contains("invalid event time"),
            "{t}: {e}"
        );
    }
    // The edges of the window are in.
    for t in ["1970-01-01T00:00:00Z", "2199-12-31T23:59:59.999Z"] {
        let raw = format!(r#"{{"event":"user.login","time":"{t}","uid":"t"}}"#);
        assert!(decode_record(&raw, None).is_ok(), "{t}");
    }
    // A configured window applies to every element of a document.
    let w = TimeWindow::from_dates(
        chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
    )
    .unwrap();
    let opts = DecodeOptions {
        forced: None,
        window: w,
    };
    let res = decode_text_with(
        r#"[{"event":"a","time":"2023-12-31T23:59:59Z"},{"event":"b","time":"2024-06-01T00:00:00Z"}]"#,
        &opts,
    );
    assert!(
        res[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("2024-01-01..2025-01-01")
    );
    assert!(res[1].is_ok());
    // Windows reaching past four-digit years are refused.
    assert!(
        TimeWindow::from_dates(
            chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            chrono::NaiveDate::from_ymd_opt(10000, 1, 1).unwrap()
        )
        .is_none()
    );
}

#[test]
fn what_counts_as_one_document() {
    assert!(is_document("[1, 2]"));
    assert!(is_document("{\n  \"Records\": [\n  {\"a\": 1}\n  ]\n}\n"));
    assert!(is_document(r#"{"Records":[]}"#));
    // A truncated or garbage first line is not a document, whatever it opens with.
    assert!(!is_document("[{\"event\":\n{\"event\":\"x\"}"));
    assert!(!is_document("{\"Records\": [ garbage\n"));
    // A pretty-printed record is one document too.
    assert!(is_document("{\n  \"event\": \"x\"\n}\n"));
    assert!(!looks_like_document(r#"{"event":"x"}"#));
    assert!(looks_like_document(r#"{"Rec"#));
    assert!(looks_like_document(r#"  [{"a":"#));
}
