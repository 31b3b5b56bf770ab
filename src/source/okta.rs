//! Okta System Log events → `Row`.

use serde_json::{Map, Value};

use super::{DecodeError, at, blank, clean_ip, text, text_at, time_field};
use crate::schema::Row;

pub fn decode(o: &Map<String, Value>) -> Result<Row, DecodeError> {
    let ty = text(o.get("eventType")).ok_or(DecodeError::Missing("eventType", "Okta"))?;
    let mut r = blank();
    r.event_time_ms = time_field(o, "published")?;
    r.uid = text(o.get("uuid")).unwrap_or_default();
    r.action = Some(ty.clone());
    r.identity =
        text_at(o, &["actor", "alternateId"]).or_else(|| text_at(o, &["actor", "displayName"]));
    r.identity_kind = text_at(o, &["actor", "type"]).map(|t| match t.as_str() {
        "User" => "user".to_string(),
        "SystemPrincipal" => "system".to_string(),
        "PublicClientApp" | "AppInstance" | "Client" => "service".to_string(),
        other => other.to_ascii_lowercase(),
    });
    r.identity_id = text_at(o, &["actor", "id"]);
    r.token = text_at(o, &["authenticationContext", "externalSessionId"]);
    r.status = text_at(o, &["outcome", "result"]).and_then(|s| match s.as_str() {
        "SUCCESS" | "ALLOW" => Some("success".into()),
        "FAILURE" | "DENY" => Some("failure".into()),
        _ => None,
    });
    r.ip = text_at(o, &["client", "ipAddress"])
        .or_else(|| {
            at(o, &["request", "ipChain"])
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|x| text(x.get("ip")))
        })
        .and_then(|s| clean_ip(&s));
    r.user_agent = text_at(o, &["client", "userAgent", "rawUserAgent"]);
    if let Some(t) = at(o, &["target"])
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        r.target_resource = text(t.get("alternateId")).or_else(|| text(t.get("displayName")));
        r.target_kind = text(t.get("type"));
        r.target_id = text(t.get("id"));
    }
    // Okta events do not name their org; the URL of the request does when present.
    r.okta_org = text_at(o, &["debugContext", "debugData", "url"])
        .and_then(|u| url::Url::parse(&u).ok())
        .and_then(|u| u.host_str().map(str::to_string))
        .or_else(|| text(o.get("okta_org")));
    r.origin = r.okta_org.clone();
    r.event_type = ty;
    Ok(r)
}
