-- name: teleport_long_lived_certificate
-- title: Long-lived Teleport certificate
-- severity: low
-- sources: teleport
-- description: A user certificate valid for more than one day (seed 001's check).
SELECT
  identity_user AS identity
  , 'teleport' AS event_source
  , event_time
  , uid
  , identity_expires
  , identity_client_ip
FROM cert_create
WHERE from_iso8601_timestamp(identity_expires) - from_iso8601_timestamp(time) > INTERVAL '1' DAY
