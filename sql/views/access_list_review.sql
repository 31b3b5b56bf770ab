-- access_list.review: An access list was reviewed (membership requirements, removed members, review schedule).
-- note: membership_requirements_changed_traits_key/membership_requirements_changed_traits_value are Teleport's map pseudo-columns (NULL unless a key is literally named key or value); the extra column membership_requirements_changed_traits holds the whole map as JSON text.
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
  , CAST(json_extract(event_data, '$["membership_requirements_changed"]["roles"]') AS ARRAY<VARCHAR>) AS "membership_requirements_changed_roles"
  , json_extract_scalar(event_data, '$["membership_requirements_changed"]["traits"]["key"]') AS "membership_requirements_changed_traits_key"
  , json_extract_scalar(event_data, '$["membership_requirements_changed"]["traits"]["value"]') AS "membership_requirements_changed_traits_value"
  , json_format(json_extract(event_data, '$["membership_requirements_changed"]["traits"]')) AS "membership_requirements_changed_traits"
  , json_extract_scalar(event_data, '$["message"]') AS "message"
  , json_extract_scalar(event_data, '$["name"]') AS "name"
  , CAST(json_extract(event_data, '$["removed_members"]') AS ARRAY<VARCHAR>) AS "removed_members"
  , json_extract_scalar(event_data, '$["review_day_of_month_changed"]') AS "review_day_of_month_changed"
  , json_extract_scalar(event_data, '$["review_frequency_changed"]') AS "review_frequency_changed"
  , json_extract_scalar(event_data, '$["review_id"]') AS "review_id"
  , CAST(json_extract_scalar(event_data, '$["success"]') AS BOOLEAN) AS "success"
  , json_extract_scalar(event_data, '$["time"]') AS "time"
  , json_extract_scalar(event_data, '$["ttl"]') AS "ttl"
  , json_extract_scalar(event_data, '$["uid"]') AS "uid"
  , json_extract_scalar(event_data, '$["updated_by"]') AS "updated_by"
FROM events
WHERE event_source = 'teleport' AND event_type = 'access_list.review'
