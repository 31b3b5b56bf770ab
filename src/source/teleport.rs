//! Teleport audit events (the JSON Teleport emits) → `Row`.

use serde_json::{Map, Value};

use super::{DecodeError, blank, clean_ip, text, text_at, time_field};
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

pub fn decode(o: &Map<String, Value>) -> Result<Row, DecodeError> {
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
    let user_kind = o.get("user_kind").and_then(Value::as_i64);
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
        Some(Value::Bool(true)) => Some("success".into()),
        Some(Value::Bool(false)) => Some("failure".into()),
        _ => match text(o.get("code")).and_then(|c| c.chars().last()) {
            Some('I') => Some("success".into()),
            Some('W' | 'E') => Some("failure".into()),
            _ => None,
        },
    };
    // `addr.remote` is one literal key with a dot in it, not a path.
    r.ip = text(o.get("addr.remote"))
        .or_else(|| text_at(o, &["identity", "client_ip"]))
        .or_else(|| text(o.get("client_ip")))
        .or_else(|| text(o.get("remote_addr")))
        .and_then(|s| clean_ip(&s));
    r.user_agent = text(o.get("user_agent"));

    // What was acted on.
    if let Some((field, kind, loc, id)) = TARGETS
        .iter()
        .find(|t| o.get(t.0).is_some_and(|v| !v.is_null()))
    {
        r.target_resource = text(o.get(*field));
        r.target_kind = Some((*kind).into());
        r.target_location = if loc.is_empty() {
            None
        } else {
            text(o.get(*loc))
        };
        r.target_id = text(o.get(*id)).or_else(|| text(o.get("server_id")));
    } else if event == "cert.create" {
        r.target_resource = text_at(o, &["identity", "route_to_cluster"]);
        r.target_kind = text(o.get("cert_type")).map(|t| format!("{t}_certificate"));
    } else if event.starts_with("access_request.") {
        // What was asked for: the resources ("node/ip-10-0-1-5"), else the roles; else the id.
        r.target_resource = requested(o).or_else(|| text(o.get("id")));
        r.target_kind = Some("access_request".into());
        r.target_id = text(o.get("id"));
    } else if event.starts_with("access_list.") {
        r.target_resource = text(o.get("access_list_name")).or_else(|| text(o.get("name")));
        r.target_kind = Some("access_list".into());
    } else if event.starts_with("lock.") {
        r.target_resource = text(o.get("name"));
        r.target_kind = Some("lock".into());
    } else if matches!(
        event.as_str(),
        "user.create" | "reset_password_token.create"
    ) {
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
fn requested(o: &Map<String, Value>) -> Option<String> {
    let list = |k: &str| o.get(k).and_then(Value::as_array).filter(|a| !a.is_empty());
    if let Some(ids) = list("resource_ids") {
        let names: Vec<String> = ids
            .iter()
            .filter_map(|id| {
                let name = text(id.get("name"))?;
                Some(match text(id.get("kind")) {
                    Some(kind) => format!("{kind}/{name}"),
                    None => name,
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
