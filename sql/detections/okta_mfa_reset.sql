-- name: okta_mfa_reset
-- title: Okta MFA factors reset
-- severity: high
-- sources: okta
-- description: An administrator reset or removed a user's MFA factors.
SELECT
  identity
  , event_source
  , event_time
  , uid
  , target_resource AS target_user
  , ip
FROM events
WHERE event_source = 'okta'
  AND event_type IN ('user.mfa.factor.reset_all', 'user.mfa.factor.deactivate')
