-- session.rejected: A session was rejected by a session control (e.g. max_connections).
-- note: server_labels_key/server_labels_value are Teleport's map pseudo-columns (NULL unless a key is literally named key or value); the extra column server_labels holds the whole map as JSON text.
SELECT
  event_date
  , event_time
  , tenant_id
  , CAST(json_extract(event_data, '$["access_requests"]') AS ARRAY<VARCHAR>) AS "access_requests"
  , json_extract_scalar(event_data, '$["addr.local"]') AS "addr_local"
  , json_extract_scalar(event_data, '$["addr.remote"]') AS "addr_remote"
  , json_extract_scalar(event_data, '$["aws_role_arn"]') AS "aws_role_arn"
  , json_extract_scalar(event_data, '$["azure_identity"]') AS "azure_identity"
  , json_extract_scalar(event_data, '$["cluster_name"]') AS "cluster_name"
  , json_extract_scalar(event_data, '$["code"]') AS "code"
  , CAST(json_extract_scalar(event_data, '$["ei"]') AS BIGINT) AS "ei"
  , json_extract_scalar(event_data, '$["event"]') AS "event"
  , json_extract_scalar(event_data, '$["forwarded_by"]') AS "forwarded_by"
  , json_extract_scalar(event_data, '$["gcp_service_account"]') AS "gcp_service_account"
  , json_extract_scalar(event_data, '$["impersonator"]') AS "impersonator"
  , json_extract_scalar(event_data, '$["login"]') AS "login"
  , CAST(json_extract_scalar(event_data, '$["max"]') AS INTEGER) AS "max"
  , json_extract_scalar(event_data, '$["namespace"]') AS "namespace"
  , json_extract_scalar(event_data, '$["proto"]') AS "proto"
  , json_extract_scalar(event_data, '$["reason"]') AS "reason"
  , json_extract_scalar(event_data, '$["required_private_key_policy"]') AS "required_private_key_policy"
  , json_extract_scalar(event_data, '$["server_addr"]') AS "server_addr"
  , json_extract_scalar(event_data, '$["server_hostname"]') AS "server_hostname"
  , json_extract_scalar(event_data, '$["server_id"]') AS "server_id"
  , json_extract_scalar(event_data, '$["server_labels"]["key"]') AS "server_labels_key"
  , json_extract_scalar(event_data, '$["server_labels"]["value"]') AS "server_labels_value"
  , json_format(json_extract(event_data, '$["server_labels"]')) AS "server_labels"
  , json_extract_scalar(event_data, '$["server_sub_kind"]') AS "server_sub_kind"
  , json_extract_scalar(event_data, '$["time"]') AS "time"
  , json_extract_scalar(event_data, '$["trusted_device"]["asset_tag"]') AS "trusted_device_asset_tag"
  , json_extract_scalar(event_data, '$["trusted_device"]["credential_id"]') AS "trusted_device_credential_id"
  , json_extract_scalar(event_data, '$["trusted_device"]["device_id"]') AS "trusted_device_device_id"
  , CAST(json_extract_scalar(event_data, '$["trusted_device"]["device_origin"]') AS INTEGER) AS "trusted_device_device_origin"
  , CAST(json_extract_scalar(event_data, '$["trusted_device"]["os_type"]') AS INTEGER) AS "trusted_device_os_type"
  , json_extract_scalar(event_data, '$["uid"]') AS "uid"
  , json_extract_scalar(event_data, '$["user"]') AS "user"
FROM events
WHERE event_source = 'teleport' AND event_type = 'session.rejected'
