//! Teleport audit events (the JSON Teleport emits) → `Row`.

use std::borrow::Cow;

use super::{DecodeError, J, Obj, blank, clean_ip, text, text_at, time_field};
use crate::schema::Row;

/// Where an event's target is, by the field that names it: (field, target_kind, location field, id field).
const TARGETS: &[(&str, &str, &str, &str)] = &[
    ("server_hostname", "node", "server_addr", "server_id"),
    ("db_service", "db", "db_uri", "sid"),
    ("kubernetes_cluster", "kube_cluster", "request_path", "sid"),
    ("desktop_name", "windows_desktop", "desktop_addr", "sid"),
    ("app_name", "app", "app_public_addr", "sid"),
    (
        "service_provider_entity_id",
        "saml_idp_service_provider",
        "",
        "session_id",
    ),
];

pub fn decode<'a>(o: &Obj<'a>) -> Result<Row<'a>, DecodeError> {
    let event = text(o.get("event")).ok_or(DecodeError::Missing("event", "Teleport"))?;
    let mut r = blank();
    r.event_time_ms = time_field(o, "time")?;
    r.uid = text(o.get("uid")).unwrap_or_default();
    r.action = Some(event.clone());
    r.origin =
        text(o.get("cluster_name")).or_else(|| text_at(o, &["identity", "teleport_cluster"]));
    r.teleport_cluster = r.origin.clone();

    // Who acted.
    let user = text(o.get("user")).or_else(|| text_at(o, &["identity", "user"]));
    let bot = text(o.get("bot_name"));
    let user_kind = o.get("user_kind").and_then(J::as_i64);
    (r.identity, r.identity_kind) = if event == "bot.join" || bot.is_some() {
        (bot.or(user), Some("bot".into()))
    } else if let Some(u) = user {
        let kind = match user_kind {
            Some(2) => "bot",
            _ if u.starts_with("bot-") => "bot",
            _ => "user",
        };
        (Some(u), Some(kind.into()))
    } else if event == "instance.join" {
        (
            text(o.get("node_name")).or_else(|| text(o.get("host_id"))),
            Some("service".into()),
        )
    } else if let Some(u) = text(o.get("reviewer")).or_else(|| text(o.get("updated_by"))) {
        // access_request.review names the reviewer; access lists, locks and tokens `updated_by`.
        (Some(u), Some("user".into()))
    } else {
        (None, None)
    };
    r.identity_id = text(o.get("user_id"))
        .or_else(|| text(o.get("host_id")).filter(|_| event == "instance.join"));
    r.token = text(o.get("token_name")).or_else(|| text(o.get("with_mfa")));

    r.status = match o.get("success") {
        Some(J::Bool(true)) => Some("success".into()),
        Some(J::Bool(false)) => Some("failure".into()),
        // Codes are `T2000I`; some exporters lower-case them (`t2000i`).
        _ => match text(o.get("code")).and_then(|c| c.chars().last()) {
            Some('I' | 'i') => Some("success".into()),
            Some('W' | 'E' | 'w' | 'e') => Some("failure".into()),
            _ => None,
        },
    };
    // `addr.remote` is one literal key with a dot in it, not a path.
    r.ip = text(o.get("addr.remote"))
        .or_else(|| text_at(o, &["identity", "client_ip"]))
        .or_else(|| text(o.get("client_ip")))
        .or_else(|| text(o.get("remote_addr")))
        .and_then(clean_ip);
    r.user_agent = text(o.get("user_agent"));

    // What was acted on.
    if let Some((field, kind, loc, id)) = TARGETS
        .iter()
        .find(|t| o.get(t.0).is_some_and(|v| !v.is_null()))
    {
        r.target_resource = text(o.get(field));
        r.target_kind = Some((*kind).into());
        r.target_location = if loc.is_empty() {
            None
        } else {
            text(o.get(loc))
        };
        r.target_id = text(o.get(id)).or_else(|| text(o.get("server_id")));
    } else if event == "cert.create" {
        r.target_resource = text_at(o, &["identity", "route_to_cluster"]);
        r.target_kind = text(o.get("cert_type")).map(|t| Cow::Owned(format!("{t}_certificate")));
    } else if event.starts_with("access_request.") {
        // What was asked for: the resources ("node/ip-10-0-1-5"), else the roles; else the id.
        r.target_resource = requested(o).map(Cow::Owned).or_else(|| text(o.get("id")));
        r.target_kind = Some("access_request".into());
        r.target_id = text(o.get("id"));
    } else if event.starts_with("access_list.") {
        r.target_resource = text(o.get("access_list_name")).or_else(|| text(o.get("name")));
        r.target_kind = Some("access_list".into());
    } else if event.starts_with("lock.") {
        r.target_resource = text(o.get("name"));
        r.target_kind = Some("lock".into());
    } else if matches!(&*event, "user.create" | "reset_password_token.create") {
        r.target_resource = text(o.get("name"));
        r.target_kind = Some("user".into());
    } else if event.starts_with("device.") {
        r.target_resource =
            text_at(o, &["device", "asset_tag"]).or_else(|| text_at(o, &["device", "device_id"]));
        r.target_kind = Some("device".into());
        r.target_id = text_at(o, &["device", "device_id"]);
    } else if event == "join_token.create" {
        r.target_resource = text(o.get("name"));
        r.target_kind = Some("join_token".into());
    } else if let Some(sid) = text(o.get("sid")) {
        r.target_id = Some(sid);
        r.target_resource = text(o.get("server_id"));
        r.target_kind = r.target_resource.as_ref().map(|_| "node".into());
    }
    r.event_type = event;
    Ok(r)
}

