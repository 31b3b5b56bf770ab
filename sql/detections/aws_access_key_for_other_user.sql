-- name: aws_access_key_for_other_user
-- title: AWS access key created for another user
-- severity: high
-- sources: aws
-- description: CreateAccessKey where the key's user is not the caller.
SELECT
  identity
  , event_source
  , event_time
  , uid
  , json_extract_scalar(event_data, '$.requestParameters.userName') AS key_user
  , aws_account_id
FROM events
WHERE event_source = 'aws'
  AND event_type = 'CreateAccessKey'
  AND json_extract_scalar(event_data, '$.requestParameters.userName') IS NOT NULL
  AND json_extract_scalar(event_data, '$.requestParameters.userName') <> COALESCE(json_extract_scalar(event_data, '$.userIdentity.userName'), '')
