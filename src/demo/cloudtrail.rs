//! AWS CloudTrail records as CloudTrail writes them (one record of a log file): user identities
//! (IAM users, assumed roles, web identity, services, root), console logins, STS, IAM keys, S3,
//! reads and the trail itself.

use super::*;

impl Render {
    /// The head of a record up to and including `userIdentity`, per the actor.
    pub(super) fn ct_identity(&mut self, e: &mut Ev, account: &str) {
        let b = &mut self.b;
        b.push_str("{\"eventVersion\":\"1.09\",\"userIdentity\":{");
        match &e.who {
            Who::P(p) => {
                let home = e.t.def.accounts[0].0;
                if account == home {
                    b.push_str("\"type\":\"IAMUser\",\"principalId\":\"");
                    b.push_str(&p.aida);
                    b.push_str("\",\"arn\":\"arn:aws:iam::");
                    b.push_str(home);
                    b.push_str(":user/");
                    b.push_str(p.login);
                    b.push_str("\",\"accountId\":\"");
                    b.push_str(home);
                    b.push_str("\",\"accessKeyId\":\"");
                    b.push_str(&p.akia);
                    b.push_str("\",\"userName\":\"");
                    b.push_str(p.login);
                    b.push('"');
                } else {
                    let role = if p.admin { "Admin" } else { "Engineer" };
                    let roleid = id_string("AROA", hash(role) ^ hash(account), UPPER_ALNUM, 17);
                    b.push_str("\"type\":\"AssumedRole\",\"principalId\":\"");
                    b.push_str(&roleid);
                    b.push(':');
                    b.push_str(p.login);
                    b.push_str("\",\"arn\":\"arn:aws:sts::");
                    b.push_str(account);
                    b.push_str(":assumed-role/");
                    b.push_str(role);
                    b.push('/');
                    b.push_str(p.login);
                    b.push_str("\",\"accountId\":\"");
                    b.push_str(account);
                    b.push_str("\",\"accessKeyId\":\"ASIA");
                    push_chars(b, &mut e.r, UPPER_ALNUM, 16);
                    b.push_str("\",\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\",\"principalId\":\"");
                    b.push_str(&roleid);
                    b.push_str("\",\"arn\":\"arn:aws:iam::");
                    b.push_str(account);
                    b.push_str(":role/");
                    b.push_str(role);
                    b.push_str("\",\"accountId\":\"");
                    b.push_str(account);
                    b.push_str("\",\"userName\":\"");
                    b.push_str(role);
                    b.push_str("\"},\"attributes\":{\"creationDate\":\"");
                    push_time(b, e.ts - e.r.range(MIN_MS, HOUR_MS), Ts::Secs);
                    b.push_str("\",\"mfaAuthenticated\":\"true\"}}");
                }
            }
            _ => {
                let roleid = id_string(
                    "AROA",
                    hash("github-actions-deploy") ^ hash(account),
                    UPPER_ALNUM,
                    17,
                );
                b.push_str("\"type\":\"AssumedRole\",\"principalId\":\"");
                b.push_str(&roleid);
                b.push_str(":GitHubActions\",\"arn\":\"arn:aws:sts::");
                b.push_str(account);
                b.push_str(":assumed-role/github-actions-deploy/GitHubActions\",\"accountId\":\"");
                b.push_str(account);
                b.push_str("\",\"accessKeyId\":\"ASIA");
                push_chars(b, &mut e.r, UPPER_ALNUM, 16);
                b.push_str("\",\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\",\"principalId\":\"");
                b.push_str(&roleid);
                b.push_str("\",\"arn\":\"arn:aws:iam::");
                b.push_str(account);
                b.push_str(":role/github-actions-deploy\",\"accountId\":\"");
                b.push_str(account);
                b.push_str("\",\"userName\":\"github-actions-deploy\"},\"webIdFederationData\":{},\"attributes\":{\"creationDate\":\"");
                push_time(b, e.ts - e.r.range(MIN_MS, 50 * MIN_MS), Ts::Secs);
                b.push_str("\",\"mfaAuthenticated\":\"false\"}}");
            }
        }
        b.push('}');
        kt(b, "eventTime", e.ts, Ts::Secs);
    }

