-- name: aws_root_activity
-- title: AWS root account activity
-- severity: critical
-- sources: aws
-- description: Any API call or console sign-in by an AWS account's root user.
SELECT
  identity
  , event_source
  , event_time
  , uid
  , action
  , aws_account_id
  , ip
  , city
FROM events
WHERE event_source = 'aws'
  AND identity_kind = 'root'
