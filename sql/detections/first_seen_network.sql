-- name: first_seen_network
-- title: Sign-in from a network not seen before
-- severity: low
-- sources: teleport, aws, github, okta
-- description: A successful sign-in of a person from an IPv4 /24 (or IPv6 address) not seen for them in the previous 30 days (only for people with history in that window). Addresses are compared by network, so a DHCP renewal in the same office is not news.
WITH logins AS (
  SELECT
    COALESCE(i.person, e.identity) AS person
    , e.event_source
    , e.event_time
    , e.uid
    , e.ip
    , e.city
    , COALESCE(regexp_extract(e.ip, '^(\d+\.\d+\.\d+)\.\d+$', 1), e.ip) AS network
  FROM events e
  LEFT JOIN identities i ON e.identity = i.identity AND e.tenant_id = i.tenant_id
  WHERE e.status = 'success'
    AND e.event_time IS NOT NULL
    AND e.ip IS NOT NULL
    AND e.identity IS NOT NULL
    AND e.event_type IN ('user.login', 'user.session.start', 'ConsoleLogin')
),
-- Per login, the person's logins (and from this network) of the 30 days before it: each count
-- is the RANGE frame less the login's peers (same instant), since "before" is strict. One sort
-- per count, where the EXISTS pair it replaces compared every login with all of the person's.
counted AS (
  SELECT
    *
    , COUNT(*) OVER (PARTITION BY person ORDER BY event_time RANGE BETWEEN INTERVAL '30' DAY PRECEDING AND CURRENT ROW)
      - COUNT(*) OVER (PARTITION BY person, event_time) AS seen_before
    , COUNT(*) OVER (PARTITION BY person, network ORDER BY event_time RANGE BETWEEN INTERVAL '30' DAY PRECEDING AND CURRENT ROW)
      - COUNT(*) OVER (PARTITION BY person, network, event_time) AS seen_here_before
  FROM logins
)
SELECT
  person AS identity
  , event_source
  , event_time
  , uid
  , ip
  , network
  , city
FROM counted
WHERE seen_before > 0
  AND seen_here_before = 0
