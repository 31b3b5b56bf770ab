-- name: impossible_travel
-- title: Impossible travel
-- severity: high
-- sources: teleport, aws, github, okta
-- description: Two consecutive successful sign-ins of one person (identities joined across sources) whose great-circle distance over the time between them exceeds 900 km/h. Private and unknown locations are ignored; hops under 50 km are reported as low.
WITH logins AS (
  SELECT
    COALESCE(i.person, e.identity) AS person
    , e.identity
    , e.event_source
    , e.event_time
    , e.uid
    , e.ip
    , e.city
    , e.country
    , e.latitude
    , e.longitude
  FROM events e
  LEFT JOIN identities i ON e.identity = i.identity AND e.tenant_id = i.tenant_id
  WHERE e.status = 'success'
    AND e.latitude IS NOT NULL
    AND e.longitude IS NOT NULL
    AND e.event_type IN ('user.login', 'user.session.start', 'ConsoleLogin', 'cert.create', 'session.start')
),
hops AS (
  SELECT
    person
    , identity
    , event_source
    , event_time
    , uid
    , ip
    , city
    , country
    , latitude
    , longitude
    , LAG(event_time) OVER (PARTITION BY person ORDER BY event_time, uid) AS prev_time
    , LAG(latitude) OVER (PARTITION BY person ORDER BY event_time, uid) AS prev_latitude
    , LAG(longitude) OVER (PARTITION BY person ORDER BY event_time, uid) AS prev_longitude
    , LAG(city) OVER (PARTITION BY person ORDER BY event_time, uid) AS prev_city
    , LAG(ip) OVER (PARTITION BY person ORDER BY event_time, uid) AS prev_ip
    , LAG(event_source) OVER (PARTITION BY person ORDER BY event_time, uid) AS prev_source
    , LAG(uid) OVER (PARTITION BY person ORDER BY event_time, uid) AS prev_uid
  FROM logins
),
speeds AS (
  SELECT
    *
    , great_circle_distance(prev_latitude, prev_longitude, latitude, longitude) AS km
    , date_diff('millisecond', prev_time, event_time) AS gap_ms
  FROM hops
  WHERE prev_time IS NOT NULL
)
SELECT
  person AS identity
  , event_source
  , event_time
  , uid
  , CASE WHEN km < 50 THEN 'low' ELSE 'high' END AS severity
  , prev_source AS from_source
  , prev_city AS from_city
  , prev_ip AS from_ip
  , prev_uid AS from_uid
  , city AS to_city
  , ip AS to_ip
  , CAST(ROUND(km) AS BIGINT) AS distance_km
  , CAST(ROUND(km / (CAST(GREATEST(gap_ms, 1) AS DOUBLE) / 3600000.0)) AS BIGINT) AS speed_kmh
FROM speeds
WHERE km > 1
  AND km / (CAST(GREATEST(gap_ms, 1) AS DOUBLE) / 3600000.0) > 900
