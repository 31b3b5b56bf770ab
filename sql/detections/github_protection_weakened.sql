-- name: github_protection_weakened
-- title: GitHub protection overridden or removed
-- severity: high
-- sources: github
-- description: A protected branch was overridden or deleted, or the organization's two-factor requirement was disabled.
SELECT
  identity
  , event_source
  , event_time
  , uid
  , action
  , github_repo
  , github_organization
FROM events
WHERE event_source = 'github'
  AND event_type IN ('protected_branch.policy_override', 'protected_branch.destroy', 'org.disable_two_factor_requirement')
