//! AWS CloudTrail records → `Row`. `event_type` is `eventName` (`ConsoleLogin`, `StopLogging`),
//! so the question people ask ("who called StopLogging") is a plain filter; CloudTrail's own
//! `eventType` (`AwsApiCall` …) stays in `event_data`.

use serde_json::{Map, Value};

use super::{DecodeError, at, blank, clean_ip, text, text_at, time_field};
use crate::schema::Row;

pub fn decode(o: &Map<String, Value>) -> Result<Row, DecodeError> {
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
    (r.identity, r.identity_kind) = match ty.as_str() {
        "Root" => (id("arn").or_else(|| id("accountId")), Some("root".into())),
        "IAMUser" => (id("userName").or_else(|| id("arn")), Some("user".into())),
        "AssumedRole" => (
            id("arn").or_else(|| {
                text_at(
                    o,
                    &["userIdentity", "sessionContext", "sessionIssuer", "arn"],
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
            Some(other.to_ascii_lowercase()),
        ),
    };
    r.identity_id = id("principalId");
    r.token = id("accessKeyId");

    let failed = text(o.get("errorCode")).is_some()
        || text_at(o, &["responseElements", "ConsoleLogin"]).is_some_and(|v| v == "Failure");
    r.status = Some(if failed { "failure" } else { "success" }.into());
    r.ip = text(o.get("sourceIPAddress")).and_then(|s| clean_ip(&s));
    r.user_agent = text(o.get("userAgent"));

    let first_resource = at(o, &["resources"])
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_object);
    if let Some(res) = first_resource {
        r.target_resource = text(res.get("ARN"));
        r.target_kind = text(res.get("type"));
        r.target_id = text(res.get("accountId"));
    } else if let Some(p) = o.get("requestParameters").and_then(Value::as_object) {
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
