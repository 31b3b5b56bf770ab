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
//!
//! Bloom filters likewise: DataFusion reads a file's Bloom filter bytes (~75 KB per column per
//! 64 Ki-row row group here) again on every query that can use them, outside any cache — 11 %
//! of a warm `uid = …` lookup's CPU over a 30-file month (the copy, zeroing the buffer, the
//! path lookup). The reader recognises a Bloom filter's range from the file's footer and keeps
//! its bytes in the session's [`BloomCache`] (bounded; files are immutable, and the key holds
//! the file's size and modification time besides its path).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

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
    blooms: Arc<BloomCache>,
}

impl Factory {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        cache: Arc<FileMetadataCache>,
        page_index: bool,
        blooms: Arc<BloomCache>,
    ) -> Self {
        Factory {
            inner: CachedParquetFileReaderFactory::new(store, cache),
            page_index,
            blooms,
        }
    }
}

/// Memory the Bloom filter cache may hold: a month of 30 files' `uid` and `ip` filters is
/// ~4.5 MB; past the bound the cache starts over (filters are read again, answers unchanged).
const BLOOM_CACHE_BYTES: usize = 32 << 20;

/// A single filter larger than this is read every time rather than cached (a hostile footer
/// may claim any length; ours are at most ~75 KB).
const MAX_CACHED_BLOOM: u64 = 1 << 20;

/// (path, size, modification time, byte range) of one Bloom filter.
type BloomKey = (String, u64, chrono::DateTime<chrono::Utc>, u64, u64);

/// The Bloom filter bytes read by earlier scans of a session (see the module doc).
#[derive(Debug, Default)]
pub struct BloomCache {
    inner: Mutex<(usize, HashMap<BloomKey, Bytes>)>,
}

impl BloomCache {
    fn get(&self, k: &BloomKey) -> Option<Bytes> {
        self.inner.lock().ok()?.1.get(k).cloned()
    }

    fn put(&self, k: BloomKey, v: Bytes) {
        let Ok(mut g) = self.inner.lock() else { return };
        if g.0 + v.len() > BLOOM_CACHE_BYTES {
            g.1.clear();
            g.0 = 0;
        }
        g.0 += v.len();
        g.1.insert(k, v);
    }

    /// Bytes held (for tests and `EXPLAIN`-style diagnostics).
    pub fn bytes(&self) -> usize {
        self.inner.lock().map(|g| g.0).unwrap_or(0)
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
        let meta = &file.object_meta;
        let file_key = (meta.location.to_string(), meta.size, meta.last_modified);
        let inner = self
            .inner
            .create_reader(partition_index, file, metadata_size_hint, metrics)?;
        if !self.page_index {
            return Ok(inner);
        }
        Ok(Box::new(Reader {
            inner,
            file_key,
            blooms: Arc::clone(&self.blooms),
            bloom_ranges: Vec::new(),
        }))
    }
}

/// DataFusion's cached reader, asking for the page index with every footer, and keeping the
/// file's Bloom filters in the session's cache.
struct Reader {
    inner: Box<dyn AsyncFileReader + Send>,
    /// (path, size, modification time) of the file.
    file_key: (String, u64, chrono::DateTime<chrono::Utc>),
    blooms: Arc<BloomCache>,
    /// The file's Bloom filter ranges, from its footer (empty until the footer is read: a
    /// range this reader has not seen in the footer is never served from the cache).
    bloom_ranges: Vec<Range<u64>>,
}

impl AsyncFileReader for Reader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        if !self.bloom_ranges.contains(&range) {
            return self.inner.get_bytes(range);
        }
        let (path, size, modified) = self.file_key.clone();
        let key = (path, size, modified, range.start, range.end);
        if let Some(b) = self.blooms.get(&key) {
            return futures::future::ready(Ok(b)).boxed();
        }
        async move {
            let b = self.inner.get_bytes(range).await?;
            self.blooms.put(key, b.clone());
            Ok(b)
        }
        .boxed()
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
        async move {
            let meta = self.inner.get_metadata(Some(&options)).await?;
            self.bloom_ranges = bloom_ranges(&meta);
            Ok(meta)
        }
        .boxed()
    }
}

