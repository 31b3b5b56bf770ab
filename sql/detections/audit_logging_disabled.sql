-- name: audit_logging_disabled
-- title: CloudTrail or GuardDuty stopped or deleted
-- severity: critical
-- sources: aws
-- description: Someone stopped, deleted or weakened CloudTrail logging or GuardDuty detection.
SELECT
  identity
  , event_source
  , event_time
  , uid
  , action
  , target_resource
  , aws_account_id
  , ip
FROM events
WHERE event_source = 'aws'
  AND status = 'success'
  AND event_type IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors', 'DeleteDetector', 'UpdateDetector', 'DisassociateFromMasterAccount', 'DeleteMembers')
