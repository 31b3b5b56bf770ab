-- The Glue/Athena table of seed 000 (Identity Activity Center), exactly: 29 columns in order,
-- partitions tenant_id (injected) and event_date (projected), Snappy Parquet under
-- data/${tenant_id}/${event_date}/. `auditlake ddl --location s3://bucket` fills in the bucket.
CREATE EXTERNAL TABLE IF NOT EXISTS events (
  event_source string,
  identity string,
  identity_kind string,
  identity_id string,
  token string,
  action string,
  origin string,
  status string,
  ip string,
  city string,
  country string,
  region string,
  latitude double,
  longitude double,
  target_resource string,
  target_kind string,
  target_location string,
  target_id string,
  user_agent string,
  event_type string,
  event_time timestamp,
  uid string,
  event_data string,
  aws_account_id string,
  aws_service string,
  github_organization string,
  github_repo string,
  okta_org string,
  teleport_cluster string
)
PARTITIONED BY (
  tenant_id string,
  event_date date
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
WITH SERDEPROPERTIES ('serialization.format' = '1')
STORED AS
  INPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'
  OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat'
LOCATION 's3://example-long-term-bucket/data/'
TBLPROPERTIES (
  'EXTERNAL' = 'TRUE',
  'classification' = 'parquet',
  'parquet.compression' = 'SNAPPY',
  'projection.enabled' = 'true',
  'projection.tenant_id.type' = 'injected',
  'projection.event_date.type' = 'date',
  'projection.event_date.format' = 'yyyy-MM-dd',
  'projection.event_date.interval' = '1',
  'projection.event_date.interval.unit' = 'DAYS',
  'projection.event_date.range' = 'NOW-4YEARS,NOW',
  'storage.location.template' = 's3://example-long-term-bucket/data/${tenant_id}/${event_date}/'
);
