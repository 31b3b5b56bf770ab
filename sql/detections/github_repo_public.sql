-- name: github_repo_public
-- title: Repository made public
-- severity: high
-- sources: github
-- description: A repository's visibility changed to public.
SELECT
  identity
  , event_source
  , event_time
  , uid
  , github_repo
  , json_extract_scalar(event_data, '$.previous_visibility') AS previous_visibility
FROM events
WHERE event_source = 'github'
  AND event_type = 'repo.access'
  AND json_extract_scalar(event_data, '$.visibility') = 'public'
