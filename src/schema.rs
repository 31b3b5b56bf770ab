//! The one Arrow schema of the lake: the Glue table of seed 000, column for column, and `Row`,
//! the normalized event every source decodes into.
//!
//! `sql/glue/events.sql` is the same table written as Athena DDL; a test parses it and proves
//! the two agree (name, order, type), so neither can drift alone.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Partition column holding the tenant (from the path `data/{tenant_id}/…`).
pub const TENANT_ID: &str = "tenant_id";
/// Partition column holding the UTC date (from the path `data/{tenant_id}/{event_date}/…`).
pub const EVENT_DATE: &str = "event_date";

/// Glue type of a column, as written in the DDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlueType {
    String,
    Double,
    Timestamp,
}

impl GlueType {
    /// The Arrow type the Parquet files carry for this Glue type.
    pub fn arrow(self) -> DataType {
        match self {
            GlueType::String => DataType::Utf8,
            GlueType::Double => DataType::Float64,
            // Teleport writes INT64 TIMESTAMP(MILLIS, isAdjustedToUTC=true); Athena reads it as
            // UTC wall time. `Some("UTC")` is what makes arrow-rs set isAdjustedToUTC.
            GlueType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        }
    }

    /// The spelling in Athena DDL.
    pub fn ddl(self) -> &'static str {
        match self {
            GlueType::String => "string",
            GlueType::Double => "double",
            GlueType::Timestamp => "timestamp",
        }
    }
}

/// The 29 file columns of seed 000, in order.
pub const COLUMNS: [(&str, GlueType); 29] = [
    ("event_source", GlueType::String),
    ("identity", GlueType::String),
    ("identity_kind", GlueType::String),
    ("identity_id", GlueType::String),
    ("token", GlueType::String),
    ("action", GlueType::String),
    ("origin", GlueType::String),
    ("status", GlueType::String),
    ("ip", GlueType::String),
    ("city", GlueType::String),
    ("country", GlueType::String),
    ("region", GlueType::String),
    ("latitude", GlueType::Double),
    ("longitude", GlueType::Double),
    ("target_resource", GlueType::String),
    ("target_kind", GlueType::String),
    ("target_location", GlueType::String),
    ("target_id", GlueType::String),
    ("user_agent", GlueType::String),
    ("event_type", GlueType::String),
    ("event_time", GlueType::Timestamp),
    ("uid", GlueType::String),
    ("event_data", GlueType::String),
    ("aws_account_id", GlueType::String),
    ("aws_service", GlueType::String),
    ("github_organization", GlueType::String),
    ("github_repo", GlueType::String),
    ("okta_org", GlueType::String),
    ("teleport_cluster", GlueType::String),
];

/// Partition keys of the Glue table, in order, with their DDL types.
pub const PARTITIONS: [(&str, &str); 2] = [(TENANT_ID, "string"), (EVENT_DATE, "date")];

static FILE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|(name, ty)| {
                // event_source, event_type, event_time, uid and event_data are always set by
                // the decoders, but Glue columns are all nullable and Athena does not care;
                // keeping every field nullable lets files from other writers be read too.
                Field::new(*name, ty.arrow(), true)
            })
            .collect::<Vec<_>>(),
    ))
});

static TABLE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = FILE_SCHEMA
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(TENANT_ID, DataType::Utf8, false));
    fields.push(Field::new(EVENT_DATE, DataType::Date32, false));
    Arc::new(Schema::new(fields))
});

/// Schema of a Parquet file in the lake (the 29 columns, no partitions).
pub fn file_schema() -> SchemaRef {
    FILE_SCHEMA.clone()
}

/// Schema of the `events` table: the file columns plus `tenant_id` and `event_date`.
pub fn table_schema() -> SchemaRef {
    TABLE_SCHEMA.clone()
}

/// Index of a file column by name.
pub fn column_index(name: &str) -> Option<usize> {
    COLUMNS.iter().position(|(n, _)| *n == name)
}

