-- instance.join: A Teleport instance joined the cluster (node name, host ID, join method, token expiry).
SELECT
  event_date
  , event_time
  , tenant_id
  , json_extract_scalar(event_data, '$["cluster_name"]') AS "cluster_name"
  , json_extract_scalar(event_data, '$["code"]') AS "code"
  , CAST(json_extract_scalar(event_data, '$["ei"]') AS BIGINT) AS "ei"
  , json_extract_scalar(event_data, '$["error"]') AS "error"
  , json_extract_scalar(event_data, '$["event"]') AS "event"
  , json_extract_scalar(event_data, '$["host_id"]') AS "host_id"
  , json_extract_scalar(event_data, '$["message"]') AS "message"
  , json_extract_scalar(event_data, '$["method"]') AS "method"
  , json_extract_scalar(event_data, '$["node_name"]') AS "node_name"
  , json_extract_scalar(event_data, '$["role"]') AS "role"
  , CAST(json_extract_scalar(event_data, '$["success"]') AS BOOLEAN) AS "success"
  , json_extract_scalar(event_data, '$["time"]') AS "time"
  , json_extract_scalar(event_data, '$["token_expires"]') AS "token_expires"
  , json_extract_scalar(event_data, '$["token_name"]') AS "token_name"
  , json_extract_scalar(event_data, '$["uid"]') AS "uid"
FROM events
WHERE event_source = 'teleport' AND event_type = 'instance.join'
