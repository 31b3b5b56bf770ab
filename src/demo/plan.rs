//! Planning a day: which routine events happen when and by whom (the source mix, working hours
//! in each person's time zone, weekends, paired events), as `Slot`s the renderers turn into text.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    // Teleport: the 35 Access Monitoring event types.
    AccessListCreate,
    AccessListUpdate,
    AccessListDelete,
    AccessListReview,
    AccessListMemberCreate,
    AccessListMemberUpdate,
    AccessListMemberDelete,
    AccessRequestCreate,
    AccessRequestReview,
    Auth,
    BotJoin,
    CertCreate,
    DbSessionQuery,
    DbSessionQueryFailed,
    DbSessionStart,
    DeviceAuthenticate,
    DeviceEnroll,
    Exec,
    InstanceJoin,
    JoinTokenCreate,
    KubeRequest,
    LockCreated,
    LockDeleted,
    RecoveryCodeUsed,
    ResetPasswordTokenCreate,
    SamlIdpAuth,
    SessionCommand,
    SessionJoin,
    SessionRejected,
    SessionStart,
    UserCreate,
    UserLogin,
    UserPasswordChange,
    DesktopStart,
    DesktopEnd,
    // CloudTrail
    CtConsoleLogin,
    CtAssumeRole,
    CtWebIdentity,
    CtServiceAssumeRole,
    CtCreateAccessKey,
    CtDeleteAccessKey,
    CtPutObject,
    CtGetObject,
    CtDescribeInstances,
    CtListBuckets,
    CtGetCallerIdentity,
    // GitHub
    GhClone,
    GhFetch,
    GhPush,
    GhPrCreate,
    GhPrMerge,
    GhWorkflowRun,
    GhRepoCreate,
    GhUpdateMember,
    /// Branch-protection settings edited (routine; overriding or removing them is not).
    GhBranchUpdate,
    GhRepoAccess,
    GhTeamAddMember,
    // Okta
    OkSessionStart,
    OkMfa,
    OkSso,
    OkPolicy,
    OkSessionEnd,
    /// An admin adds a person to a group (routine; granting admin roles is not).
    OkGroupAdd,
    OkPasswordUpdate,
    // Stories
    StRootLogin,
    StRootCall,
    StBruteForce,
    StNewCountryLogin,
    StNewCountryMfa,
    StRepoPublic,
    StTravelOkta,
    StTravelLogin,
    StTravelCert,
    StTravelSession,
    StMfaReset,
    StStopLogging,
    StStartLogging,
}

/// The actor of events by neither a person nor a bot: CloudTrail's CI role and AWS services,
/// GitHub's Actions bot, the joining instance.
pub(super) const OTHER: u16 = u16::MAX;

/// One planned event. Rendering depends only on the slot, so planning fixes the output.
#[derive(Clone, Copy)]
pub(super) struct Slot {
    pub(super) t: i64,
    pub(super) seq: u32,
    pub(super) tenant: u8,
    pub(super) kind: Kind,
    /// Index into the tenant's people, or `people.len() + bot index`, or `OTHER`.
    pub(super) actor: u16,
    /// Seeds the event's own PRNG; paired events share it (a request and its review).
    pub(super) aux: u64,
}

pub(super) const TP_HUMAN: &[(Kind, u32)] = &[
    (KubeRequest, 220),
    (SessionCommand, 140),
    (DbSessionQuery, 120),
    (SessionStart, 110),
    (Exec, 90),
    (CertCreate, 90),
    (DbSessionStart, 60),
    (UserLogin, 60),
    (DeviceAuthenticate, 30),
    (SamlIdpAuth, 20),
    (SessionJoin, 15),
    (DbSessionQueryFailed, 10),
    (Auth, 10),
    (DesktopStart, 10),
];