/// Every column chunk's Bloom filter range that the footer states in full and that is small
/// enough to cache.
fn bloom_ranges(meta: &ParquetMetaData) -> Vec<Range<u64>> {
    meta.row_groups()
        .iter()
        .flat_map(|rg| rg.columns())
        .filter_map(|c| {
            let start = u64::try_from(c.bloom_filter_offset()?).ok()?;
            let len = u64::try_from(c.bloom_filter_length()?).ok()?;
            let end = start.checked_add(len)?;
            (len > 0 && len <= MAX_CACHED_BLOOM).then_some(start..end)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use parquet::file::metadata::{
        ColumnChunkMetaData, FileMetaData, ParquetMetaData, RowGroupMetaData,
    };
    use parquet::schema::types::SchemaDescriptor;

    use super::{BLOOM_CACHE_BYTES, BloomCache, MAX_CACHED_BLOOM, bloom_ranges};

    /// A footer of one row group whose columns claim these Bloom filter (offset, length)s.
    fn footer(blooms: &[(Option<i64>, Option<i32>)]) -> ParquetMetaData {
        let fields: String = (0..blooms.len())
            .map(|i| format!("optional binary c{i};"))
            .collect();
        let schema =
            parquet::schema::parser::parse_message_type(&format!("message m {{ {fields} }}"))
                .unwrap();
        let descr = Arc::new(SchemaDescriptor::new(Arc::new(schema)));
        let columns = blooms
            .iter()
            .enumerate()
            .map(|(i, &(off, len))| {
                ColumnChunkMetaData::builder(descr.column(i))
                    .set_bloom_filter_offset(off)
                    .set_bloom_filter_length(len)
                    .build()
                    .unwrap()
            })
            .collect();
        let rg = RowGroupMetaData::builder(descr.clone())
            .set_num_rows(1)
            .set_column_metadata(columns)
            .build()
            .unwrap();
        ParquetMetaData::new(FileMetaData::new(1, 1, None, None, descr, None), vec![rg])
    }

    #[test]
    fn only_stated_sane_bloom_ranges_are_cached() {
        let max = i32::try_from(MAX_CACHED_BLOOM).unwrap();
        let meta = footer(&[
            (Some(100), Some(50)),      // ours: cached
            (Some(-5), Some(50)),       // negative offset
            (Some(i64::MAX), Some(10)), // past any file: listed, but its read fails and caches nothing
            (Some(200), Some(-1)),      // negative length
            (Some(300), Some(0)),       // empty
            (Some(400), Some(max + 1)), // larger than one cached filter may be
            (Some(500), None),          // length not stated: read as parquet does
            (None, Some(10)),           // no filter
            (Some(600), Some(max)),     // the largest cached
        ]);
        let past = i64::MAX as u64;
        assert_eq!(
            bloom_ranges(&meta),
            vec![100..150, past..past + 10, 600..600 + MAX_CACHED_BLOOM]
        );
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let cache = BloomCache::default();
        let key = |i: u64| ("f".to_string(), 1, chrono::DateTime::UNIX_EPOCH, i, i + 1);
        let chunk = Bytes::from(vec![0u8; 1 << 20]);
        for i in 0..(BLOOM_CACHE_BYTES as u64 >> 20) * 3 {
            cache.put(key(i), chunk.clone());
            assert!(cache.bytes() <= BLOOM_CACHE_BYTES, "{}", cache.bytes());
        }
        // The newest entry survives a reset; a key never put is absent.
        let last = (BLOOM_CACHE_BYTES as u64 >> 20) * 3 - 1;
        assert_eq!(cache.get(&key(last)).map(|b| b.len()), Some(1 << 20));
        assert!(cache.get(&key(u64::MAX - 1)).is_none());
    }
}
