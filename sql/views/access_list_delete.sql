-- access_list.delete: An access list was deleted.
SELECT
  event_date
  , event_time
  , tenant_id
  , json_extract_scalar(event_data, '$["cluster_name"]') AS "cluster_name"
  , json_extract_scalar(event_data, '$["code"]') AS "code"
  , CAST(json_extract_scalar(event_data, '$["ei"]') AS BIGINT) AS "ei"
  , json_extract_scalar(event_data, '$["error"]') AS "error"
  , json_extract_scalar(event_data, '$["event"]') AS "event"
  , json_extract_scalar(event_data, '$["expires"]') AS "expires"
  , json_extract_scalar(event_data, '$["message"]') AS "message"
  , json_extract_scalar(event_data, '$["name"]') AS "name"
  , CAST(json_extract_scalar(event_data, '$["success"]') AS BOOLEAN) AS "success"
  , json_extract_scalar(event_data, '$["time"]') AS "time"
  , json_extract_scalar(event_data, '$["ttl"]') AS "ttl"
  , json_extract_scalar(event_data, '$["uid"]') AS "uid"
  , json_extract_scalar(event_data, '$["updated_by"]') AS "updated_by"
FROM events
WHERE event_source = 'teleport' AND event_type = 'access_list.delete'
