//! Okta System Log `LogEvent`s: sessions, MFA, SSO, policy and admin events, with the actor,
//! client, geo and request context Okta writes.

use super::*;

impl Render {
    /// `{"actor":…,"client":…` with location from the fixture city; returns nothing, writes up
    /// to and including `"client":{…}`.
    pub(super) fn okta_head(&mut self, e: &mut Ev, p: &Person, city: Option<usize>) {
        let (c, ip) = match city {
            Some(c) => (c, e.w.cities[c].host(0x0c7a ^ hash(p.login)).to_string()),
            None => {
                let (c, ip) = p.ip(&mut e.r);
                (c, ip.to_string())
            }
        };
        let city = &e.w.cities[c];
        let (ua, os, browser) = BROWSERS[p.browser];
        let b = &mut self.b;
        b.push_str("{\"actor\":{\"id\":\"");
        b.push_str(&p.okta_id);
        b.push_str("\",\"type\":\"User\",\"alternateId\":\"");
        b.push_str(&p.email);
        b.push_str("\",\"displayName\":\"");
        b.push_str(p.name);
        b.push_str("\",\"detailEntry\":null}");
        b.push_str(",\"client\":{\"userAgent\":{\"rawUserAgent\":\"");
        b.push_str(ua);
        b.push_str("\",\"os\":\"");
        b.push_str(os);
        b.push_str("\",\"browser\":\"");
        b.push_str(browser);
        b.push_str("\"},\"zone\":\"null\",\"device\":\"Computer\",\"id\":null,\"ipAddress\":\"");
        b.push_str(&ip);
        b.push('"');
        let geo_start = b.len();
        b.push_str(",\"geographicalContext\":{\"city\":\"");
        push_esc(b, &city.city);
        b.push_str("\",\"state\":");
        match &city.region {
            Some(r) => {
                b.push('"');
                push_esc(b, &r.name);
                b.push('"');
            }
            None => b.push_str("null"),
        }
        b.push_str(",\"country\":\"");
        push_esc(b, &city.country.name);
        b.push_str("\",\"postalCode\":null,\"geolocation\":{\"lat\":");
        push_f64(b, city.latitude);
        b.push_str(",\"lon\":");
        push_f64(b, city.longitude);
        b.push_str("}}");
        let geo = b[geo_start + 1..].to_string();
        b.push('}');
        b.push_str(",\"device\":null,\"authenticationContext\":{\"authenticationProvider\":null,\"credentialProvider\":null,\"credentialType\":null,\"issuer\":null,\"interface\":null,\"authenticationStep\":0,\"externalSessionId\":\"102");
        push_chars(
            b,
            &mut Rng::new(hash(p.login) ^ (e.ts / DAY_MS) as u64),
            ALNUM,
            22,
        );
        b.push_str("\"}");
        // request.ipChain repeats the client address and its location.
        let v = if ip.contains(':') { "V6" } else { "V4" };
        b.push_str(",\"request\":{\"ipChain\":[{\"ip\":\"");
        b.push_str(&ip);
        b.push_str("\",");
        b.push_str(&geo);
        b.push_str(",\"version\":\"");
        b.push_str(v);
        b.push_str("\",\"source\":null}]}");
        b.push_str(",\"securityContext\":{\"asNumber\":null,\"asOrg\":null,\"isp\":null,\"domain\":null,\"isProxy\":false}");
    }

