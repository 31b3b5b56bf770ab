//! GitHub organization audit-log entries: git operations, pull requests, workflows, repository
//! and membership administration.

use super::*;

impl Render {
    /// `{"@timestamp":…,"_document_id":…,"action":…,"actor":…` plus location and org.
    pub(super) fn gh_head(&mut self, e: &mut Ev, action: &str) {
        let (actor, actor_id, ip, cc) = match &e.who {
            Who::P(p) => {
                let (c, ip) = p.ip(&mut e.r);
                (
                    p.gh,
                    p.gh_id,
                    ip.to_string(),
                    e.w.cities[c].country.iso_code.clone(),
                )
            }
            _ => (
                "github-actions[bot]",
                41_898_282,
                e.t.ci_ip.clone(),
                "US".to_string(),
            ),
        };
        let b = &mut self.b;
        b.push_str("{\"@timestamp\":");
        push_i64(b, e.ts);
        b.push_str(",\"_document_id\":\"");
        push_chars(b, &mut e.r, B64URL, 22);
        b.push('"');
        ks(b, "action", action);
        ks(b, "actor", actor);
        kn(b, "actor_id", actor_id as i64);
        ks(b, "actor_ip", &ip);
        b.push_str(",\"actor_location\":{\"country_code\":\"");
        b.push_str(&cc);
        b.push_str("\"}");
        ks(b, "business", e.t.id);
        kn(b, "created_at", e.ts);
        ks(b, "org", e.t.def.gh_org);
        kn(b, "org_id", e.t.def.gh_org_id as i64);
    }

    pub(super) fn gh_repo(&mut self, repo: &str, repo_id: u64) {
        ks(&mut self.b, "repo", repo);
        kn(&mut self.b, "repo_id", repo_id as i64);
    }

    pub(super) fn gh_git(&mut self, e: &mut Ev, k: Kind) {
        let action = match k {
            GhClone => "git.clone",
            GhFetch => "git.fetch",
            _ => "git.push",
        };
        self.gh_head(e, action);
        let ri = e.r.below(e.t.def.repos.len() as u64) as usize;
        let repo = e.t.def.repos[ri];
        self.gh_repo(repo, 600_000_000 + ri as u64 * 7919);
        let ssh = e.r.chance(0.4);
        let b = &mut self.b;
        ks(b, "repository", repo);
        b.push_str(",\"repository_public\":false");
        kn(b, "transport_protocol", if ssh { 2 } else { 1 });
        ks(
            b,
            "transport_protocol_name",
            if ssh { "ssh" } else { "http" },
        );
        ks(
            b,
            "operation_type",
            if k == GhPush { "modify" } else { "access" },
        );
        ks(b, "user_agent", "git/2.44.0");
        self.end();
    }

    pub(super) fn gh_admin(&mut self, e: &mut Ev, k: Kind) {
        let action = match k {
            GhPrCreate => "pull_request.create",
            GhPrMerge => "pull_request.merge",
            GhWorkflowRun => "workflows.completed_workflow_run",
            GhRepoCreate => "repo.create",
            GhUpdateMember => "org.update_member",
            GhBranchUpdate => "protected_branch.update",
            GhRepoAccess => "repo.access",
            _ => "team.add_member",
        };
        self.gh_head(e, action);
        let ri = e.r.below(e.t.def.repos.len() as u64) as usize;
        let repo = e.t.def.repos[ri];
        let repo_id = 600_000_000 + ri as u64 * 7919;
        let ua = e
            .person()
            .map(|p| BROWSERS[p.browser].0)
            .unwrap_or("GitHub-Hookshot");
        match k {
            GhPrCreate | GhPrMerge => {
                self.gh_repo(repo, repo_id);
                let b = &mut self.b;
                kn(
                    b,
                    "pull_request_id",
                    1_800_000_000 + e.r.below(100_000_000) as i64,
                );
                let t = e.r.one(&[
                    "Fix flaky test",
                    "Bump dependencies",
                    "Add audit export",
                    "Refactor auth middleware",
                ]);
                ks(b, "pull_request_title", t);
                ks(
                    b,
                    "operation_type",
                    if k == GhPrCreate { "create" } else { "modify" },
                );
            }
            GhWorkflowRun => {
                self.gh_repo(repo, repo_id);
                let b = &mut self.b;
                ks(b, "name", e.r.one(&["CI", "Deploy", "CodeQL"]));
                ks(b, "event", "push");
                ks(b, "head_branch", "main");
                ks(
                    b,
                    "conclusion",
                    if e.r.chance(0.9) {
                        "success"
                    } else {
                        "failure"
                    },
                );
                kn(b, "run_number", 1000 + e.r.below(9000) as i64);
                kn(
                    b,
                    "workflow_run_id",
                    8_000_000_000 + e.r.below(900_000_000) as i64,
                );
                ks(b, "operation_type", "modify");
            }
            GhRepoCreate => {
                let name = format!("{}/sandbox-{:04x}", e.t.def.gh_org, e.r.below(0xffff));
                self.gh_repo(&name, 700_000_000 + e.r.below(10_000_000));
                let b = &mut self.b;
                ks(b, "visibility", "private");
                b.push_str(",\"public_repo\":false");
                ks(b, "operation_type", "create");
            }
            GhUpdateMember => {
                let target = e.any_person().gh;
                let b = &mut self.b;
                ks(b, "user", target);
                let up = e.r.chance(0.5);
                ks(b, "permission", if up { "admin" } else { "read" });
                ks(b, "old_permission", if up { "read" } else { "admin" });
                ks(b, "operation_type", "modify");
            }
            GhBranchUpdate => {
                // Editing the rules is routine; overriding or deleting them is what
                // `github_protection_weakened` looks for, and routine work never does.
                self.gh_repo(repo, repo_id);
                let b = &mut self.b;
                ks(b, "branch", "refs/heads/main");
                ks(b, "name", "main");
                kn(b, "required_approving_review_count", e.r.range(1, 3));
                ks(b, "operation_type", "modify");
            }
            GhRepoAccess => {
                // Routine visibility changes stay non-public; the one public flip is a story.
                self.gh_repo(repo, repo_id);
                let b = &mut self.b;
                let to_internal = e.r.chance(0.5);
                ks(
                    b,
                    "visibility",
                    if to_internal { "internal" } else { "private" },
                );
                ks(
                    b,
                    "previous_visibility",
                    if to_internal { "private" } else { "internal" },
                );
                ks(b, "operation_type", "modify");
            }
            _ => {
                let target = e.any_person().gh;
                let team = format!(
                    "{}/{}",
                    e.t.def.gh_org,
                    e.r.pick(&["platform", "backend", "security"])
                );
                let b = &mut self.b;
                ks(b, "team", &team);
                ks(b, "user", target);
                ks(b, "operation_type", "modify");
            }
        }
        ks(&mut self.b, "user_agent", ua);
        self.end();
    }

    pub(super) fn gh_repo_public(&mut self, e: &mut Ev) {
        self.gh_head(e, "repo.access");
        let repo = format!("{}/internal-tools", e.t.def.gh_org);
        let ri = e.t.def.repos.iter().position(|r| *r == repo).unwrap_or(0);
        self.gh_repo(&repo, 600_000_000 + ri as u64 * 7919);
        let ua = e.person().map(|p| BROWSERS[p.browser].0).unwrap_or("");
        let b = &mut self.b;
        ks(b, "visibility", "public");
        ks(b, "previous_visibility", "private");
        ks(b, "operation_type", "modify");
        ks(b, "user_agent", ua);
        self.end();
    }
}
