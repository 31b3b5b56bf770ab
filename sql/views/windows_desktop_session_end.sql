-- windows.desktop.session.end: A Windows desktop session ended (start and stop times, participants, recorded).
-- note: desktop_labels_key/desktop_labels_value are Teleport's map pseudo-columns (NULL unless a key is literally named key or value); the extra column desktop_labels holds the whole map as JSON text.
SELECT
  event_date
  , event_time
  , tenant_id
  , CAST(json_extract(event_data, '$["access_requests"]') AS ARRAY<VARCHAR>) AS "access_requests"
  , json_extract_scalar(event_data, '$["aws_role_arn"]') AS "aws_role_arn"
  , json_extract_scalar(event_data, '$["azure_identity"]') AS "azure_identity"
  , json_extract_scalar(event_data, '$["cluster_name"]') AS "cluster_name"
  , json_extract_scalar(event_data, '$["code"]') AS "code"
  , json_extract_scalar(event_data, '$["desktop_addr"]') AS "desktop_addr"
  , json_extract_scalar(event_data, '$["desktop_labels"]["key"]') AS "desktop_labels_key"
  , json_extract_scalar(event_data, '$["desktop_labels"]["value"]') AS "desktop_labels_value"
  , json_format(json_extract(event_data, '$["desktop_labels"]')) AS "desktop_labels"
  , json_extract_scalar(event_data, '$["desktop_name"]') AS "desktop_name"
  , CAST(json_extract_scalar(event_data, '$["ei"]') AS BIGINT) AS "ei"
  , json_extract_scalar(event_data, '$["event"]') AS "event"
  , json_extract_scalar(event_data, '$["gcp_service_account"]') AS "gcp_service_account"
  , json_extract_scalar(event_data, '$["impersonator"]') AS "impersonator"
  , json_extract_scalar(event_data, '$["login"]') AS "login"
  , CAST(json_extract(event_data, '$["participants"]') AS ARRAY<VARCHAR>) AS "participants"
  , json_extract_scalar(event_data, '$["private_key_policy"]') AS "private_key_policy"
  , CAST(json_extract_scalar(event_data, '$["recorded"]') AS BOOLEAN) AS "recorded"
  , json_extract_scalar(event_data, '$["required_private_key_policy"]') AS "required_private_key_policy"
  , json_extract_scalar(event_data, '$["session_start"]') AS "session_start"
  , json_extract_scalar(event_data, '$["session_stop"]') AS "session_stop"
  , json_extract_scalar(event_data, '$["sid"]') AS "sid"
  , json_extract_scalar(event_data, '$["time"]') AS "time"
  , json_extract_scalar(event_data, '$["trusted_device"]["asset_tag"]') AS "trusted_device_asset_tag"
  , json_extract_scalar(event_data, '$["trusted_device"]["credential_id"]') AS "trusted_device_credential_id"
  , json_extract_scalar(event_data, '$["trusted_device"]["device_id"]') AS "trusted_device_device_id"
  , CAST(json_extract_scalar(event_data, '$["trusted_device"]["device_origin"]') AS INTEGER) AS "trusted_device_device_origin"
  , CAST(json_extract_scalar(event_data, '$["trusted_device"]["os_type"]') AS INTEGER) AS "trusted_device_os_type"
  , json_extract_scalar(event_data, '$["uid"]') AS "uid"
  , json_extract_scalar(event_data, '$["user"]') AS "user"
  , json_extract_scalar(event_data, '$["windows_desktop_service"]') AS "windows_desktop_service"
  , json_extract_scalar(event_data, '$["windows_domain"]') AS "windows_domain"
  , json_extract_scalar(event_data, '$["windows_user"]') AS "windows_user"
  , json_extract_scalar(event_data, '$["with_mfa"]') AS "with_mfa"
FROM events
WHERE event_source = 'teleport' AND event_type = 'windows.desktop.session.end'