/// An access request's requested resources as `kind/name, …`, else its roles as `role:a, …`.
fn requested(o: &Obj<'_>) -> Option<String> {
    let list = |k: &str| o.get(k).and_then(J::as_array).filter(|a| !a.is_empty());
    if let Some(ids) = list("resource_ids") {
        let names: Vec<String> = ids
            .iter()
            .filter_map(|id| {
                let name = text(id.get("name"))?;
                Some(match text(id.get("kind")) {
                    Some(kind) => format!("{kind}/{name}"),
                    None => name.into_owned(),
                })
            })
            .collect();
        if !names.is_empty() {
            return Some(names.join(", "));
        }
    }
    let roles: Vec<String> = list("roles")?
        .iter()
        .filter_map(|r| text(Some(r)))
        .map(|r| format!("role:{r}"))
        .collect();
    (!roles.is_empty()).then(|| roles.join(", "))
}

#[cfg(test)]
mod tests {
    use super::super::{SourceKind, blank, decode_record, decode_text};
    use crate::schema::Row;

    #[test]
    fn full_mapping_of_a_session_start() {
        let raw = r#"{"event":"session.start","code":"T2000I","time":"2024-03-20T12:13:00.123456789Z","uid":"84c0e3a1","ei":0,"cluster_name":"acme.teleport.sh","user":"zoë","login":"root","user_kind":1,"sid":"5640a1","proto":"ssh","server_id":"de38","server_hostname":"ip-10-0-1-5","server_addr":"10.0.1.5:3022","addr.local":"10.0.1.5:3022","addr.remote":"[2001:db8::1]:3022","access_requests":["66b8"],"with_mfa":"7a6f"}"#;
        let want = Row {
            event_source: "teleport".into(),
            identity: Some("zoë".into()),
            identity_kind: Some("user".into()),
            token: Some("7a6f".into()),
            action: Some("session.start".into()),
            origin: Some("acme.teleport.sh".into()),
            status: Some("success".into()),
            ip: Some("2001:db8::1".into()),
            target_resource: Some("ip-10-0-1-5".into()),
            target_kind: Some("node".into()),
            target_location: Some("10.0.1.5:3022".into()),
            target_id: Some("de38".into()),
            event_type: "session.start".into(),
            event_time_ms: 1_710_936_780_123,
            uid: "84c0e3a1".into(),
            event_data: raw.into(),
            teleport_cluster: Some("acme.teleport.sh".into()),
            ..blank()
        };
        assert_eq!(decode_record(raw, None).unwrap(), want);
        // Forcing the source gives the same row.
        assert_eq!(
            decode_record(raw, Some(SourceKind::Teleport)).unwrap(),
            want
        );
    }

