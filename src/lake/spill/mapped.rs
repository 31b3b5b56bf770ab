//! A spill run read back by mapping each batch's bytes from its file, not copying them.
//!
//! Why: reading a run with `FileReader` allocates a zeroed buffer per batch and copies the
//! page cache into it; on input in arbitrary order nearly every row is spilled, and that zeroing
//! and copy were a twentieth of the ingest's CPU. A mapped batch's arrays point into the page
//! cache itself (Arrow keeps the mapping alive while any array uses it); each batch is a
//! mapping of its own, so what a merge holds is bounded as before, by the batches it has open.
//!
//! Safety: a mapping must not outlive its bytes. The runs are this process's own files in its
//! own `0700` temporary directory, written and closed before they are read; every block is
//! checked to lie inside the file's length as it was when opened, so no page past the end is
//! touched. Only a process of the same user truncating the file under us could fault, and
//! that user can already do anything to this process. A disk error while a mapped page is
//! read is a fault, not an error: the spill directory is a local disk (`--spill-dir`), where
//! the runs were just written and are still in the page cache.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::ipc::Block;
use arrow::ipc::reader::{FileDecoder, read_footer_length};

use crate::error::{Error, Result};
use crate::schema;

/// An open run: its record batch blocks, read in order.
pub struct Run {
    file: File,
    path: PathBuf,
    len: u64,
    blocks: Vec<Block>,
    next: usize,
    decoder: FileDecoder,
}

impl Run {
    /// Opens a run written by [`super::write_run`] and reads its footer.
    pub fn open(path: &Path) -> Result<Run> {
        let file = File::open(path).map_err(|e| Error::io("read", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("read the size of", path, e))?
            .len();
        let bad = |why: &str| Error::Other(format!("spill run {}: {why}", path.display()));
        // The file ends with the footer, its length (4 bytes) and the magic `ARROW1`.
        if len < 10 {
            return Err(bad("too short to be an Arrow IPC file"));
        }
        let mut trailer = [0u8; 10];
        file.read_exact_at(&mut trailer, len - 10)
            .map_err(|e| Error::io("read", path, e))?;
        let footer_len = read_footer_length(trailer)? as u64;
        if footer_len > len - 10 {
            return Err(bad("footer longer than the file"));
        }
        let mut footer_bytes = vec![0u8; footer_len as usize];
        file.read_exact_at(&mut footer_bytes, len - 10 - footer_len)
            .map_err(|e| Error::io("read", path, e))?;
        let footer = arrow::ipc::root_as_footer(&footer_bytes)
            .map_err(|e| bad(&format!("unreadable footer: {e}")))?;
        let file_schema = schema::file_schema();
        // arrow's flatbuffer conversions assert on malformed input; a damaged run is an error.
        let written = catch_unwind(AssertUnwindSafe(|| {
            footer.schema().map(arrow::ipc::convert::fb_to_schema)
        }))
        .map_err(|_| bad("a malformed schema"))?
        .ok_or_else(|| bad("no schema"))?;
        if written.fields() != file_schema.fields() {
            return Err(bad("not the lake's schema"));
        }
        if footer.dictionaries().is_some_and(|d| !d.is_empty()) {
            return Err(bad("dictionaries (the lake's schema has none)"));
        }
        let blocks: Vec<Block> = footer
            .recordBatches()
            .map(|b| b.iter().copied().collect())
            .unwrap_or_default();
        for b in &blocks {
            let end =
                block_len(b).and_then(|n| u64::try_from(b.offset()).ok()?.checked_add(n as u64));
            if end.is_none_or(|end| end > len) {
                return Err(bad("a block outside the file"));
            }
            // A message starts with its 8-byte prefix and is padded to 8 bytes (arrow indexes
            // the prefix without checking).
            let meta = b.metaDataLength();
            if meta < 8 || meta % 8 != 0 {
                return Err(bad("a block without a message"));
            }
        }
        let decoder = FileDecoder::new(file_schema, footer.version());
        Ok(Run {
            file,
            path: path.to_path_buf(),
            len,
            blocks,
            next: 0,
            decoder,
        })
    }

    /// The next batch, mapped from the file; None after the last.
    pub fn next(&mut self) -> Option<Result<RecordBatch>> {
        let block = *self.blocks.get(self.next)?;
        self.next += 1;
        Some(self.read(&block))
    }

    fn read(&self, block: &Block) -> Result<RecordBatch> {
        // Checked in `open`: the block lies inside the file.
        let len = block_len(block).unwrap_or(0);
        let offset = block.offset() as u64;
        debug_assert!(offset + len as u64 <= self.len);
        let buf = map(&self.file, offset, len).map_err(|e| Error::io("map", &self.path, e))?;
        // The decoder asserts that a message's buffers lie inside its block: on a damaged run
        // that is a panic, caught here as the error it is (the mapping is released either way).
        let decoded = catch_unwind(AssertUnwindSafe(|| {
            self.decoder.read_record_batch(block, &buf)
        }))
        .map_err(|_| {
            Error::Other(format!(
                "spill run {}: a malformed batch",
                self.path.display()
            ))
        })?;
        decoded?.ok_or_else(|| {
            Error::Other(format!("spill run {}: an empty block", self.path.display()))
        })
    }
}

/// A block's metadata and body length, if it fits in memory.
fn block_len(b: &Block) -> Option<usize> {
    let meta = usize::try_from(b.metaDataLength()).ok()?;
    let body = usize::try_from(b.bodyLength()).ok()?;
    meta.checked_add(body)
}

/// A read-only private mapping, unmapped when the last array using it is dropped.
struct Mapping {
    addr: usize,
    len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `addr`/`len` are exactly what mmap returned and took; nothing reads the
        // mapping any more (the last Buffer holding this allocation is being dropped).
        unsafe {
            libc::munmap(self.addr as *mut libc::c_void, self.len);
        }
    }
}

/// Maps `len` bytes of `file` from `offset` as an Arrow buffer. The caller has checked that
/// the range lies inside the file.
fn map(file: &File, offset: u64, len: usize) -> std::io::Result<Buffer> {
    if len == 0 {
        return Ok(Buffer::from_vec(Vec::<u8>::new()));
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096);
    let start = offset - offset % page;
    let skip = (offset - start) as usize;
    let map_len = len + skip;
    let start = libc::off_t::try_from(start).map_err(std::io::Error::other)?;
    // SAFETY: a fresh read-only private mapping of an open file descriptor; the kernel picks
    // the address. MAP_POPULATE maps the (already cached) pages in one call instead of a fault
    // per page.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            map_len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_POPULATE,
            file.as_raw_fd(),
            start,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let mapping = Mapping {
        addr: addr as usize,
        len: map_len,
    };
    // SAFETY: `addr + skip .. addr + map_len` is inside the mapping, which the Arc keeps alive
    // as long as the buffer (and every slice of it) exists; the bytes are never written.
    unsafe {
        let data = NonNull::new_unchecked((addr as *mut u8).add(skip));
        Ok(Buffer::from_custom_allocation(data, len, Arc::new(mapping)))
    }
}