/// One normalized audit event: a row of the lake before partitioning.
///
/// Every field but `event_source`, `event_type`, `event_time_ms`, `uid` and `event_data` is
/// optional; an absent value is written as NULL (never as an empty string).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// `teleport`, `aws`, `github` or `okta`.
    pub event_source: String,
    /// Who acted: a user name, an email, an ARN, a bot name.
    pub identity: Option<String>,
    /// `user`, `bot`, `role`, `service`, `root`, `system`, …
    pub identity_kind: Option<String>,
    /// A stable id of the actor in its source (Okta user id, AWS principal id, …).
    pub identity_id: Option<String>,
    /// The credential used: an access key id, a token id, a certificate serial.
    pub token: Option<String>,
    /// What was done, in the source's words (`session.start`, `ConsoleLogin`, `repo.create`).
    pub action: Option<String>,
    /// Where it happened: the Teleport cluster, the AWS region, the GitHub org, the Okta org.
    pub origin: Option<String>,
    /// `success` or `failure`.
    pub status: Option<String>,
    /// The client IP address, without port or brackets.
    pub ip: Option<String>,
    /// GeoIP enrichment (filled by `enrich`, never by a decoder).
    pub city: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// The resource acted on.
    pub target_resource: Option<String>,
    pub target_kind: Option<String>,
    pub target_location: Option<String>,
    pub target_id: Option<String>,
    pub user_agent: Option<String>,
    /// The source's event type (`session.start`, `AwsApiCall`, `repo.create`, `user.session.start`).
    pub event_type: String,
    /// Event time, UTC, milliseconds since the Unix epoch.
    pub event_time_ms: i64,
    /// The event's unique id in its source (a fresh UUID when the source has none).
    pub uid: String,
    /// The original record as JSON, byte for byte as received.
    pub event_data: String,
    pub aws_account_id: Option<String>,
    pub aws_service: Option<String>,
    pub github_organization: Option<String>,
    pub github_repo: Option<String>,
    pub okta_org: Option<String>,
    pub teleport_cluster: Option<String>,
}

impl Row {
    /// The UTC date of the event, `YYYY-MM-DD`, which names its partition.
    pub fn event_date(&self) -> chrono::NaiveDate {
        chrono::DateTime::from_timestamp_millis(self.event_time_ms)
            .map(|t| t.date_naive())
            .unwrap_or_default()
    }
}

/// Builds file-schema `RecordBatch`es from `Row`s.
pub struct RowBatchBuilder {
    strings: Vec<StringBuilder>,
    latitude: Float64Builder,
    longitude: Float64Builder,
    event_time: TimestampMillisecondBuilder,
    len: usize,
}

/// Positions of the string columns in `COLUMNS` order, as stored in `RowBatchBuilder::strings`.
const STRING_COLS: usize = 26;

impl RowBatchBuilder {
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            strings: (0..STRING_COLS)
                .map(|_| StringBuilder::with_capacity(rows, rows * 8))
                .collect(),
            latitude: Float64Builder::with_capacity(rows),
            longitude: Float64Builder::with_capacity(rows),
            event_time: TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, r: &Row) {
        let s = &mut self.strings;
        let opt = |b: &mut StringBuilder, v: &Option<String>| b.append_option(v.as_deref());
        s[0].append_value(&r.event_source);
        opt(&mut s[1], &r.identity);
        opt(&mut s[2], &r.identity_kind);
        opt(&mut s[3], &r.identity_id);
        opt(&mut s[4], &r.token);
        opt(&mut s[5], &r.action);
        opt(&mut s[6], &r.origin);
        opt(&mut s[7], &r.status);
        opt(&mut s[8], &r.ip);
        opt(&mut s[9], &r.city);
        opt(&mut s[10], &r.country);
        opt(&mut s[11], &r.region);
        self.latitude.append_option(r.latitude);
        self.longitude.append_option(r.longitude);
        opt(&mut s[12], &r.target_resource);
        opt(&mut s[13], &r.target_kind);
        opt(&mut s[14], &r.target_location);
        opt(&mut s[15], &r.target_id);
        opt(&mut s[16], &r.user_agent);
        s[17].append_value(&r.event_type);
        self.event_time.append_value(r.event_time_ms);
        s[18].append_value(&r.uid);
        s[19].append_value(&r.event_data);
        opt(&mut s[20], &r.aws_account_id);
        opt(&mut s[21], &r.aws_service);
        opt(&mut s[22], &r.github_organization);
        opt(&mut s[23], &r.github_repo);
        opt(&mut s[24], &r.okta_org);
        opt(&mut s[25], &r.teleport_cluster);
        self.len += 1;
    }

    /// Finishes the batch in `COLUMNS` order and resets the builder.
    pub fn finish(&mut self) -> RecordBatch {
        let mut strings = self
            .strings
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef);
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len());
        for (_, ty) in COLUMNS.iter() {
            let col: ArrayRef = match ty {
                GlueType::String => strings.next().expect("26 string columns"),
                GlueType::Double if cols.len() == 12 => Arc::new(self.latitude.finish()),
                GlueType::Double => Arc::new(self.longitude.finish()),
                GlueType::Timestamp => Arc::new(self.event_time.finish()),
            };
            cols.push(col);
        }
        self.len = 0;
        RecordBatch::try_new(file_schema(), cols).expect("builder columns match the file schema")
    }
}
