//! What clients hand back to us: prepared-statement handles and statement tickets. A handle
//! carries the SQL, the tenant it was made for and, once bound, the parameters as Arrow IPC;
//! it is signed with HMAC-SHA256 under a key made at process start, so a client can neither
//! forge one nor feed its bytes to the IPC reader. Sizes are checked before anything else.

use datafusion::arrow::array::RecordBatch;
use datafusion::common::{ParamValues, ScalarValue};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::Status;

/// Leading bytes of a handle of this format (a version, should it ever change).
const MAGIC: &[u8] = b"alh1";
const MAC_LEN: usize = 32;

/// A prepared statement's state, kept by the client between calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handle {
    pub sql: String,
    /// The tenant of the token that prepared it: another tenant's token cannot use it.
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_ipc_hex: Option<String>,
}

/// Signs and checks handles with one process's key, within the size caps.
pub struct HandleCodec {
    key: [u8; 32],
    max_statement_bytes: usize,
    max_params_bytes: usize,
}

fn malformed() -> Status {
    Status::invalid_argument("malformed or forged prepared statement handle")
}

impl HandleCodec {
    /// A codec with a fresh random key: handles live as long as this process.
    pub fn new(max_statement_bytes: usize, max_params_bytes: usize) -> Self {
        // Two v4 UUIDs are 244 bits from the OS's random source.
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        HandleCodec {
            key,
            max_statement_bytes,
            max_params_bytes,
        }
    }

    /// The largest encoded handle this codec can have made (hex doubles the parameters).
    fn max_handle_bytes(&self) -> usize {
        MAGIC.len()
            + MAC_LEN
            + 256
            + self
                .max_statement_bytes
                .saturating_mul(6) // JSON escaping of the SQL, at worst \uXXXX per byte
                .saturating_add(self.max_params_bytes.saturating_mul(2))
    }

    pub fn encode(&self, h: &Handle) -> Result<Vec<u8>, Status> {
        let body = serde_json::to_vec(h).map_err(|e| Status::internal(e.to_string()))?;
        Ok(self.seal_raw(&body))
    }

