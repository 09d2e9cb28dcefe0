//! A Parquet file's footer, read from its store in one ranged GET (two
//! when the footer is longer than the first read).

use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

/// Bytes of a file's end read first: ours hold their footer in ~10 KB.
pub const FOOTER_HINT: u64 = 64 << 10;

/// The footer of the `size`-byte file at `path`, and its length with the
/// 8 bytes that end the file. The error says what is wrong, without the
/// file's name (the caller has it).
pub async fn read(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    size: u64,
) -> Result<(ParquetMetaData, u64), String> {
    if size < 12 {
        return Err("too small to be a Parquet file".into());
    }
    let hint = size.min(FOOTER_HINT);
    let tail = store
        .get_range(path, size - hint..size)
        .await
        .map_err(|e| e.to_string())?;
    let end = tail.len();
    if end < 8 || &tail[end - 4..] != b"PAR1" {
        return Err("no Parquet magic at the end".into());
    }
    let len = u64::from(u32::from_le_bytes(
        tail[end - 8..end - 4].try_into().expect("4 bytes"),
    ));
    if len + 8 > size {
        return Err(format!("footer length {len} exceeds the file"));
    }
    let meta = if len + 8 <= hint {
        tail.slice(end - 8 - len as usize..end - 8)
    } else {
        store
            .get_range(path, size - 8 - len..size - 8)
            .await
            .map_err(|e| e.to_string())?
    };
    let meta = ParquetMetaDataReader::decode_metadata(&meta).map_err(|e| e.to_string())?;
    Ok((meta, len + 8))
}
