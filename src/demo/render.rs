//! Rendering one planned slot: the actor, the event's own and paired draws (`Ev`), and the
//! dispatch from an event kind to its source's renderer (`teleport`, `cloudtrail`, `github`,
//! `okta`).

use super::*;

pub(super) enum Who<'a> {
    P(&'a Person),
    B(&'a Bot),
    /// CloudTrail's CI role or an AWS service; GitHub's Actions bot.
    Other,
}

pub(super) struct Render {
    pub(super) b: String,
}

/// Everything a renderer needs about one event.
pub(super) struct Ev<'a> {
    pub(super) w: &'a World,
    pub(super) t: &'a Tenant,
    pub(super) ts: i64,
    pub(super) who: Who<'a>,
    /// This event's own draws.
    pub(super) r: Rng,
    /// Draws shared by both halves of a paired event (same request id, same desktop session).
    pub(super) pair: Rng,
    pub(super) aux: u64,
}

impl<'a> Ev<'a> {
    pub(super) fn person(&self) -> Option<&'a Person> {
        match self.who {
            Who::P(p) => Some(p),
            _ => None,
        }
    }
    pub(super) fn any_person(&mut self) -> &Person {
        let i = self.t.pick_person(&mut self.r);
        &self.t.people[i]
    }
    /// The Teleport user name and kind (1 human, 2 bot) of the actor.
    pub(super) fn tp_user(&self) -> (&'a str, i64) {
        match &self.who {
            Who::P(p) => (&p.email, 1),
            Who::B(b) => (&b.user, 2),
            Who::Other => ("system", 2),
        }
    }
    pub(super) fn ip(&mut self) -> (usize, String) {
        match &self.who {
            Who::P(p) => {
                let (c, ip) = p.ip(&mut self.r);
                (c, ip.to_string())
            }
            Who::B(b) => (b.city, b.ip.clone()),
            Who::Other => (self.w.city("ashburn"), self.t.ci_ip.clone()),
        }
    }
    pub(super) fn server(&mut self) -> &Server {
        let i = self.r.below(self.t.servers.len() as u64) as usize;
        &self.t.servers[i]
    }
}

impl Render {
    pub(super) fn render(&mut self, w: &World, t: &Tenant, s: &Slot) {
        self.b.clear();
        let a = usize::from(s.actor);
        let who = if a < t.people.len() {
            Who::P(&t.people[a])
        } else if a - t.people.len() < t.bots.len() {
            Who::B(&t.bots[a - t.people.len()])
        } else {
            Who::Other
        };
        let mut e = Ev {
            w,
            t,
            ts: s.t,
            who,
            r: Rng::new(mix(s.aux, s.kind as u64 + 1)),
            pair: Rng::new(s.aux),
            aux: s.aux,
        };
        let k = s.kind;
        match k {
            AccessListCreate | AccessListUpdate | AccessListDelete | AccessListReview => {
                self.access_list(&mut e, k)
            }
            AccessListMemberCreate | AccessListMemberUpdate | AccessListMemberDelete => {
                self.access_list_member(&mut e, k)
            }
            AccessRequestCreate | AccessRequestReview => self.access_request(&mut e, k),
            Auth => self.auth(&mut e),
            BotJoin => self.bot_join(&mut e),
            CertCreate => self.cert_create(&mut e, None),
            DbSessionQuery | DbSessionQueryFailed => {
                self.db_query(&mut e, k == DbSessionQueryFailed)
            }
            DbSessionStart => self.db_session_start(&mut e),
            DeviceAuthenticate | DeviceEnroll => self.device(&mut e, k),
            Exec => self.exec(&mut e),
            InstanceJoin => self.instance_join(&mut e),
            JoinTokenCreate => self.join_token_create(&mut e),
            KubeRequest => self.kube_request(&mut e),
            LockCreated | LockDeleted => self.lock(&mut e, k),
            RecoveryCodeUsed => self.recovery_code_used(&mut e),
            ResetPasswordTokenCreate => self.reset_password_token(&mut e),
            SamlIdpAuth => self.saml_idp_auth(&mut e),
            SessionCommand => self.session_command(&mut e),
            SessionJoin => self.session_join(&mut e),
            SessionRejected => self.session_rejected(&mut e),
            SessionStart => self.session_start(&mut e, None),
            UserCreate => self.user_create(&mut e),
            UserLogin => {
                let fail = e.r.chance(0.06);
                self.user_login(&mut e, None, fail)
            }
            UserPasswordChange => self.user_password_change(&mut e),
            DesktopStart | DesktopEnd => self.desktop(&mut e, k == DesktopEnd),
            CtConsoleLogin => self.ct_console_login(&mut e, false),
            CtAssumeRole | CtWebIdentity | CtServiceAssumeRole => self.ct_assume_role(&mut e, k),
            CtCreateAccessKey | CtDeleteAccessKey => {
                self.ct_access_key(&mut e, k == CtDeleteAccessKey)
            }
            CtPutObject | CtGetObject => self.ct_s3(&mut e, k == CtPutObject),
            CtDescribeInstances | CtListBuckets | CtGetCallerIdentity => self.ct_read(&mut e, k),
            GhClone | GhFetch | GhPush => self.gh_git(&mut e, k),
            GhPrCreate | GhPrMerge | GhWorkflowRun | GhRepoCreate | GhUpdateMember
            | GhBranchUpdate | GhRepoAccess | GhTeamAddMember => self.gh_admin(&mut e, k),
            OkSessionStart => {
                let fail = e.r.chance(0.05);
                self.okta_session_start(&mut e, None, fail)
            }
            OkMfa => {
                let fail = e.r.chance(0.07);
                self.okta_mfa(&mut e, None, fail)
            }
            OkSso | OkPolicy | OkSessionEnd | OkPasswordUpdate => self.okta_user_event(&mut e, k),
            OkGroupAdd => self.okta_admin_event(&mut e, "group.user_membership.add"),
            StRootLogin => self.ct_console_login(&mut e, true),
            StRootCall => self.ct_root_call(&mut e),
            StBruteForce => self.brute_force(&mut e, s.aux),
            StNewCountryLogin => {
                let lagos = w.city("lagos");
                self.okta_session_start(&mut e, Some(lagos), false)
            }
            StNewCountryMfa => {
                let lagos = w.city("lagos");
                self.okta_mfa(&mut e, Some(lagos), false)
            }
            StRepoPublic => self.gh_repo_public(&mut e),
            StTravelOkta => {
                let berlin = w.city("berlin");
                self.okta_session_start(&mut e, Some(berlin), false)
            }
            StTravelLogin => {
                let ip = self.travel_ip(w);
                self.user_login(&mut e, Some(&ip), false)
            }
            StTravelCert => {
                let ip = self.travel_ip(w);
                self.cert_create(&mut e, Some(&ip))
            }
            StTravelSession => {
                let ip = self.travel_ip(w);
                self.session_start(&mut e, Some(&ip))
            }
            StMfaReset => self.okta_admin_event(&mut e, "user.mfa.factor.reset_all"),
            StStopLogging | StStartLogging => self.ct_trail(&mut e, k == StStopLogging),
        }
    }

    pub(super) fn travel_ip(&self, w: &World) -> String {
        w.cities[w.city("sydney")].host(0x0051_d4e7).to_string()
    }
}
