-- device.authenticate: A trusted device authenticated (Device Trust).
SELECT
  event_date
  , event_time
  , tenant_id
  , CAST(json_extract(event_data, '$["access_requests"]') AS ARRAY<VARCHAR>) AS "access_requests"
  , json_extract_scalar(event_data, '$["aws_role_arn"]') AS "aws_role_arn"
  , json_extract_scalar(event_data, '$["azure_identity"]') AS "azure_identity"
  , json_extract_scalar(event_data, '$["cluster_name"]') AS "cluster_name"
  , json_extract_scalar(event_data, '$["code"]') AS "code"
  , json_extract_scalar(event_data, '$["device"]["asset_tag"]') AS "device_asset_tag"
  , json_extract_scalar(event_data, '$["device"]["credential_id"]') AS "device_credential_id"
  , json_extract_scalar(event_data, '$["device"]["device_id"]') AS "device_device_id"
  , CAST(json_extract_scalar(event_data, '$["device"]["device_origin"]') AS INTEGER) AS "device_device_origin"
  , CAST(json_extract_scalar(event_data, '$["device"]["os_type"]') AS INTEGER) AS "device_os_type"
  , CAST(json_extract_scalar(event_data, '$["ei"]') AS BIGINT) AS "ei"
  , json_extract_scalar(event_data, '$["error"]') AS "error"
  , json_extract_scalar(event_data, '$["event"]') AS "event"
  , json_extract_scalar(event_data, '$["gcp_service_account"]') AS "gcp_service_account"
  , json_extract_scalar(event_data, '$["impersonator"]') AS "impersonator"
  , json_extract_scalar(event_data, '$["login"]') AS "login"
  , json_extract_scalar(event_data, '$["message"]') AS "message"
  , json_extract_scalar(event_data, '$["required_private_key_policy"]') AS "required_private_key_policy"
  , CAST(json_extract_scalar(event_data, '$["success"]') AS BOOLEAN) AS "success"
  , json_extract_scalar(event_data, '$["time"]') AS "time"
  , json_extract_scalar(event_data, '$["trusted_device"]["asset_tag"]') AS "trusted_device_asset_tag"
  , json_extract_scalar(event_data, '$["trusted_device"]["credential_id"]') AS "trusted_device_credential_id"
  , json_extract_scalar(event_data, '$["trusted_device"]["device_id"]') AS "trusted_device_device_id"
  , CAST(json_extract_scalar(event_data, '$["trusted_device"]["device_origin"]') AS INTEGER) AS "trusted_device_device_origin"
  , CAST(json_extract_scalar(event_data, '$["trusted_device"]["os_type"]') AS INTEGER) AS "trusted_device_os_type"
  , json_extract_scalar(event_data, '$["uid"]') AS "uid"
  , json_extract_scalar(event_data, '$["user"]') AS "user"
FROM events
WHERE event_source = 'teleport' AND event_type = 'device.authenticate'
