//! Teleport audit events as Teleport writes them: the common head (`ei`, `event`, `uid`, `code`,
//! `time`, `cluster_name`), user metadata and addresses, and the identity, access-list,
//! request, join and lock events. Sessions (SSH, Kubernetes, databases, desktops) are in
//! `sessions`.

mod sessions;

use super::*;

impl Render {
    /// `{"ei":0,"event":…,"uid":…,"code":…,"time":…,"cluster_name":…`
    pub(in crate::demo) fn tp_head(&mut self, e: &mut Ev, event: &str, code: &str) {
        let b = &mut self.b;
        b.push_str("{\"ei\":0,\"event\":\"");
        b.push_str(event);
        b.push('"');
        ku(b, "uid", &mut e.r);
        ks(b, "code", code);
        kt(b, "time", e.ts, Ts::Go);
        ks(b, "cluster_name", &e.t.cluster);
    }

    pub(in crate::demo) fn tp_user_meta(&mut self, e: &Ev) {
        let (user, kind) = e.tp_user();
        ks(&mut self.b, "user", user);
        kn(&mut self.b, "user_kind", kind);
    }

    pub(in crate::demo) fn tp_addr(&mut self, e: &mut Ev, ip: Option<&str>) {
        let ip = match ip {
            Some(ip) => ip.to_string(),
            None => e.ip().1,
        };
        let b = &mut self.b;
        b.push_str(",\"addr.remote\":\"");
        if ip.contains(':') {
            b.push('[');
            b.push_str(&ip);
            b.push(']');
        } else {
            b.push_str(&ip);
        }
        b.push(':');
        push_u64(b, 32_768 + e.r.below(28_000));
        b.push('"');
    }

    pub(in crate::demo) fn tp_server(&mut self, e: &mut Ev, port: u32) -> String {
        let (host, addr, env, id) = {
            let s = e.server();
            (s.host, s.addr, s.env, s.id.clone())
        };
        let b = &mut self.b;
        ks(b, "server_id", &id);
        ks(b, "server_hostname", host);
        b.push_str(",\"server_addr\":\"");
        b.push_str(addr);
        b.push(':');
        push_u64(b, u64::from(port));
        b.push('"');
        b.push_str(",\"server_labels\":{\"env\":\"");
        b.push_str(env);
        b.push_str("\",\"team\":\"platform\"}");
        b.push_str(",\"addr.local\":\"");
        b.push_str(addr);
        b.push(':');
        push_u64(b, u64::from(port));
        b.push('"');
        ks(b, "namespace", "default");
        host.to_string()
    }

    /// The fields the Privileged Access Report looks for: present only sometimes.
    pub(in crate::demo) fn tp_weak(&mut self, e: &mut Ev, p_request: f64, p_mfa: f64) {
        if e.r.chance(p_request) {
            self.b.push_str(",\"access_requests\":[\"");
            push_uuid(&mut self.b, &mut e.r);
            self.b.push_str("\"]");
        }
        if let Some(p) = e.person() {
            let mfa = p.mfa_uuid.clone();
            let device = p.device.clone();
            if e.r.chance(p_mfa) {
                ks(&mut self.b, "with_mfa", &mfa);
            }
            if let Some((id, tag, os)) = device
                && e.r.chance(0.75)
            {
                let b = &mut self.b;
                b.push_str(",\"trusted_device\":{\"asset_tag\":\"");
                b.push_str(&tag);
                b.push_str("\",\"device_id\":\"");
                b.push_str(&id);
                b.push_str("\",\"os_type\":");
                push_u64(b, u64::from(os));
                b.push('}');
            }
        }
    }

