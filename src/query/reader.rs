//! The Parquet reader factory of the `events` scan: DataFusion's cached reader, except that a
//! filtered scan asks for each file's page index with its footer, so the session's metadata
//! cache keeps both.
//!
//! Why: DataFusion 55 loads footers without the page index and, when a predicate can use it,
//! reads and decodes the page index afterwards *outside* the cache — so every filtered query
//! over the same files decoded all their page indexes again. Measured on a 30-file month, a
//! warm `WHERE ip = …` lookup spent ~11 % of its CPU in `load_page_index` (offset- and
//! column-index decoding), every time. With the index fetched as part of the metadata, the
//! cache stores it once and later queries find it (the opener skips its own load when the
//! metadata has one). Scans without a filter on a file column keep DataFusion's choice (no
//! page index), as they cannot use it.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};

/// See the module doc.
#[derive(Debug)]
pub struct Factory {
    inner: CachedParquetFileReaderFactory,
    /// Ask for the page index with the footer (the scan filters on a file column).
    page_index: bool,
}

impl Factory {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        cache: Arc<FileMetadataCache>,
        page_index: bool,
    ) -> Self {
        Factory {
            inner: CachedParquetFileReaderFactory::new(store, cache),
            page_index,
        }
    }
}

impl ParquetFileReaderFactory for Factory {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> datafusion::error::Result<Box<dyn AsyncFileReader + Send>> {
        let inner = self
            .inner
            .create_reader(partition_index, file, metadata_size_hint, metrics)?;
        if !self.page_index {
            return Ok(inner);
        }
        Ok(Box::new(Reader { inner }))
    }
}

/// DataFusion's cached reader, asking for the page index with every footer.
struct Reader {
    inner: Box<dyn AsyncFileReader + Send>,
}

impl AsyncFileReader for Reader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.inner.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        self.inner.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let options = options
            .cloned()
            .unwrap_or_default()
            .with_page_index_policy(PageIndexPolicy::Optional);
        async move { self.inner.get_metadata(Some(&options)).await }.boxed()
    }
}