    #[test]
    fn who_did_it_across_event_types() {
        let who = |raw: &str| {
            let r = decode_record(raw, None)
                .unwrap_or_else(|e| panic!("{e}: {raw}"))
                .into_owned();
            (r.identity, r.identity_kind, r.status)
        };
        let s = |v: &str| Some(std::borrow::Cow::<str>::Owned(v.to_string()));
        assert_eq!(
            who(
                r#"{"event":"access_request.review","code":"T5002I","time":"2024-03-20T12:00:00Z","id":"66b8","reviewer":"bob","proposed_state":"APPROVED","state":"APPROVED"}"#
            ),
            (s("bob"), s("user"), s("success"))
        );
        assert_eq!(
            who(
                r#"{"event":"lock.created","code":"TLK00I","time":"2024-03-20T12:00:00Z","name":"l1","updated_by":"carol","target":{"user":"mallory"}}"#
            ),
            (s("carol"), s("user"), s("success"))
        );
        assert_eq!(
            who(
                r#"{"event":"session.start","code":"T2000I","time":"2024-03-20T12:00:00Z","user":"bot-ci","user_kind":2}"#
            ),
            (s("bot-ci"), s("bot"), s("success"))
        );
        assert_eq!(
            who(
                r#"{"event":"bot.join","code":"TJ001E","time":"2024-03-20T12:00:00Z","bot_name":"ci","success":false}"#
            ),
            (s("ci"), s("bot"), s("failure"))
        );
        assert_eq!(
            who(
                r#"{"event":"auth","code":"T3007W","time":"2024-03-20T12:00:00Z","user":"eve","addr.remote":"::1"}"#
            ),
            (s("eve"), s("user"), s("failure"))
        );
        // Neither `success` nor a code: status unknown.
        assert_eq!(
            who(r#"{"event":"user.login","time":"2024-03-20T12:00:00Z","user":"eve"}"#),
            (s("eve"), s("user"), None)
        );
    }

    #[test]
    fn targets() {
        let t = |raw: &str| {
            let r = decode_record(raw, None)
                .unwrap_or_else(|e| panic!("{e}: {raw}"))
                .into_owned();
            (
                r.target_resource,
                r.target_kind,
                r.target_location,
                r.target_id,
            )
        };
        let s = |v: &str| Some(std::borrow::Cow::<str>::Owned(v.to_string()));
        assert_eq!(
            t(
                r#"{"event":"db.session.start","code":"TDB00I","time":"2024-03-20T12:00:00Z","user":"a","sid":"13c0","db_service":"pg-prod","db_uri":"pg.internal:5432","success":true}"#
            ),
            (s("pg-prod"), s("db"), s("pg.internal:5432"), s("13c0"))
        );
        assert_eq!(
            t(
                r#"{"event":"windows.desktop.session.start","code":"TDP00I","time":"2024-03-20T12:00:00Z","user":"a","sid":"s9","desktop_name":"win-1","desktop_addr":"10.0.0.9:3389"}"#
            ),
            (
                s("win-1"),
                s("windows_desktop"),
                s("10.0.0.9:3389"),
                s("s9")
            )
        );
        assert_eq!(
            t(
                r#"{"event":"access_request.create","code":"T5000I","time":"2024-03-20T12:00:00Z","user":"a","id":"66b8","roles":["dba"],"resource_ids":[{"cluster":"acme","kind":"node","name":"ip-10-0-1-5"},{"cluster":"acme","kind":"db","name":"pg-prod"}]}"#
            ),
            (
                s("node/ip-10-0-1-5, db/pg-prod"),
                s("access_request"),
                None,
                s("66b8")
            )
        );
        assert_eq!(
            t(
                r#"{"event":"access_request.create","code":"T5000I","time":"2024-03-20T12:00:00Z","user":"a","id":"66b9","roles":["dba","auditor"]}"#
            ),
            (
                s("role:dba, role:auditor"),
                s("access_request"),
                None,
                s("66b9")
            )
        );
        assert_eq!(
            t(
                r#"{"event":"user.create","code":"T1002I","time":"2024-03-20T12:00:00Z","user":"admin","name":"José"}"#
            ),
            (s("José"), s("user"), None, None)
        );
        assert_eq!(
            t(
                r#"{"event":"device.enroll","code":"TV005I","time":"2024-03-20T12:00:00Z","user":"a","device":{"device_id":"99d3","asset_tag":"M2CQ"},"success":true}"#
            ),
            (s("M2CQ"), s("device"), None, s("99d3"))
        );
    }

    #[test]
    fn every_fixture_line_decodes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for (file, teleport, aws, okta) in [
            ("fixtures/lake/acme.ndjson", 32, 1, 1),
            ("fixtures/lake/globex.ndjson", 3, 0, 0),
        ] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let mut counts = std::collections::HashMap::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                for res in decode_text(line, None) {
                    let row = res.unwrap_or_else(|e| panic!("{file}: {e}: {line}"));
                    assert_eq!(row.event_data, line.trim());
                    assert!(row.city.is_none() && row.latitude.is_none());
                    *counts.entry(row.event_source).or_insert(0) += 1;
                }
            }
            let n = |k: &str| counts.get(k).copied().unwrap_or(0);
            assert_eq!(
                (n("teleport"), n("aws"), n("okta"), n("github")),
                (teleport, aws, okta, 0),
                "{file}"
            );
        }
    }
}
