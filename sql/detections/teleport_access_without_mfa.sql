-- name: teleport_access_without_mfa
-- title: Teleport access without MFA
-- severity: low
-- sources: teleport
-- description: An SSH, database or Kubernetes session of a human account without a per-session MFA check (seed 001's weak-security checks); bots are left out.
SELECT
  user AS identity
  , 'teleport' AS event_source
  , event_time
  , uid
  , 'ssh' AS access
  , server_hostname AS target
  , login
FROM session_start
WHERE with_mfa IS NULL
  AND user NOT LIKE 'bot-%'
UNION ALL
SELECT
  user AS identity
  , 'teleport' AS event_source
  , event_time
  , uid
  , 'db' AS access
  , db_service AS target
  , login
FROM db_session_start
WHERE with_mfa IS NULL
  AND user NOT LIKE 'bot-%'
UNION ALL
SELECT
  user AS identity
  , 'teleport' AS event_source
  , event_time
  , uid
  , 'kube' AS access
  , kubernetes_cluster AS target
  , login
FROM kube_request
WHERE with_mfa IS NULL
  AND user NOT LIKE 'bot-%'
