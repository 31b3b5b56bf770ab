//! GitHub organization audit log entries → `Row`.

use serde_json::{Map, Value};

use super::{DecodeError, blank, clean_ip, text, time_field};
use crate::schema::Row;

pub fn decode(o: &Map<String, Value>) -> Result<Row, DecodeError> {
    let action = text(o.get("action")).ok_or(DecodeError::Missing("action", "GitHub"))?;
    let mut r = blank();
    let present = |k: &str| o.get(k).is_some_and(|v| !v.is_null());
    r.event_time_ms = if present("@timestamp") {
        time_field(o, "@timestamp")?
    } else if present("created_at") {
        time_field(o, "created_at")?
    } else {
        return Err(DecodeError::MissingTime("@timestamp` or `created_at"));
    };
    r.uid = text(o.get("_document_id")).unwrap_or_default();
    r.action = Some(action.clone());
    r.identity = text(o.get("actor"));
    r.identity_kind = r
        .identity
        .as_ref()
        .map(|a| if a.ends_with("[bot]") { "bot" } else { "user" }.to_string());
    r.identity_id = text(o.get("actor_id"));
    r.token = text(o.get("token_id")).or_else(|| text(o.get("hashed_token")));
    r.origin = text(o.get("org")).or_else(|| text(o.get("business")));
    r.github_organization = text(o.get("org"));
    r.github_repo = text(o.get("repo")).or_else(|| text(o.get("repository")));
    r.ip = text(o.get("actor_ip")).and_then(|s| clean_ip(&s));
    r.user_agent = text(o.get("user_agent"));
    // The audit log records what happened; the few failures are actions of their own
    // (`….failed`, `…_failure`).
    let last = action.rsplit('.').next().unwrap_or_default();
    r.status = Some(
        if last.contains("fail") {
            "failure"
        } else {
            "success"
        }
        .into(),
    );
    let prefix = action.split('.').next().unwrap_or_default().to_string();
    r.target_resource = r
        .github_repo
        .clone()
        .or_else(|| text(o.get("user")))
        .or_else(|| text(o.get("team")))
        .or_else(|| text(o.get("name")));
    r.target_kind = r.target_resource.as_ref().map(|_| prefix);
    r.target_id = text(o.get("repo_id")).or_else(|| text(o.get("user_id")));
    r.event_type = action;
    Ok(r)
}