    pub(in crate::demo) fn tp_login(&mut self, e: &mut Ev) -> &'static str {
        match &e.who {
            // Automation logs in as its own user and escalates with sudo.
            Who::B(b) if b.def.name == "ansible" => "ansible",
            // Admins rarely log in as root (the report's root-session query still finds some).
            Who::P(p) if p.admin && e.r.chance(0.04) => "root",
            Who::P(p) if e.r.chance(0.3) => p.login,
            _ => e.r.one(&["ubuntu", "ec2-user", "ubuntu", "deploy"]),
        }
    }

    pub(in crate::demo) fn end(&mut self) {
        self.b.push('}');
    }

    pub(in crate::demo) fn access_list(&mut self, e: &mut Ev, k: Kind) {
        let (ev, code) = match k {
            AccessListCreate => ("access_list.create", "TAL001I"),
            AccessListUpdate => ("access_list.update", "TAL002I"),
            AccessListDelete => ("access_list.delete", "TAL003I"),
            _ => ("access_list.review", "TAL004I"),
        };
        self.tp_head(e, ev, code);
        self.tp_user_meta(e);
        let (title, name) = e.r.one(&[
            ("Production Access", "prod-access"),
            ("Database Admins", "db-admins"),
            ("On-call Engineers", "on-call"),
            ("Contractors", "contractors"),
        ]);
        let b = &mut self.b;
        ks(b, "name", name);
        ks(b, "access_list_title", title);
        let (user, _) = e.tp_user();
        ks(b, "updated_by", user);
        if k == AccessListReview {
            ku(b, "review_id", &mut e.r);
            b.push_str(",\"membership_requirements_changed\":{\"roles\":[\"access\",\"prod-ro\"]}");
            if e.r.chance(0.5) {
                let gone = &e.t.people[e.t.pick_person(&mut e.r)].email;
                ka(b, "removed_members", &[gone]);
            }
            ks(b, "review_frequency_changed", "3 months");
        } else {
            kt(b, "expires", e.ts + 90 * DAY_MS, Ts::Go);
        }
        self.end();
    }

    pub(in crate::demo) fn access_list_member(&mut self, e: &mut Ev, k: Kind) {
        let (ev, code) = match k {
            AccessListMemberCreate => ("access_list.member.create", "TAL005I"),
            AccessListMemberUpdate => ("access_list.member.update", "TAL006I"),
            _ => ("access_list.member.delete", "TAL007I"),
        };
        self.tp_head(e, ev, code);
        self.tp_user_meta(e);
        let list =
            e.r.one(&["prod-access", "db-admins", "on-call", "contractors"]);
        let member = e.any_person().email.clone();
        let b = &mut self.b;
        ks(b, "access_list_name", list);
        b.push_str(",\"members\":[{\"member_name\":\"");
        b.push_str(&member);
        b.push('"');
        if k == AccessListMemberDelete {
            kt(b, "removed_on", e.ts, Ts::Go);
        } else {
            kt(b, "joined_on", e.ts - e.r.range(0, 30) * DAY_MS, Ts::Go);
        }
        ks(
            b,
            "reason",
            if k == AccessListMemberDelete {
                "left the team"
            } else {
                "joined on-call rotation"
            },
        );
        b.push_str("}]");
        let (user, _) = e.tp_user();
        ks(b, "updated_by", user);
        self.end();
    }

    pub(in crate::demo) fn access_request(&mut self, e: &mut Ev, k: Kind) {
        // Create and review share `pair`, so they draw the same request id.
        let mut idr = e.pair.clone();
        let id = uuid_string(&mut idr);
        let roles: &[&str] = if idr.chance(0.5) {
            &["db-admin"]
        } else {
            &["prod-access"]
        };
        let reason = idr.one(&[
            "debugging incident INC-2231",
            "deploy hotfix",
            "customer ticket 4412",
            "schema migration",
        ]);
        let approve = idr.chance(0.85);
        if k == AccessRequestCreate {
            self.tp_head(e, "access_request.create", "T5000I");
            self.tp_user_meta(e);
            let b = &mut self.b;
            ks(b, "id", &id);
            ka(b, "roles", roles);
            ks(b, "reason", reason);
            ks(b, "state", "PENDING");
            if roles[0] == "prod-access" {
                let s = &e.t.servers[idr.below(e.t.servers.len() as u64) as usize];
                b.push_str(",\"resource_ids\":[{\"cluster\":\"");
                b.push_str(&e.t.cluster);
                b.push_str("\",\"kind\":\"node\",\"name\":\"");
                b.push_str(&s.id);
                b.push_str("\"}]");
            }
            kt(b, "max_duration", e.ts + 8 * HOUR_MS, Ts::Go);
            kt(b, "expires", e.ts + 8 * HOUR_MS, Ts::Go);
        } else {
            self.tp_head(e, "access_request.review", "T5002I");
            let reviewer = {
                let admins: Vec<&Person> = e.t.people.iter().filter(|p| p.admin).collect();
                if admins.is_empty() {
                    e.t.people[0].email.clone()
                } else {
                    e.r.pick(&admins).email.clone()
                }
            };
            let b = &mut self.b;
            ks(b, "user", &reviewer);
            kn(b, "user_kind", 1);
            ks(b, "id", &id);
            ks(b, "reviewer", &reviewer);
            let state = if approve { "APPROVED" } else { "DENIED" };
            ks(b, "proposed_state", state);
            ks(b, "state", state);
            ks(
                b,
                "reason",
                if approve {
                    "ok"
                } else {
                    "use the read-only role"
                },
            );
            kt(b, "max_duration", e.ts + 8 * HOUR_MS, Ts::Go);
        }
        self.end();
    }

    pub(in crate::demo) fn auth(&mut self, e: &mut Ev) {
        self.tp_head(e, "auth", "T3007W");
        self.tp_user_meta(e);
        let allowed = match &e.who {
            Who::P(p) => p.login,
            _ => "ubuntu",
        };
        ks(&mut self.b, "login", "root");
        ks(&mut self.b, "proto", "ssh");
        self.tp_addr(e, None);
        let b = &mut self.b;
        b.push_str(",\"success\":false");
        let msg = format!(
            "ssh: principal \"root\" not in the set of valid principals for given certificate: [\"{allowed}\" \"-teleport-internal-join\"]"
        );
        ks(b, "error", &msg);
        self.end();
    }

    pub(in crate::demo) fn bot_join(&mut self, e: &mut Ev) {
        let bot = match &e.who {
            Who::B(b) => *b,
            _ => &e.t.bots[0],
        };
        let fail = e.r.chance(0.03);
        self.tp_head(e, "bot.join", if fail { "TJ001E" } else { "TJ001I" });
        let b = &mut self.b;
        ks(b, "bot_name", bot.def.name);
        ks(b, "method", bot.def.method);
        let token = format!("{}-bot-token", bot.def.name);
        ks(b, "token_name", &token);
        b.push_str(if fail {
            ",\"success\":false"
        } else {
            ",\"success\":true"
        });
        if fail {
            ks(b, "error", "id token validation failed: token has expired");
        }
        ks(b, "user_name", &bot.user);
        match bot.def.method {
            "github" => {
                let repo = e.r.pick(e.t.def.repos);
                b.push_str(",\"attributes\":{\"sub\":\"repo:");
                b.push_str(repo);
                b.push_str(":ref:refs/heads/main\",\"repository\":\"");
                b.push_str(repo);
                b.push_str("\",\"repository_owner\":\"");
                b.push_str(e.t.def.gh_org);
                b.push_str("\",\"workflow\":\"deploy\",\"ref\":\"refs/heads/main\",\"event_name\":\"push\",\"run_id\":\"");
                push_u64(b, 8_000_000_000 + e.r.below(900_000_000));
                b.push_str("\"}");
            }
            "iam" => {
                b.push_str(",\"attributes\":{\"account\":\"");
                b.push_str(e.t.def.accounts[0].0);
                b.push_str("\",\"arn\":\"arn:aws:sts::");
                b.push_str(e.t.def.accounts[0].0);
                b.push_str(":assumed-role/ansible-runner/i-0");
                push_hex(b, &mut e.r, 16);
                b.push_str("\"}");
            }
            _ => {}
        }
        let ip = bot.ip.clone();
        self.tp_addr(e, Some(&ip));
        self.end();
    }

    pub(in crate::demo) fn cert_create(&mut self, e: &mut Ev, ip_override: Option<&str>) {
        self.tp_head(e, "cert.create", "TC000I");
        let (user, kind) = e.tp_user();
        let user = user.to_string();
        let ip = match ip_override {
            Some(ip) => ip.to_string(),
            None => e.ip().1,
        };
        let (ttl, per_session, roles, logins): (i64, bool, &[&str], Vec<&str>) = match &e.who {
            Who::P(p) => {
                let x = e.r.below(100);
                let roles: &[&str] = if p.admin {
                    &["access", "editor", "auditor"]
                } else {
                    &["access", "dev"]
                };
                let mut logins = vec!["ubuntu", "ec2-user", p.login];
                if p.admin {
                    logins.push("root");
                }
                if x < 10 {
                    (MIN_MS, true, roles, logins)
                } else if x < 85 {
                    (8 * HOUR_MS, false, roles, logins)
                } else if x < 90 {
                    (12 * HOUR_MS, false, roles, logins)
                } else {
                    (30 * HOUR_MS, false, roles, logins)
                }
            }
            Who::B(b) => (
                b.def.cert_ttl_h * HOUR_MS,
                false,
                &["bot"],
                vec!["ubuntu", "root"],
            ),
            Who::Other => (HOUR_MS, false, &["bot"], vec![]),
        };
        let mfa = e.person().map(|p| p.mfa_uuid.clone());
        let b = &mut self.b;
        ks(b, "cert_type", "user");
        b.push_str(",\"identity\":{\"user\":\"");
        push_esc(b, &user);
        b.push('"');
        ka(b, "roles", roles);
        let mut all_logins = logins.clone();
        all_logins.push("-teleport-internal-join");
        ka(b, "logins", &all_logins);
        kt(b, "expires", e.ts + ttl, Ts::Go);
        ks(b, "route_to_cluster", &e.t.cluster);
        ks(b, "teleport_cluster", &e.t.cluster);
        ks(b, "client_ip", &ip);
        if per_session {
            ka(b, "usage", &["usage:ssh"]);
            if let Some(m) = &mfa {
                ks(b, "mfa_device_uuid", m);
            }
        }
        if e.r.chance(0.3) {
            ka(b, "kubernetes_groups", &["developers"]);
            ka(b, "kubernetes_users", &[&user]);
        }
        ks(b, "prev_identity_expires", "0001-01-01T00:00:00Z");
        ks(b, "private_key_policy", "none");
        b.push('}');
        if kind == 1 {
            let ua = if e.r.chance(0.7) {
                "tsh/17.4.8"
            } else {
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"
            };
            ks(b, "user_agent", ua);
        }
        self.end();
    }

    pub(in crate::demo) fn device(&mut self, e: &mut Ev, k: Kind) {
        let enroll = k == DeviceEnroll;
        self.tp_head(
            e,
            if enroll {
                "device.enroll"
            } else {
                "device.authenticate"
            },
            if enroll { "TV005I" } else { "TV006I" },
        );
        self.tp_user_meta(e);
        let dev = match e.person().and_then(|p| p.device.clone()) {
            Some(d) => d,
            None => (
                uuid_string(&mut e.r),
                id_string("C02", e.r.next(), UPPER_ALNUM, 7),
                2,
            ),
        };
        let b = &mut self.b;
        b.push_str(",\"device\":{\"device_id\":\"");
        b.push_str(&dev.0);
        b.push_str("\",\"asset_tag\":\"");
        b.push_str(&dev.1);
        b.push_str("\",\"os_type\":");
        push_u64(b, u64::from(dev.2));
        b.push_str(",\"device_origin\":1,\"credential_id\":\"");
        push_uuid(b, &mut e.r);
        b.push_str("\"},\"success\":true");
        self.end();
    }

    pub(in crate::demo) fn instance_join(&mut self, e: &mut Ev) {
        self.tp_head(e, "instance.join", "TJ002I");
        let method = e.r.one(&["token", "token", "iam", "ec2"]);
        let b = &mut self.b;
        let host = format!("ip-10-10-{}-{}", e.r.below(8), 2 + e.r.below(250));
        ks(b, "node_name", &host);
        ku(b, "host_id", &mut e.r);
        ks(b, "role", "Instance");
        ks(b, "method", method);
        if method == "token" {
            b.push_str(",\"token_name\":\"************************");
            push_hex(b, &mut e.r, 8);
            b.push('"');
            // Most join tokens live 30 minutes; some were made for a week (flagged by the report).
            let ttl = if e.r.chance(0.2) {
                7 * DAY_MS
            } else {
                30 * MIN_MS
            };
            kt(b, "token_expires", e.ts + ttl, Ts::Go);
        } else {
            let name = format!("{}-join", method);
            ks(b, "token_name", &name);
            b.push_str(",\"attributes\":{\"account\":\"");
            b.push_str(e.t.def.accounts[0].0);
            b.push_str("\"}");
        }
        b.push_str(",\"success\":true");
        self.end();
    }

    pub(in crate::demo) fn join_token_create(&mut self, e: &mut Ev) {
        self.tp_head(e, "join_token.create", "TJT00I");
        self.tp_user_meta(e);
        let b = &mut self.b;
        b.push_str(",\"name\":\"************************");
        push_hex(b, &mut e.r, 8);
        b.push('"');
        let roles: &[&str] =
            e.r.one(&[&["Node"][..], &["Node", "Db"][..], &["Kube"][..]]);
        ka(b, "roles", roles);
        ks(b, "join_method", "token");
        let ttl = if e.r.chance(0.3) { 7 * DAY_MS } else { HOUR_MS };
        kt(b, "expires", e.ts + ttl, Ts::Go);
        let (user, _) = e.tp_user();
        ks(b, "updated_by", user);
        self.end();
    }

    pub(in crate::demo) fn lock(&mut self, e: &mut Ev, k: Kind) {
        let created = k == LockCreated;
        // Lock name and target come from the pair's shared draws.
        let mut pr = e.pair.clone();
        let name = uuid_string(&mut pr);
        let target = e.t.people[e.t.pick_person(&mut pr)].email.clone();
        self.tp_head(
            e,
            if created {
                "lock.created"
            } else {
                "lock.deleted"
            },
            if created { "TLK00I" } else { "TLK01I" },
        );
        self.tp_user_meta(e);
        let b = &mut self.b;
        ks(b, "name", &name);
        b.push_str(",\"target\":{\"user\":\"");
        b.push_str(&target);
        b.push_str("\"}");
        if created {
            kt(b, "expires", e.ts + 12 * HOUR_MS, Ts::Go);
        }
        let (user, _) = e.tp_user();
        ks(b, "updated_by", user);
        self.end();
    }

    pub(in crate::demo) fn recovery_code_used(&mut self, e: &mut Ev) {
        let fail = e.r.chance(0.3);
        self.tp_head(
            e,
            "recovery_code.used",
            if fail { "T1009W" } else { "T1009I" },
        );
        self.tp_user_meta(e);
        let b = &mut self.b;
        b.push_str(if fail {
            ",\"success\":false"
        } else {
            ",\"success\":true"
        });
        if fail {
            ks(b, "error", "invalid recovery code");
            ks(b, "message", "recovery code verification failed");
        }
        self.end();
    }

    pub(in crate::demo) fn reset_password_token(&mut self, e: &mut Ev) {
        self.tp_head(e, "reset_password_token.create", "T6000I");
        self.tp_user_meta(e);
        let target = e.any_person().email.clone();
        let b = &mut self.b;
        ks(b, "name", &target);
        ks(b, "ttl", "8h0m0s");
        kt(b, "expires", e.ts + 8 * HOUR_MS, Ts::Go);
        self.end();
    }

    pub(in crate::demo) fn saml_idp_auth(&mut self, e: &mut Ev) {
        self.tp_head(e, "saml.idp.auth", "TSI000I");
        self.tp_user_meta(e);
        let (entity, shortcut) = e.r.one(&[
            ("https://signin.aws.amazon.com/saml", "aws"),
            ("https://grafana.acme.io/saml/metadata", "grafana"),
        ]);
        let b = &mut self.b;
        ks(b, "service_provider_entity_id", entity);
        ks(b, "service_provider_shortcut", shortcut);
        ku(b, "sid", &mut e.r);
        b.push_str(",\"success\":true");
        self.end();
    }

    pub(in crate::demo) fn user_create(&mut self, e: &mut Ev) {
        self.tp_head(e, "user.create", "T1002I");
        self.tp_user_meta(e);
        let b = &mut self.b;
        let name =
            e.r.one(&["contractor-1", "svc-grafana", "intern-2", "break-glass"]);
        ks(b, "name", name);
        ka(b, "roles", &["access"]);
        ks(b, "connector", "local");
        self.end();
    }

    pub(in crate::demo) fn user_login(
        &mut self,
        e: &mut Ev,
        ip_override: Option<&str>,
        fail: bool,
    ) {
        let local = ip_override.is_none() && e.r.chance(0.1);
        let code = match (local, fail) {
            (true, false) => "T1000I",
            (true, true) => "T1000W",
            (false, false) => "T1001I",
            (false, true) => "T1001W",
        };
        self.tp_head(e, "user.login", code);
        self.tp_user_meta(e);
        let ua = e
            .person()
            .map(|p| BROWSERS[p.browser].0)
            .unwrap_or("tsh/17.4.8");
        let b = &mut self.b;
        ks(b, "method", if local { "local" } else { "saml" });
        b.push_str(if fail {
            ",\"success\":false"
        } else {
            ",\"success\":true"
        });
        if fail {
            ks(
                b,
                "error",
                if local {
                    "invalid credentials"
                } else {
                    "Failed to validate SAML response."
                },
            );
        }
        ks(b, "user_agent", ua);
        if !local && !fail {
            let (user, _) = e.tp_user();
            b.push_str(
                ",\"attributes\":{\"groups\":[\"Everyone\",\"Engineering\"],\"username\":[\"",
            );
            b.push_str(user);
            b.push_str("\"]}");
        }
        if local
            && !fail
            && let Some(p) = e.person()
        {
            b.push_str(",\"mfa_device\":{\"mfa_device_name\":\"yubikey\",\"mfa_device_uuid\":\"");
            b.push_str(&p.mfa_uuid);
            b.push_str("\",\"mfa_device_type\":\"WebAuthn\"}");
        }
        self.tp_addr(e, ip_override);
        self.end();
    }

    pub(in crate::demo) fn brute_force(&mut self, e: &mut Ev, i: u64) {
        self.tp_head(e, "user.login", "T1000W");
        let user = BRUTE_FORCE_USERS[(i as usize) % BRUTE_FORCE_USERS.len()];
        let b = &mut self.b;
        ks(b, "user", user);
        ks(b, "method", "local");
        b.push_str(",\"success\":false");
        ks(b, "error", "invalid credentials");
        ks(b, "user_agent", "python-requests/2.31.0");
        self.tp_addr(e, Some(BRUTE_FORCE_IP));
        self.end();
    }

    pub(in crate::demo) fn user_password_change(&mut self, e: &mut Ev) {
        self.tp_head(e, "user.password_change", "T1005I");
        self.tp_user_meta(e);
        self.end();
    }
}