    /// The tail every record shares: ids, type, account, category.
    pub(super) fn ct_tail(
        &mut self,
        e: &mut Ev,
        account: &str,
        event_type: &str,
        read_only: bool,
        data: bool,
    ) {
        let b = &mut self.b;
        ku(b, "requestID", &mut e.r);
        ku(b, "eventID", &mut e.r);
        b.push_str(if read_only {
            ",\"readOnly\":true"
        } else {
            ",\"readOnly\":false"
        });
        ks(b, "eventType", event_type);
        b.push_str(if data {
            ",\"managementEvent\":false"
        } else {
            ",\"managementEvent\":true"
        });
        ks(b, "recipientAccountId", account);
        ks(b, "eventCategory", if data { "Data" } else { "Management" });
    }

    pub(super) fn ct_src(&mut self, e: &mut Ev, source: &str, name: &str, region: &str) -> String {
        let b = &mut self.b;
        ks(b, "eventSource", source);
        ks(b, "eventName", name);
        ks(b, "awsRegion", region);
        let (ip, ua) = match &e.who {
            Who::P(p) => {
                let ua = if e.r.chance(0.6) {
                    "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off"
                } else if e.r.chance(0.5) {
                    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.51.1 (go1.22.1; darwin; arm64)"
                } else {
                    BROWSERS[p.browser].0
                };
                (p.ip(&mut e.r).1.to_string(), ua)
            }
            _ => (
                e.t.ci_ip.clone(),
                "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0-1016-azure md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
            ),
        };
        let b = &mut self.b;
        ks(b, "sourceIPAddress", &ip);
        ks(b, "userAgent", ua);
        ip
    }