    /// Signs arbitrary body bytes as a handle, exactly as `encode` signs a serialized one: what
    /// only a holder of the key could send. The fuzzer uses it to reach the checks past the
    /// signature (the JSON body, the tenant, the parameters' IPC) with bodies we never write.
    #[doc(hidden)]
    pub fn seal_raw(&self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + MAC_LEN + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&hmac_sha256(&self.key, body));
        out.extend_from_slice(body);
        out
    }

    /// The handle, if these bytes are one we signed; nothing of the body is read before the
    /// signature holds.
    pub fn decode(&self, b: &[u8]) -> Result<Handle, Status> {
        if b.len() > self.max_handle_bytes() {
            return Err(Status::resource_exhausted(format!(
                "prepared statement handle of {} bytes is over the limit",
                b.len()
            )));
        }
        let rest = b.strip_prefix(MAGIC).ok_or_else(malformed)?;
        if rest.len() < MAC_LEN {
            return Err(malformed());
        }
        let (mac, body) = rest.split_at(MAC_LEN);
        if !constant_time_eq(mac, &hmac_sha256(&self.key, body)) {
            return Err(malformed());
        }
        serde_json::from_slice(body).map_err(|_| malformed())
    }

    /// `decode`, for the token's tenant only.
    pub fn decode_for(&self, b: &[u8], tenant: &str) -> Result<Handle, Status> {
        let h = self.decode(b)?;
        if h.tenant != tenant {
            return Err(Status::permission_denied(
                "the prepared statement belongs to another tenant",
            ));
        }
        Ok(h)
    }

    /// The bound parameters, the byte cap checked before the IPC reader sees them.
    pub fn params(&self, h: &Handle) -> Result<Option<ParamValues>, Status> {
        let Some(hexed) = &h.params_ipc_hex else {
            return Ok(None);
        };
        if hexed.len() / 2 > self.max_params_bytes {
            return Err(Status::resource_exhausted(format!(
                "bound parameters of {} bytes are over the {}-byte limit",
                hexed.len() / 2,
                self.max_params_bytes
            )));
        }
        let bytes = unhex(hexed)?;
        // The push decoder over the bytes we hold: it never allocates more than it is given,
        // where the pull reader allocates whatever length a message header declares (the
        // fuzzer made it ask for 1.6 GB from four bytes).
        let bad = |e: datafusion::arrow::error::ArrowError| {
            Status::invalid_argument(format!("parameters: {e}"))
        };
        let mut decoder = datafusion::arrow::ipc::reader::StreamDecoder::new();
        let mut buf = datafusion::arrow::buffer::Buffer::from(bytes);
        let mut values = Vec::new();
        while !buf.is_empty() {
            let Some(batch) = decoder.decode(&mut buf).map_err(bad)? else {
                continue;
            };
            if batch.num_rows() == 0 {
                continue;
            }
            for c in batch.columns() {
                c.to_data().validate_full().map_err(bad)?;
                values.push(
                    ScalarValue::try_from_array(c, 0)
                        .map_err(|e| Status::invalid_argument(format!("parameters: {e}")))?,
                );
            }
            break;
        }
        if values.is_empty() {
            // No row: the stream must still be a whole one, with a schema.
            decoder.finish().map_err(bad)?;
            if decoder.schema().is_none() {
                return Err(Status::invalid_argument("parameters: no Arrow IPC schema"));
            }
        }
        Ok(Some(ParamValues::List(
            values.into_iter().map(Into::into).collect(),
        )))
    }

    /// SQL a client sent, as UTF-8 within the statement cap.
    pub fn statement<'a>(&self, sql: &'a [u8]) -> Result<&'a str, Status> {
        self.check_statement(sql.len())?;
        std::str::from_utf8(sql).map_err(|_| Status::invalid_argument("statement is not UTF-8"))
    }

    /// `ResourceExhausted` for a statement over the cap.
    pub fn check_statement(&self, len: usize) -> Result<(), Status> {
        if len > self.max_statement_bytes {
            return Err(Status::resource_exhausted(format!(
                "statement of {len} bytes is over the {}-byte limit (--max-statement-bytes)",
                self.max_statement_bytes
            )));
        }
        Ok(())
    }
}

/// Binding parameters: reads at most `max` bytes of a client's DoPut stream, keeps the first
/// row of the first non-empty batch and returns it re-encoded as Arrow IPC (what a handle
/// carries), or None for a stream with no rows. Everything after that row is never read.
pub async fn bind_first_row<S>(data: S, max: usize) -> Result<Option<Vec<u8>>, Status>
where
    S: futures::Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static,
{
    use futures::FutureExt;
    // Arrow's IPC decoder panics on some malformed messages (the fuzzer found a validity
    // buffer shorter than its array, arrow 59.3): whatever a client sends, it gets a refusal.
    let first = std::panic::AssertUnwindSafe(first_batch(data, max))
        .catch_unwind()
        .await
        .map_err(|_| {
            tracing::warn!("DoPut parameters: the Arrow IPC decoder panicked on malformed input");
            Status::invalid_argument("parameters: malformed Arrow IPC")
        })??;
    let Some(first) = first else {
        return Ok(None);
    };
    // The decoder does not check every buffer against its array: check them all before
    // anything (the slice, the IPC writer, later the planner) reads the values.
    for c in first.columns() {
        c.to_data()
            .validate_full()
            .map_err(|e| Status::invalid_argument(format!("parameters: {e}")))?;
    }
    // One row is bound; the rest would only cost memory.
    let first = first.slice(0, 1);
    let mut buf = Vec::new();
    {
        let mut w =
            datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut buf, &first.schema())
                .map_err(|e| Status::internal(e.to_string()))?;
        w.write(&first)
            .map_err(|e| Status::internal(e.to_string()))?;
        w.finish().map_err(|e| Status::internal(e.to_string()))?;
    }
    if buf.len() > max {
        return Err(Status::resource_exhausted(format!(
            "parameters over the {max}-byte limit (--max-put-bytes)"
        )));
    }
    Ok(Some(buf))
}

