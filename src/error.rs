//! The crate's error type: every failure a user can meet, with context, in one enum.
//!
//! Each variant says what went wrong in the user's terms; `kind()` classifies it once so every
//! face maps it the same way (exit codes in the CLI, gRPC codes in the Flight server).

use std::path::PathBuf;

/// What kind of failure an error is, independent of the face reporting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's input is wrong (bad SQL, unknown view, bad flag value).
    InvalidInput,
    /// The statement is not allowed (DDL/DML on a read-only engine).
    PermissionDenied,
    /// A guardrail stopped the work (bytes scanned, timeout, memory).
    ResourceExhausted,
    /// Something outside failed (object store, network, disk).
    Unavailable,
    /// Not found (a lake, a file, a saved query).
    NotFound,
    /// A bug or an unexpected state.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid lake location '{url}': {reason}")]
    LakeUrl { url: String, reason: String },

    #[error("object store error at '{path}'")]
    Store {
        path: String,
        #[source]
        source: object_store::Error,
    },

    /// A local file operation failed; `op` says which (`read`, `write`, `create`, …).
    #[error("cannot {op} '{path}'")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot open GeoIP database '{path}'")]
    GeoIp {
        path: PathBuf,
        #[source]
        source: maxminddb::MaxMindDbError,
    },

    #[error("cannot write Parquet for partition {partition}")]
    Parquet {
        partition: String,
        #[source]
        source: parquet::errors::ParquetError,
    },

    #[error("{0}")]
    Sql(String),

    #[error("statement not allowed: {0}")]
    NotAllowed(String),

    #[error("query stopped: {0}")]
    Limit(String),

    #[error("query engine error")]
    DataFusion(#[source] datafusion::error::DataFusionError),

    #[error("arrow error")]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("invalid configuration: {0}")]
    Config(String),

    /// An SQS call failed (the SDK's whole error context is in `message`).
    #[error("SQS {op} failed: {message}")]
    Sqs { op: &'static str, message: String },

    /// JSON that could not be read or written; `what` names it in the user's terms.
    #[error("cannot encode or decode {what} as JSON")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    /// YAML that could not be read or written.
    #[error("cannot encode or decode {what} as YAML")]
    Yaml {
        what: String,
        #[source]
        source: serde_yaml::Error,
    },

    /// Another process took over work this one was doing (a lapsed lock); nothing was lost.
    #[error("{0}")]
    LockLost(String),

    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The message with every cause after it, joined by `sep` (the CLI prints one per line,
    /// gRPC statuses and logs take one line).
    pub fn chain(&self, sep: &str) -> String {
        let mut msg = self.to_string();
        let mut src = std::error::Error::source(self);
        while let Some(s) = src {
            msg.push_str(sep);
            msg.push_str(&s.to_string());
            src = s.source();
        }
        msg
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::LakeUrl { .. } | Error::Sql(_) | Error::Config(_) => ErrorKind::InvalidInput,
            Error::NotAllowed(_) => ErrorKind::PermissionDenied,
            Error::Limit(_) => ErrorKind::ResourceExhausted,
            Error::Store { source, .. } => match source {
                object_store::Error::NotFound { .. } => ErrorKind::NotFound,
                _ => ErrorKind::Unavailable,
            },
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::Io { .. } | Error::GeoIp { .. } | Error::Sqs { .. } | Error::LockLost(_) => {
                ErrorKind::Unavailable
            }
            Error::DataFusion(e) => datafusion_kind(e),
            Error::Json { .. } | Error::Yaml { .. } => ErrorKind::InvalidInput,
            Error::Parquet { .. } | Error::Arrow(_) | Error::Other(_) => ErrorKind::Internal,
        }
    }

    /// A failed file operation: `Error::io("write", path, e)` reads "cannot write 'path'".
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A JSON encode/decode failure of `what`.
    pub fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Json {
            what: what.into(),
            source,
        }
    }

    pub fn store(path: impl Into<String>, source: object_store::Error) -> Self {
        Error::Store {
            path: path.into(),
            source,
        }
    }
}

/// Classifies a DataFusion error: plan/SQL errors are the user's, resource errors are limits.
fn datafusion_kind(e: &datafusion::error::DataFusionError) -> ErrorKind {
    use datafusion::error::DataFusionError as D;
    match e.find_root() {
        D::SQL(..) | D::Plan(_) | D::SchemaError(..) | D::NotImplemented(_) => {
            ErrorKind::InvalidInput
        }
        D::ResourcesExhausted(_) => ErrorKind::ResourceExhausted,
        D::ObjectStore(_) | D::IoError(_) => ErrorKind::Unavailable,
        D::External(e) if e.downcast_ref::<LimitExceeded>().is_some() => {
            ErrorKind::ResourceExhausted
        }
        D::Execution(_) => ErrorKind::InvalidInput,
        _ => ErrorKind::Internal,
    }
}

/// A guardrail (bytes scanned, deadline) tripped inside query execution. It travels through
/// DataFusion as `DataFusionError::External(Box<LimitExceeded>)` and is recognised by type, not
/// by message text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LimitExceeded(pub String);

impl LimitExceeded {
    /// As the DataFusion error an operator returns.
    pub fn into_datafusion(self) -> datafusion::error::DataFusionError {
        datafusion::error::DataFusionError::External(Box::new(self))
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::DataFusion(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
