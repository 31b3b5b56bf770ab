-- name: root_ssh_session
-- title: Root SSH session
-- severity: medium
-- sources: teleport
-- description: An interactive Teleport session as the root login.
SELECT
  user AS identity
  , 'teleport' AS event_source
  , event_time
  , uid
  , login
  , server_hostname
  , addr_remote
FROM session_start
WHERE login = 'root'
