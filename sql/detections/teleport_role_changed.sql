-- name: teleport_role_changed
-- title: Teleport role created, updated or deleted
-- severity: medium
-- sources: teleport
-- description: A Teleport role changed; roles decide who may reach what.
SELECT
  identity
  , event_source
  , event_time
  , uid
  , action
  , json_extract_scalar(event_data, '$.name') AS role
FROM events
WHERE event_source = 'teleport'
  AND event_type IN ('role.created', 'role.updated', 'role.deleted')