    pub(super) fn ct_account(e: &mut Ev) -> &'static str {
        let accts = e.t.def.accounts;
        match &e.who {
            Who::P(_) if accts.len() > 1 && e.r.chance(0.5) => accts[1].0,
            Who::P(_) => accts[0].0,
            _ => accts[accts.len() - 1].0,
        }
    }

    pub(super) fn ct_region(e: &mut Ev) -> &'static str {
        if e.r.chance(0.8) {
            e.t.def.aws_region
        } else {
            e.r.one(&["us-east-1", "eu-west-1"])
        }
    }

    pub(super) fn ct_tls(&mut self, host: &str) {
        let b = &mut self.b;
        b.push_str(",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.3\",\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"clientProvidedHostHeader\":\"");
        b.push_str(host);
        b.push_str("\"}");
    }

    pub(super) fn ct_console_login(&mut self, e: &mut Ev, root: bool) {
        let account = e.t.def.accounts[0].0;
        let fail = !root && e.r.chance(0.1);
        if root {
            let b = &mut self.b;
            b.push_str(
                "{\"eventVersion\":\"1.09\",\"userIdentity\":{\"type\":\"Root\",\"principalId\":\"",
            );
            b.push_str(account);
            b.push_str("\",\"arn\":\"arn:aws:iam::");
            b.push_str(account);
            b.push_str(":root\",\"accountId\":\"");
            b.push_str(account);
            b.push_str("\",\"accessKeyId\":\"\"}");
            kt(b, "eventTime", e.ts, Ts::Secs);
        } else {
            self.ct_identity(e, account);
        }
        let b = &mut self.b;
        ks(b, "eventSource", "signin.amazonaws.com");
        ks(b, "eventName", "ConsoleLogin");
        ks(b, "awsRegion", "us-east-1");
        let (ip, ua) = match &e.who {
            Who::P(p) if !root => (p.ip(&mut e.r).1.to_string(), BROWSERS[p.browser].0),
            _ => {
                let berlin = e.w.city("berlin");
                (
                    e.w.cities[berlin].host(0xb0ff1ce).to_string(),
                    BROWSERS[0].0,
                )
            }
        };
        ks(b, "sourceIPAddress", &ip);
        ks(b, "userAgent", ua);
        b.push_str(",\"requestParameters\":null");
        if fail {
            ks(b, "errorMessage", "Failed authentication");
            b.push_str(",\"responseElements\":{\"ConsoleLogin\":\"Failure\"}");
        } else {
            b.push_str(",\"responseElements\":{\"ConsoleLogin\":\"Success\"}");
        }
        b.push_str(",\"additionalEventData\":{\"LoginTo\":\"https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true\",\"MobileVersion\":\"No\",\"MFAUsed\":\"");
        b.push_str(if root { "No" } else { "Yes" });
        b.push_str("\"}");
        self.ct_tail(e, account, "AwsConsoleSignIn", false, false);
        self.ct_tls("signin.aws.amazon.com");
        self.end();
    }

    pub(super) fn ct_root_call(&mut self, e: &mut Ev) {
        let account = e.t.def.accounts[0].0;
        let b = &mut self.b;
        b.push_str(
            "{\"eventVersion\":\"1.09\",\"userIdentity\":{\"type\":\"Root\",\"principalId\":\"",
        );
        b.push_str(account);
        b.push_str("\",\"arn\":\"arn:aws:iam::");
        b.push_str(account);
        b.push_str(":root\",\"accountId\":\"");
        b.push_str(account);
        b.push_str("\",\"accessKeyId\":\"ASIA");
        push_chars(b, &mut e.r, UPPER_ALNUM, 16);
        b.push_str("\",\"sessionContext\":{\"attributes\":{\"creationDate\":\"");
        push_time(b, e.ts - 6 * MIN_MS, Ts::Secs);
        b.push_str("\",\"mfaAuthenticated\":\"false\"}}}");
        kt(b, "eventTime", e.ts, Ts::Secs);
        ks(b, "eventSource", "iam.amazonaws.com");
        // The story's first call (08:01) looks around, the second (08:04) lists the users.
        let name = if e.ts.rem_euclid(DAY_MS) < 8 * HOUR_MS + 3 * MIN_MS {
            "GetAccountSummary"
        } else {
            "ListUsers"
        };
        ks(b, "eventName", name);
        ks(b, "awsRegion", "us-east-1");
        let berlin = e.w.city("berlin");
        let ip = e.w.cities[berlin].host(0xb0ff1ce).to_string();
        ks(b, "sourceIPAddress", &ip);
        ks(b, "userAgent", "AWS Internal");
        b.push_str(",\"requestParameters\":null,\"responseElements\":null");
        self.ct_tail(e, account, "AwsApiCall", true, false);
        self.end();
    }

    pub(super) fn ct_assume_role(&mut self, e: &mut Ev, k: Kind) {
        let account = Self::ct_account(e);
        let region = Self::ct_region(e);
        let role = match (&e.who, k) {
            (_, CtWebIdentity) => "github-actions-deploy",
            (_, CtServiceAssumeRole) => e.r.one(&[
                "ecsTaskExecutionRole",
                "lambda-orders-processor",
                "ec2-app-instance",
            ]),
            (Who::P(p), _) if p.admin => "Admin",
            _ => e.r.one(&["ReadOnly", "Engineer", "Engineer"]),
        };
        let session = match &e.who {
            Who::P(p) => p.login.to_string(),
            _ if k == CtWebIdentity => "GitHubActions".to_string(),
            _ => {
                let mut s = String::from("i-0");
                push_hex(&mut s, &mut e.r, 16);
                s
            }
        };
        let (name, service_host) = match k {
            CtWebIdentity => ("AssumeRoleWithWebIdentity", "sts.amazonaws.com"),
            _ => ("AssumeRole", "sts.amazonaws.com"),
        };
        if k == CtServiceAssumeRole {
            let svc = if role.starts_with("ecs") {
                "ecs-tasks.amazonaws.com"
            } else if role.starts_with("lambda") {
                "lambda.amazonaws.com"
            } else {
                "ec2.amazonaws.com"
            };
            let b = &mut self.b;
            b.push_str("{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"AWSService\",\"invokedBy\":\"");
            b.push_str(svc);
            b.push_str("\"}");
            kt(b, "eventTime", e.ts, Ts::Secs);
            ks(b, "eventSource", "sts.amazonaws.com");
            ks(b, "eventName", "AssumeRole");
            ks(b, "awsRegion", region);
            ks(b, "sourceIPAddress", svc);
            ks(b, "userAgent", svc);
        } else if k == CtWebIdentity {
            let b = &mut self.b;
            b.push_str("{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"WebIdentityUser\",\"principalId\":\"arn:aws:iam::");
            b.push_str(account);
            b.push_str(
                ":oidc-provider/token.actions.githubusercontent.com:sts.amazonaws.com:repo:",
            );
            let repo = e.r.one(e.t.def.repos);
            b.push_str(repo);
            b.push_str(":ref:refs/heads/main\",\"userName\":\"repo:");
            b.push_str(repo);
            b.push_str(":ref:refs/heads/main\",\"identityProvider\":\"token.actions.githubusercontent.com\"}");
            kt(b, "eventTime", e.ts, Ts::Secs);
            ks(b, "eventSource", "sts.amazonaws.com");
            ks(b, "eventName", name);
            ks(b, "awsRegion", region);
            let ip = e.t.ci_ip.clone();
            ks(b, "sourceIPAddress", &ip);
            ks(
                b,
                "userAgent",
                "aws-sdk-js/3.556.0 ua/2.0 os/linux#6.5.0-1018-azure lang/js md/nodejs#20.12.2 api/sts#3.556.0",
            );
        } else {
            self.ct_identity(e, e.t.def.accounts[0].0);
            self.ct_src(e, "sts.amazonaws.com", name, region);
        }
        let b = &mut self.b;
        let role_arn = format!("arn:aws:iam::{account}:role/{role}");
        b.push_str(",\"requestParameters\":{\"roleArn\":\"");
        b.push_str(&role_arn);
        b.push_str("\",\"roleSessionName\":\"");
        b.push_str(&session);
        b.push_str("\",\"durationSeconds\":3600}");
        let akid = {
            let mut s = String::from("ASIA");
            push_chars(&mut s, &mut e.r, UPPER_ALNUM, 16);
            s
        };
        b.push_str(",\"responseElements\":{\"credentials\":{\"accessKeyId\":\"");
        b.push_str(&akid);
        b.push_str("\",\"sessionToken\":\"IQoJb3JpZ2luX2VjE");
        push_chars(b, &mut e.r, ALNUM, 40);
        b.push_str("\",\"expiration\":\"");
        push_ct_expiration(b, e.ts + HOUR_MS);
        b.push_str("\"},\"assumedRoleUser\":{\"assumedRoleId\":\"");
        let roleid = id_string("AROA", hash(role) ^ hash(account), UPPER_ALNUM, 17);
        b.push_str(&roleid);
        b.push(':');
        b.push_str(&session);
        b.push_str("\",\"arn\":\"arn:aws:sts::");
        b.push_str(account);
        b.push_str(":assumed-role/");
        b.push_str(role);
        b.push('/');
        b.push_str(&session);
        b.push_str("\"}}");
        b.push_str(",\"resources\":[{\"accountId\":\"");
        b.push_str(account);
        b.push_str("\",\"type\":\"AWS::IAM::Role\",\"ARN\":\"");
        b.push_str(&role_arn);
        b.push_str("\"}]");
        self.ct_tail(e, account, "AwsApiCall", false, false);
        if k != CtServiceAssumeRole {
            self.ct_tls(service_host);
        }
        self.end();
    }

    pub(super) fn ct_access_key(&mut self, e: &mut Ev, delete: bool) {
        let account = e.t.def.accounts[0].0;
        self.ct_identity(e, account);
        let name = if delete {
            "DeleteAccessKey"
        } else {
            "CreateAccessKey"
        };
        self.ct_src(e, "iam.amazonaws.com", name, "us-east-1");
        // Routine key rotation: people manage their own keys (a key made for someone else is
        // what `aws_access_key_for_other_user` looks for).
        let target = match &e.who {
            Who::P(p) => p.login,
            _ => e.any_person().login,
        };
        let b = &mut self.b;
        let mut key = String::from("AKIA");
        push_chars(&mut key, &mut e.r, UPPER_ALNUM, 16);
        if delete {
            b.push_str(",\"requestParameters\":{\"userName\":\"");
            b.push_str(target);
            b.push_str("\",\"accessKeyId\":\"");
            b.push_str(&key);
            b.push_str("\"},\"responseElements\":null");
        } else {
            b.push_str(",\"requestParameters\":{\"userName\":\"");
            b.push_str(target);
            b.push_str("\"},\"responseElements\":{\"accessKey\":{\"userName\":\"");
            b.push_str(target);
            b.push_str("\",\"accessKeyId\":\"");
            b.push_str(&key);
            b.push_str("\",\"status\":\"Active\",\"createDate\":\"");
            push_ct_expiration(b, e.ts);
            b.push_str("\"}}");
        }
        self.ct_tail(e, account, "AwsApiCall", false, false);
        self.ct_tls("iam.amazonaws.com");
        self.end();
    }

    pub(super) fn ct_s3(&mut self, e: &mut Ev, put: bool) {
        let account = Self::ct_account(e);
        let region = e.t.def.aws_region;
        self.ct_identity(e, account);
        let name = if put { "PutObject" } else { "GetObject" };
        self.ct_src(e, "s3.amazonaws.com", name, region);
        let bucket = if matches!(e.who, Who::P(_)) {
            e.r.one(&["data-exports", "app-assets", "terraform-state"])
        } else {
            "build-artifacts"
        };
        let bucket = format!("{}-{bucket}", e.t.id);
        let key = format!(
            "{}/{:08x}.tar.gz",
            e.r.pick(&["releases", "exports", "tmp"]),
            e.r.next() as u32
        );
        let denied = e.r.chance(0.04);
        let b = &mut self.b;
        if denied {
            ks(b, "errorCode", "AccessDenied");
            ks(b, "errorMessage", "Access Denied");
        }
        b.push_str(",\"requestParameters\":{\"bucketName\":\"");
        b.push_str(&bucket);
        b.push_str("\",\"Host\":\"");
        b.push_str(&bucket);
        b.push_str(".s3.");
        b.push_str(region);
        b.push_str(".amazonaws.com\",\"key\":\"");
        b.push_str(&key);
        b.push_str("\"},\"responseElements\":");
        b.push_str(if put && !denied {
            "{\"x-amz-server-side-encryption\":\"aws:kms\"}"
        } else {
            "null"
        });
        b.push_str(",\"additionalEventData\":{\"SignatureVersion\":\"SigV4\",\"CipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"bytesTransferredIn\":");
        push_u64(b, if put { 1000 + e.r.below(5_000_000) } else { 0 });
        b.push_str(",\"AuthenticationMethod\":\"AuthHeader\",\"x-amz-id-2\":\"");
        push_chars(b, &mut e.r, ALNUM, 40);
        b.push_str("\",\"bytesTransferredOut\":");
        push_u64(b, if put { 0 } else { 1000 + e.r.below(5_000_000) });
        b.push('}');
        b.push_str(",\"resources\":[{\"type\":\"AWS::S3::Object\",\"ARN\":\"arn:aws:s3:::");
        b.push_str(&bucket);
        b.push('/');
        b.push_str(&key);
        b.push_str("\"},{\"accountId\":\"");
        b.push_str(account);
        b.push_str("\",\"type\":\"AWS::S3::Bucket\",\"ARN\":\"arn:aws:s3:::");
        b.push_str(&bucket);
        b.push_str("\"}]");
        self.ct_tail(e, account, "AwsApiCall", !put, true);
        self.ct_tls("s3.amazonaws.com");
        self.end();
    }

    pub(super) fn ct_read(&mut self, e: &mut Ev, k: Kind) {
        let account = Self::ct_account(e);
        let region = Self::ct_region(e);
        self.ct_identity(e, account);
        let (src, name, host) = match k {
            CtDescribeInstances => (
                "ec2.amazonaws.com",
                "DescribeInstances",
                "ec2.amazonaws.com",
            ),
            CtListBuckets => ("s3.amazonaws.com", "ListBuckets", "s3.amazonaws.com"),
            _ => (
                "sts.amazonaws.com",
                "GetCallerIdentity",
                "sts.amazonaws.com",
            ),
        };
        self.ct_src(e, src, name, region);
        let denied = k == CtDescribeInstances && e.r.chance(0.05);
        let b = &mut self.b;
        if denied {
            ks(b, "errorCode", "Client.UnauthorizedOperation");
            ks(
                b,
                "errorMessage",
                "You are not authorized to perform this operation.",
            );
        }
        match k {
            CtDescribeInstances => b.push_str(
                ",\"requestParameters\":{\"instancesSet\":{},\"filterSet\":{\"items\":[{\"name\":\"tag:env\",\"valueSet\":{\"items\":[{\"value\":\"prod\"}]}}]}},\"responseElements\":null",
            ),
            CtListBuckets => {
                b.push_str(",\"requestParameters\":{\"Host\":\"s3.amazonaws.com\"},\"responseElements\":null")
            }
            _ => b.push_str(",\"requestParameters\":null,\"responseElements\":null"),
        }
        self.ct_tail(e, account, "AwsApiCall", true, false);
        self.ct_tls(host);
        self.end();
    }

    pub(super) fn ct_trail(&mut self, e: &mut Ev, stop: bool) {
        let account = e.t.def.accounts[0].0;
        self.ct_identity(e, account);
        self.ct_src(
            e,
            "cloudtrail.amazonaws.com",
            if stop { "StopLogging" } else { "StartLogging" },
            "us-east-1",
        );
        let b = &mut self.b;
        b.push_str(",\"requestParameters\":{\"name\":\"arn:aws:cloudtrail:us-east-1:");
        b.push_str(account);
        b.push_str(":trail/");
        b.push_str(e.t.id);
        b.push_str("-org-trail\"},\"responseElements\":null");
        self.ct_tail(e, account, "AwsApiCall", false, false);
        self.ct_tls("cloudtrail.us-east-1.amazonaws.com");
        self.end();
    }
}

/// CloudTrail's odd `expiration` format: `Mar 20, 2024, 1:12:03 PM`.
pub(super) fn push_ct_expiration(b: &mut String, ms: i64) {
    pub(super) const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    let h = sod / 3600;
    b.push_str(MONTHS[(m - 1) as usize]);
    b.push(' ');
    push_u64(b, u64::from(d));
    b.push_str(", ");
    push_i64(b, y);
    b.push_str(", ");
    push_u64(b, u64::from(if h.is_multiple_of(12) { 12 } else { h % 12 }));
    b.push(':');
    push2(b, sod / 60 % 60);
    b.push(':');
    push2(b, sod % 60);
    b.push_str(if h < 12 { " AM" } else { " PM" });
}
