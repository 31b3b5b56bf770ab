//! Teleport session events: SSH sessions and commands, exec, Kubernetes requests, database
//! sessions and queries, Windows desktop sessions.

use super::super::*;

impl Render {
    pub(in crate::demo) fn db_pick(e: &mut Ev) -> (&'static DbDef, &'static str, &'static str) {
        let db = e.r.pick(e.t.def.dbs);
        let mut user = e.r.weighted(db.users);
        // Only admins and the backup bot are allowed the superuser.
        let privileged = matches!(&e.who, Who::P(p) if p.admin) || matches!(&e.who, Who::B(_));
        if (user == "postgres" || user == "root") && !privileged && e.r.chance(0.6) {
            user = db.users[0].0;
        }
        (db, user, e.r.one(db.names))
    }

    pub(in crate::demo) fn db_common(&mut self, db: &DbDef, user: &str, name: &str, sid: &str) {
        let b = &mut self.b;
        ks(b, "sid", sid);
        ks(b, "db_service", db.service);
        ks(b, "db_protocol", db.protocol);
        ks(b, "db_uri", db.uri);
        ks(b, "db_user", user);
        ks(b, "db_name", name);
    }

    pub(in crate::demo) fn db_session_start(&mut self, e: &mut Ev) {
        let (db, user, name) = Self::db_pick(e);
        let fail = e.r.chance(0.04);
        self.tp_head(
            e,
            "db.session.start",
            if fail { "TDB00W" } else { "TDB00I" },
        );
        self.tp_user_meta(e);
        let sid = uuid_string(&mut e.r);
        self.db_common(db, user, name, &sid);
        let b = &mut self.b;
        ks(b, "db_type", db.ty);
        ks(
            b,
            "db_origin",
            if db.ty == "rds" { "cloud" } else { "config" },
        );
        if !db.region.is_empty() {
            ks(b, "db_aws_region", db.region);
        }
        ku(b, "server_id", &mut e.r);
        ks(b, "namespace", "default");
        b.push_str(if fail {
            ",\"success\":false"
        } else {
            ",\"success\":true"
        });
        if fail {
            let msg = format!(
                "access to db denied. User does not have permissions. Confirm database user and name. ({user})"
            );
            ks(b, "error", &msg);
        }
        self.tp_addr(e, None);
        self.tp_weak(e, 0.2, 0.3);
        if matches!(e.who, Who::P(_)) {
            ks(
                &mut self.b,
                "user_agent",
                if db.protocol == "postgres" {
                    "psql"
                } else {
                    "mysql"
                },
            );
        }
        self.end();
    }

    pub(in crate::demo) fn db_query(&mut self, e: &mut Ev, failed: bool) {
        let (db, user, name) = Self::db_pick(e);
        self.tp_head(
            e,
            if failed {
                "db.session.query.failed"
            } else {
                "db.session.query"
            },
            if failed { "TDB02W" } else { "TDB02I" },
        );
        self.tp_user_meta(e);
        let sid = uuid_string(&mut e.r);
        self.db_common(db, user, name, &sid);
        let (q, params, err): (&str, &[&str], &str) = if failed {
            e.r.one(&[
                (
                    "DROP TABLE audit_log",
                    &[][..],
                    "ERROR: permission denied for table audit_log (SQLSTATE 42501)",
                ),
                (
                    "SELECT * FROM payroll",
                    &[][..],
                    "ERROR: relation \"payroll\" does not exist (SQLSTATE 42P01)",
                ),
                (
                    "UPDATE users SET role = $1 WHERE id = $2",
                    &["admin", "1042"][..],
                    "ERROR: permission denied for table users (SQLSTATE 42501)",
                ),
            ])
        } else if db.protocol == "mysql" {
            e.r.one(&[
                ("SELECT * FROM customers LIMIT 50", &[][..], ""),
                ("SHOW TABLES", &[][..], ""),
                (
                    "SELECT id, status FROM orders WHERE id = ?",
                    &["88123"][..],
                    "",
                ),
            ])
        } else {
            e.r.one(&[
                (
                    "SELECT id, email FROM users WHERE id = $1",
                    &["1042"][..],
                    "",
                ),
                (
                    "SELECT count(*) FROM orders WHERE created_at > now() - interval '1 day'",
                    &[][..],
                    "",
                ),
                (
                    "UPDATE invoices SET status = $1 WHERE id = $2",
                    &["paid", "77120"][..],
                    "",
                ),
                ("SELECT * FROM pg_stat_activity", &[][..], ""),
                ("COPY (SELECT * FROM events) TO STDOUT", &[][..], ""),
            ])
        };
        let b = &mut self.b;
        ks(b, "db_query", q);
        if !params.is_empty() {
            ka(b, "db_query_parameters", params);
        }
        b.push_str(if failed {
            ",\"success\":false"
        } else {
            ",\"success\":true"
        });
        if failed {
            ks(b, "error", err);
        }
        self.end();
    }

