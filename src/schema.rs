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
/// The raw event JSON column.
pub const EVENT_DATA_COLUMN: &str = "event_data";

/// Where enrichment came from, written into each Parquet file's key-value metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoProvenance {
    pub database_type: String,
    pub build_epoch: u64,
}

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

/// The one column list. Each entry — file column, `Row` field, kind — generates the column in
/// [`COLUMNS`] (name, Glue type, order), the field of [`Row`] and its slot in
/// [`RowBatchBuilder`], so the three cannot drift apart.
macro_rules! lake_columns {
    ($( $(#[$doc:meta])* $col:ident => $field:ident : $kind:ident ),* $(,)?) => {
        /// The 29 file columns of seed 000, in order.
        pub const COLUMNS: [(&str, GlueType); lake_columns!(@count $($col)*)] = [
            $( (stringify!($col), lake_columns!(@glue $kind)) ),*
        ];

        /// One normalized audit event: a row of the lake before partitioning.
        ///
        /// Every field but `event_source`, `event_type`, `event_time_ms`, `uid` and `event_data`
        /// is optional; an absent value is written as NULL (never as an empty string).
        ///
        /// Text borrows from the record it was decoded from where it can (`'a`), so decoding
        /// a record copies its bytes once, into the Arrow builders; [`Row::into_owned`] detaches it.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Row<'a> {
            $( $(#[$doc])* pub $field: lake_columns!(@rust $kind), )*
        }

        impl Row<'_> {
            /// The same row owning all its text.
            pub fn into_owned(self) -> Row<'static> {
                Row {
                    $( $field: lake_columns!(@owned $kind, self.$field), )*
                }
            }
        }

        /// Builds file-schema `RecordBatch`es from `Row`s.
        pub struct RowBatchBuilder {
            $( $field: lake_columns!(@builder $kind), )*
            len: usize,
        }

        impl RowBatchBuilder {
            pub fn with_capacity(rows: usize) -> Self {
                Self {
                    $( $field: lake_columns!(@new $kind, rows), )*
                    len: 0,
                }
            }

            /// A builder sized exactly for these rows (text bytes counted per column): the
            /// batch never regrows while they are pushed, and keeps no spare capacity.
            pub fn for_rows(rows: &[&Row<'_>]) -> Self {
                let n = rows.len();
                Self {
                    $( $field: lake_columns!(@exact $kind, n, rows.iter().map(|r| lake_columns!(@len $kind, r.$field)).sum::<usize>()), )*
                    len: 0,
                }
            }

            pub fn push(&mut self, r: &Row<'_>) {
                $( lake_columns!(@push $kind, self.$field, r.$field); )*
                self.len += 1;
            }

            /// Finishes the batch in `COLUMNS` order and resets the builder.
            pub fn finish(&mut self) -> RecordBatch {
                let cols: Vec<ArrayRef> = vec![ $( Arc::new(self.$field.finish()) as ArrayRef ),* ];
                self.len = 0;
                // The columns are generated from the same list as the schema: same count,
                // order and types, so this cannot fail.
                #[allow(clippy::expect_used)]
                RecordBatch::try_new(file_schema(), cols).expect("builder columns match the file schema")
            }
        }
    };
    (@count) => { 0 };
    (@count $x:ident $($rest:ident)*) => { 1 + lake_columns!(@count $($rest)*) };
    (@glue Required) => { GlueType::String };
    (@glue Text) => { GlueType::String };
    (@glue Number) => { GlueType::Double };
    (@glue Millis) => { GlueType::Timestamp };
    (@rust Required) => { std::borrow::Cow<'a, str> };
    (@rust Text) => { Option<std::borrow::Cow<'a, str>> };
    (@rust Number) => { Option<f64> };
    (@rust Millis) => { i64 };
    (@builder Required) => { StringBuilder };
    (@builder Text) => { StringBuilder };
    (@builder Number) => { Float64Builder };
    (@builder Millis) => { TimestampMillisecondBuilder };
    (@new Required, $n:expr) => { StringBuilder::with_capacity($n, $n * 8) };
    (@new Text, $n:expr) => { StringBuilder::with_capacity($n, $n * 8) };
    (@new Number, $n:expr) => { Float64Builder::with_capacity($n) };
    (@exact Required, $n:expr, $bytes:expr) => { StringBuilder::with_capacity($n, $bytes) };
    (@exact Text, $n:expr, $bytes:expr) => { StringBuilder::with_capacity($n, $bytes) };
    (@exact Number, $n:expr, $bytes:expr) => { Float64Builder::with_capacity($n) };
    (@exact Millis, $n:expr, $bytes:expr) => { TimestampMillisecondBuilder::with_capacity($n).with_timezone("UTC") };
    (@len Required, $v:expr) => { $v.len() };
    (@len Text, $v:expr) => { $v.as_deref().map_or(0, str::len) };
    (@len Number, $v:expr) => { 0 };
    (@len Millis, $v:expr) => { 0 };
    (@owned Required, $v:expr) => { std::borrow::Cow::Owned($v.into_owned()) };
    (@owned Text, $v:expr) => { $v.map(|c| std::borrow::Cow::Owned(c.into_owned())) };
    (@owned Number, $v:expr) => { $v };
    (@owned Millis, $v:expr) => { $v };
    (@new Millis, $n:expr) => { TimestampMillisecondBuilder::with_capacity($n).with_timezone("UTC") };
    (@push Required, $b:expr, $v:expr) => { $b.append_value(&$v) };
    (@push Text, $b:expr, $v:expr) => { $b.append_option($v.as_deref()) };
    (@push Number, $b:expr, $v:expr) => { $b.append_option($v) };
    (@push Millis, $b:expr, $v:expr) => { $b.append_value($v) };
}

lake_columns! {
    /// `teleport`, `aws`, `github` or `okta`.
    event_source => event_source: Required,
    /// Who acted: a user name, an email, an ARN, a bot name.
    identity => identity: Text,
    /// `user`, `bot`, `role`, `service`, `root`, `system`, …
    identity_kind => identity_kind: Text,
    /// A stable id of the actor in its source (Okta user id, AWS principal id, …).
    identity_id => identity_id: Text,
    /// The credential used: an access key id, a token id, a certificate serial.
    token => token: Text,
    /// What was done, in the source's words (`session.start`, `ConsoleLogin`, `repo.create`).
    action => action: Text,
    /// Where it happened: the Teleport cluster, the AWS region, the GitHub org, the Okta org.
    origin => origin: Text,
    /// `success` or `failure`.
    status => status: Text,
    /// The client IP address, without port or brackets.
    ip => ip: Text,
    /// GeoIP enrichment (filled by `enrich`, never by a decoder).
    city => city: Text,
    country => country: Text,
    region => region: Text,
    latitude => latitude: Number,
    longitude => longitude: Number,
    /// The resource acted on.
    target_resource => target_resource: Text,
    target_kind => target_kind: Text,
    target_location => target_location: Text,
    target_id => target_id: Text,
    user_agent => user_agent: Text,
    /// The source's event type (`session.start`, `AwsApiCall`, `repo.create`, `user.session.start`).
    event_type => event_type: Required,
    /// Event time, UTC, milliseconds since the Unix epoch.
    event_time => event_time_ms: Millis,
    /// The event's unique id in its source (a fresh UUID when the source has none).
    uid => uid: Required,
    /// The original record as JSON, byte for byte as received.
    event_data => event_data: Required,
    aws_account_id => aws_account_id: Text,
    aws_service => aws_service: Text,
    github_organization => github_organization: Text,
    github_repo => github_repo: Text,
    okta_org => okta_org: Text,
    teleport_cluster => teleport_cluster: Text,
}

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

impl Row<'_> {
    /// The UTC date of the event, `YYYY-MM-DD`, which names its partition.
    pub fn event_date(&self) -> chrono::NaiveDate {
        chrono::DateTime::from_timestamp_millis(self.event_time_ms)
            .map(|t| t.date_naive())
            .unwrap_or_default()
    }
}

impl RowBatchBuilder {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    /// Every field lands in the column of its name: the generated builder keeps the order.
    #[test]
    fn row_fields_land_in_their_columns() {
        let r = Row {
            event_source: "teleport".into(),
            identity: Some("identity".into()),
            target_id: Some("target_id".into()),
            event_type: "event_type".into(),
            event_time_ms: 1_700_000_000_123,
            uid: "uid".into(),
            event_data: "event_data".into(),
            latitude: Some(1.5),
            longitude: Some(-2.5),
            teleport_cluster: Some("teleport_cluster".into()),
            ..Default::default()
        };
        let mut b = RowBatchBuilder::with_capacity(1);
        b.push(&r);
        assert_eq!(b.len(), 1);
        let batch = b.finish();
        assert!(b.is_empty());
        assert_eq!(COLUMNS.len(), 29);
        assert_eq!(batch.schema(), file_schema());
        let s = |name: &str| {
            let c = batch.column(column_index(name).expect("column"));
            c.as_string::<i32>().value(0).to_string()
        };
        for name in [
            "identity",
            "target_id",
            "event_type",
            "uid",
            "event_data",
            "teleport_cluster",
        ] {
            assert_eq!(s(name), name);
        }
        assert_eq!(s("event_source"), "teleport");
        let lat = batch.column(column_index("latitude").expect("latitude"));
        assert_eq!(
            lat.as_primitive::<arrow::datatypes::Float64Type>().value(0),
            1.5
        );
        let lon = batch.column(column_index("longitude").expect("longitude"));
        assert_eq!(
            lon.as_primitive::<arrow::datatypes::Float64Type>().value(0),
            -2.5
        );
        assert!(batch.column(column_index("city").expect("city")).is_null(0));
        let t = batch.column(column_index("event_time").expect("event_time"));
        assert_eq!(
            t.as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                .value(0),
            1_700_000_000_123
        );
    }
}