pub(super) const CT_HUMAN: &[(Kind, u32)] = &[
    (CtConsoleLogin, 100),
    (CtAssumeRole, 220),
    (CtGetObject, 140),
    (CtPutObject, 120),
    (CtDescribeInstances, 160),
    (CtListBuckets, 60),
    (CtGetCallerIdentity, 80),
    (CtCreateAccessKey, 4),
    (CtDeleteAccessKey, 3),
];

pub(super) const CT_CI: &[(Kind, u32)] = &[
    (CtWebIdentity, 20),
    (CtPutObject, 40),
    (CtGetObject, 20),
    (CtDescribeInstances, 20),
];

pub(super) const GH_HUMAN: &[(Kind, u32)] = &[
    (GhClone, 250),
    (GhFetch, 250),
    (GhPush, 200),
    (GhPrCreate, 80),
    (GhPrMerge, 60),
    (GhWorkflowRun, 80),
    (GhRepoCreate, 4),
    (GhUpdateMember, 3),
    (GhBranchUpdate, 3),
    (GhRepoAccess, 2),
    (GhTeamAddMember, 4),
];

pub(super) const OK_HUMAN: &[(Kind, u32)] = &[
    (OkSso, 350),
    (OkSessionStart, 200),
    (OkMfa, 200),
    (OkPolicy, 150),
    (OkSessionEnd, 80),
    (OkGroupAdd, 2),
    (OkPasswordUpdate, 10),
];

/// Admin events a day per tenant (probability of one; counts for the `n` ones): these follow
/// the size of the company, not the traffic.
pub(super) const TP_DAILY: &[(Kind, f64)] = &[
    (AccessListCreate, 0.3),
    (AccessListUpdate, 0.4),
    (AccessListDelete, 0.15),
    (AccessListReview, 0.3),
    (AccessListMemberCreate, 0.4),
    (AccessListMemberUpdate, 0.3),
    (AccessListMemberDelete, 0.3),
    (DeviceEnroll, 0.3),
    (JoinTokenCreate, 0.5),
    (LockCreated, 0.25),
    (RecoveryCodeUsed, 0.1),
    (ResetPasswordTokenCreate, 0.2),
    (UserCreate, 0.2),
    (UserPasswordChange, 0.3),
    (SessionRejected, 0.6),
];

pub(super) fn plan_day(
    w: &World,
    spec: &DemoSpec,
    day: i64,
    weekend: bool,
    r: &mut Rng,
    out: &mut Vec<Slot>,
) {
    let teleport_only = spec.sources == DemoSources::TeleportOnly;
    for (ti, t) in w.tenants.iter().enumerate() {
        let tenant = ti as u8;
        let volume = f64::from(spec.events_per_day) * t.def.share * if weekend { 0.3 } else { 1.0 };
        let n = volume.round() as u64;
        let human_p = if weekend { 0.5 } else { 0.85 };
        let nb = t.people.len() as u16;
        for _ in 0..n {
            let src = if teleport_only { 0 } else { r.below(100) };
            let human = r.chance(human_p);
            let (kind, actor) = if src < 55 {
                if human || t.bots.is_empty() {
                    (r.weighted(TP_HUMAN), t.pick_person(r) as u16)
                } else {
                    let b = r.below(t.bots.len() as u64) as usize;
                    (r.weighted(t.bots[b].def.kinds), nb + b as u16)
                }
            } else if src < 80 {
                let x = r.below(100);
                if x < 80 {
                    (r.weighted(CT_HUMAN), t.pick_person(r) as u16)
                } else if x < 92 {
                    (r.weighted(CT_CI), OTHER)
                } else {
                    (CtServiceAssumeRole, OTHER)
                }
            } else if src < 90 {
                let k = if human { r.weighted(GH_HUMAN) } else { GhClone };
                (
                    k,
                    if human {
                        t.pick_person(r) as u16
                    } else {
                        OTHER
                    },
                )
            } else {
                (r.weighted(OK_HUMAN), t.pick_person(r) as u16)
            };
            let ts = if usize::from(actor) < t.people.len() {
                work_time(r, day, t.people[usize::from(actor)].offset_min)
            } else {
                day + r.below(DAY_MS as u64) as i64
            };
            push_slot(out, r, day, ts, tenant, kind, actor);
        }
        {
            // Admin events (Teleport): part of every demo, whatever the sources.
            for (kind, p) in TP_DAILY {
                let p = if weekend { p * 0.3 } else { *p };
                if r.chance(p) {
                    let a = admin_or_anyone(t, r);
                    let ts = work_time(r, day, t.people[usize::from(a)].offset_min);
                    push_slot(out, r, day, ts, tenant, *kind, a);
                }
            }
            let joins = if weekend { 1 } else { 2 + r.below(4) };
            for _ in 0..joins {
                let ts = day + r.below(DAY_MS as u64) as i64;
                push_slot(out, r, day, ts, tenant, InstanceJoin, OTHER);
            }
            let requests = if weekend { r.below(2) } else { 1 + r.below(4) };
            for _ in 0..requests {
                let a = t.pick_person(r) as u16;
                let ts = work_time(r, day, t.people[usize::from(a)].offset_min);
                push_slot(out, r, day, ts, tenant, AccessRequestCreate, a);
            }
            for b in 0..t.bots.len() {
                let ts = day + r.below(DAY_MS as u64) as i64;
                push_slot(out, r, day, ts, tenant, BotJoin, nb + b as u16);
            }
        }
    }
}