/// The first non-empty batch of a DoPut stream, reading at most `max` bytes of it.
async fn first_batch<S>(data: S, max: usize) -> Result<Option<RecordBatch>, Status>
where
    S: futures::Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static,
{
    use arrow_flight::decode::FlightRecordBatchStream;
    use arrow_flight::error::FlightError;
    use futures::StreamExt;
    let data =
        super::limits::capped(data, max).map(|r| r.map_err(|s| FlightError::Tonic(Box::new(s))));
    let mut batches = FlightRecordBatchStream::new_from_flight_data(data);
    while let Some(b) = batches.next().await {
        let b = b.map_err(|e| match e {
            FlightError::Tonic(s) => *s,
            e => Status::invalid_argument(format!("parameters: {e}")),
        })?;
        if b.num_rows() > 0 {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, Status> {
    if !s.len().is_multiple_of(2) {
        return Err(malformed());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect::<Option<_>>()
        .ok_or_else(malformed)
}

/// HMAC-SHA256 (RFC 2104) over `sha2`, so no other crypto crate is needed.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// Compares without stopping at the first difference, so timing says nothing of the MAC.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> HandleCodec {
        HandleCodec::new(1024, 1024)
    }

    fn h() -> Handle {
        Handle {
            sql: "SELECT $1".into(),
            tenant: "acme".into(),
            params_ipc_hex: None,
        }
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn round_trips_and_binds_the_tenant() {
        let c = codec();
        let b = c.encode(&h()).unwrap();
        assert_eq!(c.decode(&b).unwrap(), h());
        assert_eq!(c.decode_for(&b, "acme").unwrap(), h());
        assert_eq!(
            c.decode_for(&b, "globex").unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
    }

    #[test]
    fn refuses_forged_and_malformed_handles() {
        let c = codec();
        let good = c.encode(&h()).unwrap();
        // The old unsigned JSON handle, another process's key, a flipped byte, truncations,
        // random bytes, empty input: all refused as InvalidArgument, none panics.
        let mut cases: Vec<Vec<u8>> = vec![
            br#"{"sql":"SELECT 1","tenant":"acme","params_ipc_hex":"ffff"}"#.to_vec(),
            codec().encode(&h()).unwrap(),
            Vec::new(),
            MAGIC.to_vec(),
            good[..good.len() - 1].to_vec(),
            good[..MAGIC.len() + MAC_LEN - 1].to_vec(),
        ];
        for i in [0, MAGIC.len(), MAGIC.len() + 5, good.len() - 1] {
            let mut b = good.clone();
            b[i] ^= 0x01;
            cases.push(b);
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in [1, 7, 36, 37, 100, 999] {
            cases.push(
                (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect(),
            );
        }
        for b in cases {
            let e = c.decode(&b).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{b:?}");
        }
        let huge = vec![b'a'; c.max_handle_bytes() + 1];
        assert_eq!(
            c.decode(&huge).unwrap_err().code(),
            tonic::Code::ResourceExhausted
        );
    }

    #[test]
    fn parameter_bytes_are_capped_before_decoding() {
        let c = codec();
        let mut over = h();
        over.params_ipc_hex = Some("00".repeat(1025));
        assert_eq!(
            c.params(&over).unwrap_err().code(),
            tonic::Code::ResourceExhausted
        );
        let mut junk = h();
        junk.params_ipc_hex = Some("zz".into());
        assert_eq!(
            c.params(&junk).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let mut odd = h();
        odd.params_ipc_hex = Some("abc".into());
        assert_eq!(
            c.params(&odd).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let mut not_ipc = h();
        not_ipc.params_ipc_hex = Some("ffffffff00000000".into());
        assert!(c.params(&not_ipc).is_err());
    }

    #[test]
    fn statements_over_the_cap_are_refused() {
        let c = codec();
        assert_eq!(c.statement(b"SELECT 1").unwrap(), "SELECT 1");
        assert_eq!(
            c.statement(&[b' '; 1025]).unwrap_err().code(),
            tonic::Code::ResourceExhausted
        );
        assert_eq!(
            c.statement(&[0xff, 0xfe]).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }
}
