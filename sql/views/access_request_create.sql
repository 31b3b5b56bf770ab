-- access_request.create: An Access Request was created (requested roles or resources, reason, state).
-- note: resource_ids: Teleport types this array(row(..)); here it is JSON text (json_format), the same in Athena and DataFusion.
SELECT
  event_date
  , event_time
  , tenant_id
  , CAST(json_extract(event_data, '$["access_requests"]') AS ARRAY<VARCHAR>) AS "access_requests"
  , json_extract_scalar(event_data, '$["assume_start_time"]') AS "assume_start_time"
  , json_extract_scalar(event_data, '$["aws_role_arn"]') AS "aws_role_arn"
  , json_extract_scalar(event_data, '$["azure_identity"]') AS "azure_identity"
  , json_extract_scalar(event_data, '$["cluster_name"]') AS "cluster_name"
  , json_extract_scalar(event_data, '$["code"]') AS "code"
  , json_extract_scalar(event_data, '$["delegator"]') AS "delegator"
  , CAST(json_extract_scalar(event_data, '$["ei"]') AS BIGINT) AS "ei"
  , json_extract_scalar(event_data, '$["event"]') AS "event"
  , json_extract_scalar(event_data, '$["expires"]') AS "expires"
  , json_extract_scalar(event_data, '$["gcp_service_account"]') AS "gcp_service_account"
  , json_extract_scalar(event_data, '$["id"]') AS "id"
  , json_extract_scalar(event_data, '$["impersonator"]') AS "impersonator"
  , json_extract_scalar(event_data, '$["login"]') AS "login"
  , json_extract_scalar(event_data, '$["max_duration"]') AS "max_duration"
  , json_extract_scalar(event_data, '$["name"]') AS "name"
  , json_extract_scalar(event_data, '$["promoted_access_list_name"]') AS "promoted_access_list_name"
  , json_extract_scalar(event_data, '$["proposed_state"]') AS "proposed_state"
  , json_extract_scalar(event_data, '$["reason"]') AS "reason"
  , json_extract_scalar(event_data, '$["required_private_key_policy"]') AS "required_private_key_policy"
  , json_format(json_extract(event_data, '$["resource_ids"]')) AS "resource_ids"
  , json_extract_scalar(event_data, '$["reviewer"]') AS "reviewer"
  , CAST(json_extract(event_data, '$["roles"]') AS ARRAY<VARCHAR>) AS "roles"
  , json_extract_scalar(event_data, '$["state"]') AS "state"
  , json_extract_scalar(event_data, '$["time"]') AS "time"
  , json_extract_scalar(event_data, '$["trusted_device"]["asset_tag"]') AS "trusted_device_asset_tag"
  , json_extract_scalar(event_data, '$["trusted_device"]["credential_id"]') AS "trusted_device_credential_id"
  , json_extract_scalar(event_data, '$["trusted_device"]["device_id"]') AS "trusted_device_device_id"
  , CAST(json_extract_scalar(event_data, '$["trusted_device"]["device_origin"]') AS INTEGER) AS "trusted_device_device_origin"
  , CAST(json_extract_scalar(event_data, '$["trusted_device"]["os_type"]') AS INTEGER) AS "trusted_device_os_type"
  , json_extract_scalar(event_data, '$["ttl"]') AS "ttl"
  , json_extract_scalar(event_data, '$["uid"]') AS "uid"
  , json_extract_scalar(event_data, '$["updated_by"]') AS "updated_by"
  , json_extract_scalar(event_data, '$["user"]') AS "user"
FROM events
WHERE event_source = 'teleport' AND event_type = 'access_request.create'