    /// Writes the fields after the head, through `uuid`, `published`, `version`, and the target.
    pub(super) fn okta_tail(&mut self, e: &mut Ev, ev: OktaEv, target: &str) {
        let b = &mut self.b;
        ks(b, "displayMessage", ev.message);
        ks(b, "eventType", ev.event_type);
        b.push_str(",\"outcome\":{\"result\":\"");
        b.push_str(ev.result);
        b.push_str("\",\"reason\":");
        match ev.reason {
            Some(r) => {
                b.push('"');
                push_esc(b, r);
                b.push('"');
            }
            None => b.push_str("null"),
        }
        b.push('}');
        kt(b, "published", e.ts, Ts::Millis);
        ks(
            b,
            "severity",
            if ev.result == "FAILURE" {
                "WARN"
            } else {
                "INFO"
            },
        );
        b.push_str(",\"debugContext\":{\"debugData\":{\"requestId\":\"");
        push_chars(b, &mut e.r, ALNUM, 26);
        b.push_str("\",\"requestUri\":\"");
        b.push_str(ev.uri);
        b.push_str("\",\"url\":\"");
        b.push_str(ev.uri);
        b.push_str("?\"}}");
        match ev.legacy {
            Some(l) => ks(b, "legacyEventType", l),
            None => b.push_str(",\"legacyEventType\":null"),
        }
        b.push_str(",\"transaction\":{\"type\":\"WEB\",\"id\":\"");
        push_chars(b, &mut e.r, ALNUM, 26);
        b.push_str("\",\"detail\":{}}");
        ku(b, "uuid", &mut e.r);
        ks(b, "version", "0");
        b.push_str(",\"target\":");
        b.push_str(if target.is_empty() { "null" } else { target });
        self.end();
    }