    pub(in crate::demo) fn exec(&mut self, e: &mut Ev) {
        let kube = matches!(e.who, Who::B(b) if b.def.method == "github") || e.r.chance(0.25);
        let fail = e.r.chance(0.05);
        self.tp_head(e, "exec", if fail { "T3002E" } else { "T3002I" });
        self.tp_user_meta(e);
        let login = self.tp_login(e);
        ks(&mut self.b, "login", login);
        ku(&mut self.b, "sid", &mut e.r);
        self.tp_addr(e, None);
        if kube {
            let cluster = e.r.one(e.t.def.kube);
            let (user, _) = e.tp_user();
            let user = user.to_string();
            let ns = e.r.one(&["default", "payments", "web", "monitoring"]);
            let b = &mut self.b;
            ks(b, "proto", "kube");
            ks(b, "kubernetes_cluster", cluster);
            ka(b, "kubernetes_users", &[&user]);
            ka(b, "kubernetes_groups", &["developers"]);
            ks(b, "kubernetes_pod_namespace", ns);
            b.push_str(",\"kubernetes_pod_name\":\"api-");
            push_hex(b, &mut e.r, 10);
            b.push('-');
            push_chars(b, &mut e.r, b"bcdfghjklmnpqrstvwxz2456789", 5);
            b.push('"');
            ks(b, "kubernetes_container_name", "app");
            ks(b, "kubernetes_container_image", "ghcr.io/acme/api:1.42.0");
            ku(b, "server_id", &mut e.r);
            let cmd = e.r.one(&[
                "sh -c env",
                "/bin/sh",
                "cat /etc/passwd",
                "ls /app/config",
                "python manage.py shell",
            ]);
            ks(b, "command", cmd);
        } else {
            ks(&mut self.b, "proto", "ssh");
            self.tp_server(e, 3022);
            let cmd = e.r.one(&[
                "systemctl status nginx",
                "journalctl -u app --since '1 hour ago'",
                "df -h",
                "cat /etc/passwd",
                "sudo tail -n 100 /var/log/syslog",
                "uptime",
                "docker ps",
                "ansible-playbook site.yml --check",
            ]);
            ks(&mut self.b, "command", cmd);
        }
        let b = &mut self.b;
        ks(b, "exitCode", if fail { "1" } else { "0" });
        if fail {
            ks(b, "exitError", "exit status 1");
        }
        self.end();
    }

