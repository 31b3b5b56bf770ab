//! AWS CloudTrail records → `Row`. `event_type` is `eventName` (`ConsoleLogin`, `StopLogging`),
//! so the question people ask ("who called StopLogging") is a plain filter; CloudTrail's own
//! `eventType` (`AwsApiCall` …) stays in `event_data`.

use std::borrow::Cow;

use super::{DecodeError, J, Obj, at, blank, clean_ip, text, text_at, time_field};
use crate::schema::Row;

pub fn decode<'a>(o: &Obj<'a>) -> Result<Row<'a>, DecodeError> {
    let name = text(o.get("eventName")).ok_or(DecodeError::Missing("eventName", "CloudTrail"))?;
    let mut r = blank();
    r.event_time_ms = time_field(o, "eventTime")?;
    r.uid = text(o.get("eventID")).unwrap_or_default();
    r.action = Some(name.clone());
    r.origin = text(o.get("awsRegion"));
    r.aws_account_id =
        text(o.get("recipientAccountId")).or_else(|| text_at(o, &["userIdentity", "accountId"]));
    r.aws_service = text(o.get("eventSource"));

    let id = |k: &str| text_at(o, &["userIdentity", k]);
    let ty = id("type").unwrap_or_default();
    (r.identity, r.identity_kind) = match &*ty {
        "Root" => (id("arn").or_else(|| id("accountId")), Some("root".into())),
        "IAMUser" => (id("userName").or_else(|| id("arn")), Some("user".into())),
        // Some services log an assumed role without `arn`: the session's own names first,
        // then the role that issued it.
        "AssumedRole" => (
            id("arn")
                .or_else(|| id("userName"))
                .or_else(|| id("principalId"))
                .or_else(|| {
                    text_at(
                        o,
                        &["userIdentity", "sessionContext", "sessionIssuer", "arn"],
                    )
                })
                .or_else(|| {
                    text_at(
                        o,
                        &[
                            "userIdentity",
                            "sessionContext",
                            "sessionIssuer",
                            "userName",
                        ],
                    )
                }),
            Some("role".into()),
        ),
        "AWSService" => (id("invokedBy"), Some("service".into())),
        "FederatedUser" => (id("arn").or_else(|| id("principalId")), Some("user".into())),
        "IdentityCenterUser" => (
            id("userName")
                .or_else(|| text_at(o, &["additionalEventData", "UserName"]))
                .or_else(|| id("principalId")),
            Some("user".into()),
        ),
        "AWSAccount" => (
            id("accountId").or_else(|| id("principalId")),
            Some("account".into()),
        ),
        "" => (None, None),
        other => (
            id("arn").or_else(|| id("principalId")),
            Some(Cow::Owned(other.to_ascii_lowercase())),
        ),
    };
    r.identity_id = id("principalId");
    r.token = id("accessKeyId");

    let failed = text(o.get("errorCode")).is_some()
        || text_at(o, &["responseElements", "ConsoleLogin"]).is_some_and(|v| v == "Failure");
    r.status = Some(if failed { "failure" } else { "success" }.into());
    r.ip = text(o.get("sourceIPAddress")).and_then(clean_ip);
    r.user_agent = text(o.get("userAgent"));

    let first_resource = at(o, &["resources"])
        .and_then(J::as_array)
        .and_then(|a| a.first())
        .and_then(J::as_object);
    if let Some(res) = first_resource {
        r.target_resource = text(res.get("ARN"));
        r.target_kind = text(res.get("type"));
        r.target_id = text(res.get("accountId"));
    } else if let Some(p) = o.get("requestParameters").and_then(J::as_object) {
        for (k, kind) in [
            ("bucketName", "AWS::S3::Bucket"),
            ("instanceId", "AWS::EC2::Instance"),
            ("roleName", "AWS::IAM::Role"),
            ("userName", "AWS::IAM::User"),
            ("name", "resource"),
            ("trailName", "AWS::CloudTrail::Trail"),
        ] {
            if let Some(v) = text(p.get(k)) {
                r.target_resource = Some(v);
                r.target_kind = Some(kind.into());
                break;
            }
        }
    }
    if r.target_resource.is_some() {
        r.target_location = r.origin.clone();
    }
    r.event_type = name;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::super::{blank, decode_record, decode_text};
    use crate::schema::Row;

    #[test]
    fn full_mapping_of_a_console_login() {
        let raw = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/zoë","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE","userName":"zoë"},"eventTime":"2024-03-21T09:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"2001:db8::1","userAgent":"Mozilla/5.0","requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"},"eventID":"c0000001","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333"}"#;
        let want = Row {
            event_source: "aws".into(),
            identity: Some("zoë".into()),
            identity_kind: Some("user".into()),
            identity_id: Some("AIDAEXAMPLE".into()),
            token: Some("AKIAEXAMPLE".into()),
            action: Some("ConsoleLogin".into()),
            origin: Some("us-east-1".into()),
            status: Some("success".into()),
            ip: Some("2001:db8::1".into()),
            user_agent: Some("Mozilla/5.0".into()),
            event_type: "ConsoleLogin".into(),
            event_time_ms: 1_711_011_600_000,
            uid: "c0000001".into(),
            event_data: raw.into(),
            aws_account_id: Some("111122223333".into()),
            aws_service: Some("signin.amazonaws.com".into()),
            ..blank()
        };
        assert_eq!(decode_record(raw, None).unwrap(), want);
    }

    #[test]
    fn log_file_elements_keep_their_own_text() {
        let file = r#"{"Records": [
  {"eventVersion":"1.09","userIdentity":{"type":"AWSService","invokedBy":"cloudtrail.amazonaws.com"},"eventTime":"2024-03-20T09:00:00.123456Z","eventSource":"s3.amazonaws.com","eventName":"GetBucketAcl","awsRegion":"eu-central-1","sourceIPAddress":"cloudtrail.amazonaws.com","userAgent":"cloudtrail.amazonaws.com","requestParameters":{"bucketName":"trail-bucket","Host":"trail-bucket.s3.eu-central-1.amazonaws.com","acl":""},"resources":[{"type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::trail-bucket"}],"eventID":"e-1","recipientAccountId":"111122223333","eventType":"AwsApiCall"},
  {"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/Admin","userName":"Admin"}}},"eventTime":"2024-03-20T09:01:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"eu-central-1","sourceIPAddress":"AWS Internal","requestParameters":{"name":"main-trail"},"errorCode":"AccessDenied","errorMessage":"denied","eventID":"e-2","recipientAccountId":"111122223333"}
] }"#;
        let rows: Vec<Row> = decode_text(file, None)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 2);
        let whole: serde_json::Value = serde_json::from_str(file).unwrap();
        for (i, r) in rows.iter().enumerate() {
            let back: serde_json::Value = serde_json::from_str(&r.event_data).unwrap();
            assert_eq!(back, whole["Records"][i]);
            assert!(
                file.contains(&*r.event_data),
                "a slice of the input, byte for byte"
            );
        }
        let (a, b) = (&rows[0], &rows[1]);
        assert_eq!(
            (
                a.identity.as_deref(),
                a.identity_kind.as_deref(),
                a.ip.as_deref()
            ),
            (Some("cloudtrail.amazonaws.com"), Some("service"), None)
        );
        assert_eq!(a.event_time_ms, 1_710_925_200_123);
        assert_eq!(
            (
                a.target_resource.as_deref(),
                a.target_kind.as_deref(),
                a.target_location.as_deref()
            ),
            (
                Some("arn:aws:s3:::trail-bucket"),
                Some("AWS::S3::Bucket"),
                Some("eu-central-1")
            )
        );
        assert_eq!(
            b.identity.as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/Admin/alice")
        );
        assert_eq!(
            (
                b.identity_kind.as_deref(),
                b.identity_id.as_deref(),
                b.token.as_deref()
            ),
            (Some("role"), Some("AROAEXAMPLE:alice"), Some("ASIAEXAMPLE"))
        );
        assert_eq!(
            (b.status.as_deref(), b.ip.as_deref()),
            (Some("failure"), None)
        );
        assert_eq!(b.target_resource.as_deref(), Some("main-trail"));
    }

    #[test]
    fn an_array_of_log_files_and_records() {
        let rec = |id: &str| {
            format!(
                r#"{{"eventVersion":"1.08","eventTime":"2024-03-20T09:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","eventID":"{id}","userIdentity":{{"type":"Root","arn":"arn:aws:iam::1:root"}}}}"#
            )
        };
        let text = format!(
            r#"[{{"Records":[{},{}]}}, {}]"#,
            rec("a"),
            rec("b"),
            rec("c")
        );
        let uids: Vec<std::borrow::Cow<str>> = decode_text(&text, None)
            .into_iter()
            .map(|r| r.unwrap().uid)
            .collect();
        assert_eq!(uids, ["a", "b", "c"]);
    }
}
