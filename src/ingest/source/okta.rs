//! Okta System Log events → `Row`.

use std::borrow::Cow;

use super::{DecodeError, J, Obj, at, blank, clean_ip, text, text_at, time_field};
use crate::schema::Row;

pub fn decode<'a>(o: &Obj<'a>) -> Result<Row<'a>, DecodeError> {
    let ty = text(o.get("eventType")).ok_or(DecodeError::Missing("eventType", "Okta"))?;
    let mut r = blank();
    r.event_time_ms = time_field(o, "published")?;
    r.uid = text(o.get("uuid")).unwrap_or_default();
    r.action = Some(ty.clone());
    r.identity =
        text_at(o, &["actor", "alternateId"]).or_else(|| text_at(o, &["actor", "displayName"]));
    r.identity_kind = text_at(o, &["actor", "type"]).map(|t| match &*t {
        "User" => Cow::Borrowed("user"),
        "SystemPrincipal" => Cow::Borrowed("system"),
        "PublicClientApp" | "AppInstance" | "Client" => Cow::Borrowed("service"),
        other => Cow::Owned(other.to_ascii_lowercase()),
    });
    r.identity_id = text_at(o, &["actor", "id"]);
    r.token = text_at(o, &["authenticationContext", "externalSessionId"]);
    r.status = text_at(o, &["outcome", "result"]).and_then(|s| match &*s {
        "SUCCESS" | "ALLOW" => Some("success".into()),
        "FAILURE" | "DENY" => Some("failure".into()),
        _ => None,
    });
    // Okta writes the string "null" (not JSON null) when it has no client address.
    r.ip = text_at(o, &["client", "ipAddress"])
        .filter(|s| !s.eq_ignore_ascii_case("null"))
        .and_then(clean_ip)
        .or_else(|| {
            at(o, &["request", "ipChain"])
                .and_then(J::as_array)
                .and_then(|a| a.first())
                .and_then(|x| text(x.get("ip")))
                .and_then(clean_ip)
        });
    r.user_agent = text_at(o, &["client", "userAgent", "rawUserAgent"]);
    if let Some(t) = at(o, &["target"])
        .and_then(J::as_array)
        .and_then(|a| a.first())
    {
        r.target_resource = text(t.get("alternateId")).or_else(|| text(t.get("displayName")));
        r.target_kind = text(t.get("type"));
        r.target_id = text(t.get("id"));
    }
    // Okta events do not name their org; the URL of the request does when present.
    r.okta_org = text_at(o, &["debugContext", "debugData", "url"])
        .and_then(|u| url::Url::parse(&u).ok())
        .and_then(|u| u.host_str().map(|h| Cow::Owned(h.to_string())))
        .or_else(|| text(o.get("okta_org")));
    r.origin = r.okta_org.clone();
    r.event_type = ty;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::super::{blank, decode_record};
    use crate::schema::Row;

    #[test]
    fn full_mapping_of_a_session_start() {
        let raw = r#"{"actor":{"id":"00u1abc","type":"User","alternateId":"jose@acme.com","displayName":"José Müller","detailEntry":null},"client":{"userAgent":{"rawUserAgent":"Mozilla/5.0 (Macintosh)","os":"Mac OS X","browser":"CHROME"},"zone":"null","device":"Computer","id":null,"ipAddress":"198.51.100.23","geographicalContext":{"city":"Berlin","state":"Land Berlin","country":"Germany","postalCode":null,"geolocation":{"lat":52.52,"lon":13.4}}},"authenticationContext":{"externalSessionId":"102abcDEF"},"displayMessage":"User login to Okta","eventType":"user.session.start","outcome":{"result":"SUCCESS","reason":null},"published":"2024-03-21T08:59:00.000Z","severity":"INFO","debugContext":{"debugData":{"requestUri":"/api/v1/authn","url":"https://acme.okta.com/api/v1/authn?"}},"uuid":"o-1","version":"0","target":[{"id":"0oa1","type":"AppInstance","alternateId":"Teleport","displayName":"Teleport"}]}"#;
        let want = Row {
            event_source: "okta".into(),
            identity: Some("jose@acme.com".into()),
            identity_kind: Some("user".into()),
            identity_id: Some("00u1abc".into()),
            token: Some("102abcDEF".into()),
            action: Some("user.session.start".into()),
            origin: Some("acme.okta.com".into()),
            status: Some("success".into()),
            ip: Some("198.51.100.23".into()),
            target_resource: Some("Teleport".into()),
            target_kind: Some("AppInstance".into()),
            target_id: Some("0oa1".into()),
            user_agent: Some("Mozilla/5.0 (Macintosh)".into()),
            event_type: "user.session.start".into(),
            event_time_ms: 1_711_011_540_000,
            uid: "o-1".into(),
            event_data: raw.into(),
            okta_org: Some("acme.okta.com".into()),
            ..blank()
        };
        assert_eq!(decode_record(raw, None).unwrap(), want);
    }

    #[test]
    fn odd_events() {
        // No client IP: the first hop of request.ipChain; a system actor; DENY; null target.
        let r = decode_record(
            r#"{"uuid":"o-2","published":"2024-03-21T09:00:00.123+01:00","eventType":"policy.evaluate_sign_on","actor":{"id":"0oa9","type":"SystemPrincipal","displayName":"Okta System"},"client":{"ipAddress":null},"request":{"ipChain":[{"ip":"2001:db8::9"}]},"outcome":{"result":"DENY"},"target":null}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            (
                r.identity.as_deref(),
                r.identity_kind.as_deref(),
                r.status.as_deref(),
                r.ip.as_deref()
            ),
            (
                Some("Okta System"),
                Some("system"),
                Some("failure"),
                Some("2001:db8::9")
            )
        );
        assert_eq!(r.event_time_ms, 1_711_008_000_123);
        assert_eq!(
            (r.target_resource, r.okta_org, r.origin),
            (None, None, None)
        );
        // CHALLENGE is neither; no IP anywhere.
        let r = decode_record(
            r#"{"uuid":"o-3","published":"2024-03-21T09:00:00Z","eventType":"user.authentication.auth_via_mfa","actor":{"type":"User","alternateId":"a@b.c"},"outcome":{"result":"CHALLENGE"}}"#,
            None,
        )
        .unwrap();
        assert_eq!((r.status, r.ip), (None, None));
    }
}