    pub(in crate::demo) fn kube_request(&mut self, e: &mut Ev) {
        self.tp_head(e, "kube.request", "T3009I");
        self.tp_user_meta(e);
        let (user, _) = e.tp_user();
        let user = user.to_string();
        let cluster = e.r.one(e.t.def.kube);
        let masters = match &e.who {
            Who::P(p) => p.admin && e.r.chance(0.35) || e.r.chance(0.03),
            _ => e.r.chance(0.1),
        };
        let b = &mut self.b;
        let login = user.split('@').next().unwrap_or(&user).to_string();
        ks(b, "login", &login);
        ks(b, "proto", "kube");
        ks(b, "kubernetes_cluster", cluster);
        ka(b, "kubernetes_users", &[&user]);
        ka(
            b,
            "kubernetes_groups",
            if masters {
                &["system:masters"]
            } else {
                &["developers"]
            },
        );
        let (verb, ns, kind, name) = (
            e.r.one(&[
                "GET", "GET", "GET", "LIST", "WATCH", "POST", "PATCH", "DELETE",
            ]),
            e.r.one(&["default", "payments", "web", "monitoring", "kube-system"]),
            e.r.one(&[
                "pods",
                "pods",
                "deployments",
                "services",
                "configmaps",
                "secrets",
            ]),
            e.r.one(&["api", "web", "worker", "redis", "ingress"]),
        );
        ks(b, "verb", verb);
        let group = if kind == "deployments" {
            "apps/v1"
        } else {
            "core/v1"
        };
        let path = if kind == "deployments" {
            format!("/apis/apps/v1/namespaces/{ns}/{kind}/{name}")
        } else {
            format!("/api/v1/namespaces/{ns}/{kind}/{name}")
        };
        ks(b, "request_path", &path);
        ks(b, "resource_api_group", group);
        ks(b, "resource_kind", kind);
        ks(b, "resource_name", name);
        ks(b, "resource_namespace", ns);
        let code = if e.r.chance(0.06) {
            403
        } else if verb == "POST" {
            201
        } else {
            200
        };
        kn(b, "response_code", code);
        ku(b, "server_id", &mut e.r);
        self.tp_addr(e, None);
        self.tp_weak(e, 0.1, 0.15);
        self.end();
    }

    pub(in crate::demo) fn session_command(&mut self, e: &mut Ev) {
        self.tp_head(e, "session.command", "T4000I");
        self.tp_user_meta(e);
        let login = self.tp_login(e);
        ks(&mut self.b, "login", login);
        ku(&mut self.b, "sid", &mut e.r);
        self.tp_server(e, 3022);
        let (program, path, argv): (&str, &str, &[&str]) = e.r.one(&[
            ("ls", "/usr/bin/ls", &["-la"][..]),
            ("cat", "/usr/bin/cat", &["/etc/hosts"][..]),
            (
                "sudo",
                "/usr/bin/sudo",
                &["systemctl", "restart", "app"][..],
            ),
            (
                "curl",
                "/usr/bin/curl",
                &["-s", "http://localhost:8080/health"][..],
            ),
            ("vim", "/usr/bin/vim", &["/etc/nginx/nginx.conf"][..]),
            ("ps", "/usr/bin/ps", &["aux"][..]),
            ("cat", "/usr/bin/cat", &["/etc/passwd"][..]),
            (
                "python3",
                "/usr/bin/python3",
                &["/opt/ansible/module.py"][..],
            ),
        ]);
        let b = &mut self.b;
        let pid = 1000 + e.r.below(60_000);
        kn(b, "pid", pid as i64);
        kn(b, "ppid", (pid - 1 - e.r.below(500).min(pid - 1)) as i64);
        kn(b, "cgroup_id", 4_294_967_000 + e.r.below(10_000) as i64);
        ks(b, "program", program);
        ks(b, "path", path);
        ka(b, "argv", argv);
        kn(b, "return_code", if e.r.chance(0.05) { 1 } else { 0 });
        self.end();
    }

    pub(in crate::demo) fn session_join(&mut self, e: &mut Ev) {
        self.tp_head(e, "session.join", "T2001I");
        self.tp_user_meta(e);
        let login = self.tp_login(e);
        ks(&mut self.b, "login", login);
        ku(&mut self.b, "sid", &mut e.r);
        ks(&mut self.b, "proto", "ssh");
        self.tp_server(e, 3022);
        self.tp_addr(e, None);
        self.end();
    }

