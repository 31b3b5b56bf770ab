-- name: brute_force
-- title: Brute force
-- severity: high
-- sources: teleport, aws, okta
-- description: Five or more failed sign-ins from one IP address within ten minutes.
WITH failures AS (
  SELECT
    identity
    , event_source
    , event_time
    , uid
    , ip
    , city
    , country
    , COUNT(*) OVER (PARTITION BY ip ORDER BY event_time RANGE BETWEEN INTERVAL '10' MINUTE PRECEDING AND CURRENT ROW) AS failures_10m
  FROM events
  WHERE status = 'failure'
    AND ip IS NOT NULL
    AND event_type IN ('user.login', 'auth', 'user.session.start', 'ConsoleLogin', 'user.authentication.auth_via_mfa', 'user.authentication.sso')
)
SELECT
  ip AS identity
  , event_source
  , event_time
  , uid
  , ip
  , identity AS tried_identity
  , city
  , country
  , failures_10m
FROM failures
WHERE failures_10m >= 5
