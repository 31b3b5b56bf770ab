-- name: okta_admin_granted
-- title: Okta admin privilege granted
-- severity: high
-- sources: okta
-- description: An administrator role was granted to a user.
SELECT
  identity
  , event_source
  , event_time
  , uid
  , target_resource AS target_user
FROM events
WHERE event_source = 'okta'
  AND event_type = 'user.account.privilege.grant'