    pub(in crate::demo) fn session_rejected(&mut self, e: &mut Ev) {
        self.tp_head(e, "session.rejected", "T1006W");
        self.tp_user_meta(e);
        let login = self.tp_login(e);
        ks(&mut self.b, "login", login);
        ks(&mut self.b, "proto", "ssh");
        self.tp_server(e, 3022);
        self.tp_addr(e, None);
        let b = &mut self.b;
        ks(
            b,
            "reason",
            "the maximum number of concurrent sessions for this user has been reached",
        );
        kn(b, "max", 2);
        self.end();
    }

    pub(in crate::demo) fn session_start(&mut self, e: &mut Ev, ip_override: Option<&str>) {
        self.tp_head(e, "session.start", "T2000I");
        self.tp_user_meta(e);
        let kube = ip_override.is_none() && e.r.chance(0.15);
        let login = if ip_override.is_some() {
            "root"
        } else {
            self.tp_login(e)
        };
        let sid = uuid_string(&mut e.r);
        let b = &mut self.b;
        ks(b, "login", login);
        ks(b, "sid", &sid);
        if kube {
            let (user, _) = e.tp_user();
            let user = user.to_string();
            let cluster = e.r.one(e.t.def.kube);
            let b = &mut self.b;
            ks(b, "proto", "kube");
            ks(b, "kubernetes_cluster", cluster);
            ka(b, "kubernetes_users", &[&user]);
            ka(b, "kubernetes_groups", &["developers"]);
            ks(b, "kubernetes_pod_namespace", "default");
            b.push_str(",\"kubernetes_pod_name\":\"debug-");
            push_hex(b, &mut e.r, 5);
            b.push('"');
            ku(b, "server_id", &mut e.r);
            ks(b, "session_recording", "node");
        } else {
            ks(b, "proto", "ssh");
            ks(b, "size", e.r.one(&["80:25", "120:40", "211:58"]));
            self.tp_server(e, 3022);
            ks(&mut self.b, "session_recording", "node");
            if e.r.chance(0.2) {
                let cmd = e.r.one(&["uptime", "sudo -i", "tail -f /var/log/app.log"]);
                ka(&mut self.b, "initial_command", &[cmd]);
            }
        }
        self.tp_addr(e, ip_override);
        if ip_override.is_none() {
            self.tp_weak(e, 0.12, 0.4);
        }
        ks(&mut self.b, "private_key_policy", "none");
        self.end();
    }

    pub(in crate::demo) fn desktop(&mut self, e: &mut Ev, end: bool) {
        // Start and end share the pair's draws: same desktop, same session id.
        let mut pr = e.pair.clone();
        let (desk, addr) = pr.one(e.t.def.desktops);
        let sid = uuid_string(&mut pr);
        let service = uuid_string(&mut pr);
        let winuser = if pr.chance(0.3) {
            "Administrator"
        } else {
            "svc-build"
        };
        let started = e.ts
            - if end {
                pair_gap(DesktopStart, e.aux)
            } else {
                0
            };
        self.tp_head(
            e,
            if end {
                "windows.desktop.session.end"
            } else {
                "windows.desktop.session.start"
            },
            if end { "TDP01I" } else { "TDP00I" },
        );
        self.tp_user_meta(e);
        let (user, _) = e.tp_user();
        let user = user.to_string();
        let b = &mut self.b;
        ks(b, "sid", &sid);
        ks(b, "desktop_name", desk);
        let a = format!("{addr}:3389");
        ks(b, "desktop_addr", &a);
        b.push_str(",\"desktop_labels\":{\"env\":\"prod\",\"os\":\"windows\"}");
        ks(b, "windows_user", winuser);
        let domain = e.t.id.to_uppercase();
        ks(b, "windows_domain", &domain);
        ks(b, "windows_desktop_service", &service);
        b.push_str(",\"allow_user_creation\":false");
        ks(b, "proto", "tdp");
        if end {
            kt(b, "session_start", started, Ts::Go);
            kt(b, "session_stop", e.ts, Ts::Go);
            ka(b, "participants", &[&user]);
            b.push_str(",\"recorded\":true");
        } else {
            b.push_str(",\"success\":true");
            self.tp_addr(e, None);
        }
        self.end();
    }
}
