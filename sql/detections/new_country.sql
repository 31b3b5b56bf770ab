-- name: new_country
-- title: Sign-in from a new country
-- severity: medium
-- sources: teleport, aws, github, okta
-- description: A successful sign-in of a person from a country not seen for them in the previous 30 days (only for people with history in that window).
WITH logins AS (
  SELECT
    COALESCE(i.person, e.identity) AS person
    , e.event_source
    , e.event_time
    , e.uid
    , e.ip
    , e.city
    , e.country
  FROM events e
  LEFT JOIN identities i ON e.identity = i.identity AND e.tenant_id = i.tenant_id
  WHERE e.status = 'success'
    AND e.event_time IS NOT NULL
    AND e.country IS NOT NULL
    AND e.identity IS NOT NULL
),
-- Per login, the person's logins (and from this country) of the 30 days before it: each count
-- is the RANGE frame less the login's peers (same instant), since "before" is strict. One sort
-- per count, where the EXISTS pair it replaces compared every login with all of the person's.
counted AS (
  SELECT
    *
    , COUNT(*) OVER (PARTITION BY person ORDER BY event_time RANGE BETWEEN INTERVAL '30' DAY PRECEDING AND CURRENT ROW)
      - COUNT(*) OVER (PARTITION BY person, event_time) AS seen_before
    , COUNT(*) OVER (PARTITION BY person, country ORDER BY event_time RANGE BETWEEN INTERVAL '30' DAY PRECEDING AND CURRENT ROW)
      - COUNT(*) OVER (PARTITION BY person, country, event_time) AS seen_here_before
  FROM logins
)
SELECT
  person AS identity
  , event_source
  , event_time
  , uid
  , country
  , city
  , ip
FROM counted
WHERE seen_before > 0
  AND seen_here_before = 0