pub(super) fn admin_or_anyone(t: &Tenant, r: &mut Rng) -> u16 {
    let admins: Vec<usize> = (0..t.people.len()).filter(|i| t.people[*i].admin).collect();
    if admins.is_empty() || r.chance(0.2) {
        t.pick_person(r) as u16
    } else {
        r.one(&admins) as u16
    }
}

/// A time in someone's working day (08:00–19:00 local, peaked early afternoon; 7 % anywhere),
/// folded into the UTC day `day` so that every event stays within its date.
pub(super) fn work_time(r: &mut Rng, day: i64, offset_min: i64) -> i64 {
    let local_min = if r.chance(0.07) {
        r.below(1440) as i64
    } else {
        8 * 60 + ((r.unit() + r.unit()) / 2.0 * 660.0) as i64
    };
    let utc_min = (local_min - offset_min).rem_euclid(1440);
    day + utc_min * MIN_MS + r.below(MIN_MS as u64) as i64
}

/// Pushes a slot, and its partner when the event comes in pairs.
pub(super) fn push_slot(
    out: &mut Vec<Slot>,
    r: &mut Rng,
    day: i64,
    t: i64,
    tenant: u8,
    kind: Kind,
    actor: u16,
) {
    let aux = r.next();
    let partner = match kind {
        AccessRequestCreate => Some(AccessRequestReview),
        DesktopStart => Some(DesktopEnd),
        LockCreated => Some(LockDeleted),
        _ => None,
    };
    match partner {
        Some(k) => {
            // Both halves stay within the day: move the first back if the second would spill.
            let dt = pair_gap(kind, aux);
            let t = t.min(day + DAY_MS - 1 - dt);
            out.push(Slot {
                t,
                seq: 0,
                tenant,
                kind,
                actor,
                aux,
            });
            out.push(Slot {
                t: t + dt,
                seq: 0,
                tenant,
                kind: k,
                actor,
                aux,
            });
        }
        None => out.push(Slot {
            t,
            seq: 0,
            tenant,
            kind,
            actor,
            aux,
        }),
    }
}

/// Time between the two halves of a paired event, a function of the pair's shared `aux`.
pub(super) fn pair_gap(first: Kind, aux: u64) -> i64 {
    let mut r = Rng::new(aux ^ 0x9a1f_0000_da7a);
    match first {
        AccessRequestCreate => r.range(2 * MIN_MS, 45 * MIN_MS),
        DesktopStart => r.range(5 * MIN_MS, 90 * MIN_MS),
        _ => r.range(HOUR_MS, 6 * HOUR_MS),
    }
}
