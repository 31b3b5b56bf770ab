//! GitHub organization audit log entries → `Row`.

use std::borrow::Cow;

use super::{DecodeError, Obj, blank, clean_ip, text, time_field};
use crate::schema::Row;

pub fn decode<'a>(o: &Obj<'a>) -> Result<Row<'a>, DecodeError> {
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
        .map(|a| Cow::Borrowed(if a.ends_with("[bot]") { "bot" } else { "user" }));
    r.identity_id = text(o.get("actor_id"));
    r.token = text(o.get("token_id")).or_else(|| text(o.get("hashed_token")));
    r.origin = text(o.get("org")).or_else(|| text(o.get("business")));
    r.github_organization = text(o.get("org"));
    r.github_repo = text(o.get("repo")).or_else(|| text(o.get("repository")));
    r.ip = text(o.get("actor_ip")).and_then(clean_ip);
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
    r.target_kind = r.target_resource.as_ref().map(|_| Cow::Owned(prefix));
    r.target_id = text(o.get("repo_id")).or_else(|| text(o.get("user_id")));
    r.event_type = action;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::super::{SourceKind, blank, decode_record};
    use crate::schema::Row;

    #[test]
    fn full_mapping_of_a_repo_create() {
        let raw = r#"{"@timestamp":1710936723374,"_document_id":"Xx1-d0c","action":"repo.create","actor":"zoë-dev","actor_id":1234567,"actor_ip":"[2001:db8::5]:443","actor_location":{"country_code":"DE"},"user_agent":"Mozilla/5.0","org":"acme-corp","org_id":99,"repo":"acme-corp/api","repo_id":555,"visibility":"private","operation_type":"create","programmatic_access_type":"OAuth access token","token_id":777,"hashed_token":"abc=","created_at":1710936723374,"business":"acme"}"#;
        let want = Row {
            event_source: "github".into(),
            identity: Some("zoë-dev".into()),
            identity_kind: Some("user".into()),
            identity_id: Some("1234567".into()),
            token: Some("777".into()),
            action: Some("repo.create".into()),
            origin: Some("acme-corp".into()),
            status: Some("success".into()),
            ip: Some("2001:db8::5".into()),
            target_resource: Some("acme-corp/api".into()),
            target_kind: Some("repo".into()),
            target_id: Some("555".into()),
            user_agent: Some("Mozilla/5.0".into()),
            event_type: "repo.create".into(),
            event_time_ms: 1_710_936_723_374,
            uid: "Xx1-d0c".into(),
            event_data: raw.into(),
            github_organization: Some("acme-corp".into()),
            github_repo: Some("acme-corp/api".into()),
            ..blank()
        };
        assert_eq!(decode_record(raw, None).unwrap(), want);
    }

    #[test]
    fn odd_entries() {
        // No `@timestamp`: `created_at` as ISO text; no document id: a stable uid; a bot; no IP;
        // an `event` key that must not make it Teleport.
        let raw = r#"{"action":"team.add_member","actor":"renovate[bot]","org":"acme-corp","team":"acme-corp/sre","user":"bob","created_at":"2024-03-20T12:00:00.5Z","event":"x","time":"y"}"#;
        let r = decode_record(raw, None).unwrap();
        assert_eq!(r.event_source, "github");
        assert_eq!(r.event_time_ms, 1_710_936_000_500);
        assert_eq!(r.identity_kind.as_deref(), Some("bot"));
        assert_eq!(r.ip, None);
        assert_eq!(
            (r.target_resource.as_deref(), r.target_kind.as_deref()),
            (Some("bob"), Some("team"))
        );
        assert_eq!(r.uid, decode_record(raw, None).unwrap().uid);
        assert_eq!(r.uid.len(), 36);
        // Neither time field.
        let e =
            decode_record(r#"{"action":"repo.create","actor":"a","org":"o"}"#, None).unwrap_err();
        assert!(
            e.to_string().contains("time") && e.to_string().contains("created_at"),
            "{e}"
        );
        // Forced, with hashed_token only.
        let r = decode_record(
            r#"{"action":"git.clone","actor":"a","@timestamp":"2024-03-20T12:00:00Z","hashed_token":"h=="}"#,
            Some(SourceKind::GitHub),
        )
        .unwrap();
        assert_eq!(r.token.as_deref(), Some("h=="));
        assert_eq!(r.github_organization, None);
    }
}
