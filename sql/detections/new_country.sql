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
    AND e.country IS NOT NULL
    AND e.identity IS NOT NULL
)
SELECT
  a.person AS identity
  , a.event_source
  , a.event_time
  , a.uid
  , a.country
  , a.city
  , a.ip
FROM logins a
WHERE EXISTS (
    SELECT 1 FROM logins h
    WHERE h.person = a.person
      AND h.event_time < a.event_time
      AND h.event_time >= a.event_time - INTERVAL '30' DAY
  )
  AND NOT EXISTS (
    SELECT 1 FROM logins h
    WHERE h.person = a.person
      AND h.country = a.country
      AND h.event_time < a.event_time
      AND h.event_time >= a.event_time - INTERVAL '30' DAY
  )