    pub(super) fn okta_person<'a>(e: &Ev<'a>) -> &'a Person {
        match e.who {
            Who::P(p) => p,
            _ => &e.t.people[0],
        }
    }

    pub(super) fn okta_session_start(&mut self, e: &mut Ev, city: Option<usize>, fail: bool) {
        let p = Self::okta_person(e);
        self.okta_head(e, p, city);
        let ev = OktaEv {
            event_type: "user.session.start",
            message: "User login to Okta",
            result: if fail { "FAILURE" } else { "SUCCESS" },
            reason: fail.then_some("INVALID_CREDENTIALS"),
            legacy: Some(if fail {
                "core.user_auth.login_failed"
            } else {
                "core.user_auth.login_success"
            }),
            uri: "/idp/idx/identify",
        };
        self.okta_tail(e, ev, "");
    }

    pub(super) fn okta_mfa(&mut self, e: &mut Ev, city: Option<usize>, fail: bool) {
        let p = Self::okta_person(e);
        self.okta_head(e, p, city);
        let ev = OktaEv {
            event_type: "user.authentication.auth_via_mfa",
            message: "Authentication of user via MFA",
            result: if fail { "FAILURE" } else { "SUCCESS" },
            reason: fail.then_some("User rejected Okta push verify"),
            legacy: Some(if fail {
                "core.user.factor.attempt_fail"
            } else {
                "core.user.factor.attempt_success"
            }),
            uri: "/idp/idx/authenticators/poll",
        };
        let mut target = String::from("[{\"id\":\"pfd");
        push_chars(
            &mut target,
            &mut Rng::new(hash(p.login) ^ 0xfac7),
            ALNUM,
            17,
        );
        target.push_str(
            "\",\"type\":\"AuthenticatorEnrollment\",\"alternateId\":\"unknown\",\"displayName\":\"Okta Verify\",\"detailEntry\":{\"methodTypeUsed\":\"Get a push notification\",\"methodUsedVerifiedProperties\":\"[DEVICE_BOUND, HARDWARE_PROTECTED, USER_VERIFYING]\"}}]",
        );
        self.okta_tail(e, ev, &target);
    }

    pub(super) fn okta_user_event(&mut self, e: &mut Ev, k: Kind) {
        let p = Self::okta_person(e);
        self.okta_head(e, p, None);
        let mut target = String::new();
        let ev = match k {
            OkSso => {
                let (id, app) = e.r.pick(&e.t.apps).clone();
                target.push_str("[{\"id\":\"");
                target.push_str(&id);
                target.push_str("\",\"type\":\"AppInstance\",\"alternateId\":\"");
                target.push_str(app);
                target.push_str("\",\"displayName\":\"SAML 2.0 App\",\"detailEntry\":{\"signOnModeType\":\"SAML_2_0\"}},{\"id\":\"0ua");
                push_chars(
                    &mut target,
                    &mut Rng::new(hash(p.login) ^ hash(app)),
                    ALNUM,
                    17,
                );
                target.push_str("\",\"type\":\"AppUser\",\"alternateId\":\"");
                target.push_str(&p.email);
                target.push_str("\",\"displayName\":\"");
                target.push_str(p.name);
                target.push_str("\",\"detailEntry\":null}]");
                OktaEv {
                    event_type: "user.authentication.sso",
                    message: "User single sign on to app",
                    result: "SUCCESS",
                    reason: None,
                    legacy: Some("app.auth.sso"),
                    uri: "/app/saml/sso/saml",
                }
            }
            OkPolicy => {
                target.push_str("[{\"id\":\"00p");
                push_chars(&mut target, &mut Rng::new(hash(e.t.id) ^ 0x9011), ALNUM, 17);
                target.push_str("\",\"type\":\"PolicyEntity\",\"alternateId\":\"unknown\",\"displayName\":\"Default Policy\",\"detailEntry\":{\"policyType\":\"OktaSignOn\"}},{\"id\":\"0pr");
                push_chars(&mut target, &mut Rng::new(hash(e.t.id) ^ 0x9012), ALNUM, 17);
                target.push_str("\",\"type\":\"PolicyRule\",\"alternateId\":\"unknown\",\"displayName\":\"Require MFA\",\"detailEntry\":{\"policyRuleFactorMode\":\"2FA\"}}]");
                OktaEv {
                    event_type: "policy.evaluate_sign_on",
                    message: "Evaluation of sign-on policy",
                    result: "CHALLENGE",
                    reason: Some("Sign-on policy evaluation resulted in CHALLENGE"),
                    legacy: None,
                    uri: "/idp/idx/identify",
                }
            }
            OkSessionEnd => OktaEv {
                event_type: "user.session.end",
                message: "User logout from Okta",
                result: "SUCCESS",
                reason: None,
                legacy: Some("core.user_auth.logout_success"),
                uri: "/login/signout",
            },
            _ => {
                okta_user_target(&mut target, p);
                OktaEv {
                    event_type: "user.account.update_password",
                    message: "User update password for Okta",
                    result: "SUCCESS",
                    reason: None,
                    legacy: Some("core.user.config.password_update.success"),
                    uri: "/idp/myaccount/password",
                }
            }
        };
        self.okta_tail(e, ev, &target);
    }

    /// An admin acting on another person: a group membership (routine) or an MFA reset.
    pub(super) fn okta_admin_event(&mut self, e: &mut Ev, event_type: &'static str) {
        let admin = &e.t.people[e.t.okta_admin];
        let target_person = if event_type == "user.mfa.factor.reset_all" {
            &e.t.people[e.t.person_by_login("carol")]
        } else {
            match e.who {
                Who::P(p) if p.login != admin.login => p,
                _ => &e.t.people[e.t.pick_person(&mut e.r)],
            }
        };
        self.okta_head(e, admin, None);
        let mut target = String::new();
        okta_user_target(&mut target, target_person);
        let ev = if event_type == "user.mfa.factor.reset_all" {
            OktaEv {
                event_type,
                message: "Reset all factors for user",
                result: "SUCCESS",
                reason: None,
                legacy: Some("core.user.factor.reset_all"),
                uri: "/api/v1/users/lifecycle/reset_factors",
            }
        } else {
            OktaEv {
                event_type,
                message: "Add user to group membership",
                result: "SUCCESS",
                reason: None,
                legacy: Some("core.user_group_member.user_add"),
                uri: "/api/v1/groups/members",
            }
        };
        self.okta_tail(e, ev, &target);
    }
}

pub(super) struct OktaEv {
    pub(super) event_type: &'static str,
    pub(super) message: &'static str,
    pub(super) result: &'static str,
    pub(super) reason: Option<&'static str>,
    pub(super) legacy: Option<&'static str>,
    pub(super) uri: &'static str,
}

pub(super) fn okta_user_target(target: &mut String, p: &Person) {
    target.push_str("[{\"id\":\"");
    target.push_str(&p.okta_id);
    target.push_str("\",\"type\":\"User\",\"alternateId\":\"");
    target.push_str(&p.email);
    target.push_str("\",\"displayName\":\"");
    target.push_str(p.name);
    target.push_str("\",\"detailEntry\":null}]");
}
