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
    AND e.ip IS NOT NULL
    AND e.identity IS NOT NULL
    AND e.event_type IN ('user.login', 'user.session.start', 'ConsoleLogin')
)
SELECT
  a.person AS identity
  , a.event_source
  , a.event_time
  , a.uid
  , a.ip
  , a.network
  , a.city
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
      AND h.network = a.network
      AND h.event_time < a.event_time
      AND h.event_time >= a.event_time - INTERVAL '30' DAY
  )
