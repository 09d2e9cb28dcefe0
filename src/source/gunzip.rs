//! Gunzip for log objects: libdeflate when the gzip trailer's size is
//! plausible, flate2's streaming decoder otherwise, always with a cap on
//! the decompressed size.

use std::io::Read;

/// Largest decompressed object accepted at all (a CloudTrail log is a few
/// MB); runs cap files lower still, from their memory budget.
pub const MAX_DECOMPRESSED: usize = 1 << 30;

/// Gunzips a whole object, appending it to `out`. libdeflate is used when
/// the gzip trailer's size is plausible (it needs the output size up front
/// and is ~2x zlib); a multi-member or unusual file falls back to flate2's
/// streaming decoder. On error `out` is left as it was. Appending lets a
/// slice's files share one buffer, reused across slices (a fresh buffer per
/// file cost page faults). A file that would decompress to more than
/// `limit` bytes is refused once that many are out, so a decompression bomb
/// costs at most `limit` bytes of memory.
pub fn gunzip(
    data: &[u8],
    inflater: &mut Inflater,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), String> {
    let start = out.len();
    let r = gunzip_at(data, inflater, out, start, limit.min(MAX_DECOMPRESSED));
    if r.is_err() {
        out.truncate(start);
    }
    r
}

fn gunzip_at(
    data: &[u8],
    inflater: &mut Inflater,
    out: &mut Vec<u8>,
    start: usize,
    limit: usize,
) -> Result<(), String> {
    if data.is_empty() {
        return Err("empty file (0 bytes)".to_string());
    }
    if data.len() < 18 || data[0] != 0x1f || data[1] != 0x8b {
        return Err("not a gzip file".to_string());
    }
    if let Some(isize) = gzip_size(data).filter(|&n| n <= limit) {
        // One member that fills exactly the trailer's size: done. Anything
        // else (several members, a wrong trailer, damage) goes the slow way.
        if inflater.gzip_member(data, out, isize) == Some((data.len(), isize)) {
            return Ok(());
        }
        out.truncate(start);
    }
    flate2::read::MultiGzDecoder::new(data)
        .take(limit as u64 + 1)
        .read_to_end(out)
        .map_err(|e| format!("gzip: {e}"))?;
    if out.len() - start > limit {
        return Err(format!(
            "decompresses to more than {limit} bytes (the per-file limit)"
        ));
    }
    Ok(())
}

/// The uncompressed size a gzip file's trailer gives, when it is plausible:
/// at most what deflate can expand the file to (~1032:1) and at most
/// [`MAX_DECOMPRESSED`]. Only a hint: the trailer may lie, within that.
pub fn gzip_size(data: &[u8]) -> Option<usize> {
    let at = data.len().checked_sub(4)?;
    let isize = u32::from_le_bytes(data[at..].try_into().expect("4 bytes")) as usize;
    (isize <= data.len().saturating_mul(1032) && isize <= MAX_DECOMPRESSED).then_some(isize)
}

/// libdeflate's decompressor. The `_ex` call is used because the plain one
/// does not say how much input a member used, so it would silently stop
/// after the first member of a multi-member file.
pub struct Inflater(std::ptr::NonNull<libdeflate_sys::libdeflate_decompressor>);

// SAFETY: a libdeflate decompressor has no thread affinity; `&mut self`
// keeps it to one thread at a time.
unsafe impl Send for Inflater {}

impl Inflater {
    pub fn new() -> Self {
        // SAFETY: plain allocation; checked for null below.
        let p = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        Self(std::ptr::NonNull::new(p).expect("libdeflate allocation failed"))
    }

    /// Inflates the first gzip member of `data` onto the end of `out`, up to
    /// `size` bytes, straight into the vector's spare capacity: zero-filling
    /// it first was a memset of every decompressed byte. Returns the input
    /// bytes used and the bytes written.
    fn gzip_member(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        size: usize,
    ) -> Option<(usize, usize)> {
        out.reserve(size);
        let (mut used, mut written) = (0usize, 0usize);
        // SAFETY: pointers and lengths come from a live slice and the
        // vector's spare capacity (at least `size` bytes); libdeflate writes
        // at most `size` bytes there and the two counters.
        let r = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                data.as_ptr().cast(),
                data.len(),
                out.spare_capacity_mut().as_mut_ptr().cast(),
                size,
                &mut used,
                &mut written,
            )
        };
        if r != libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS {
            return None;
        }
        // SAFETY: libdeflate initialized the first `written` (<= `size`)
        // bytes of the spare capacity.
        unsafe { out.set_len(out.len() + written) };
        Some((used, written))
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor, freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gunzip_appends_good_input_and_leaves_the_buffer_on_bad() {
        let mut d = Inflater::new();
        // Appended after what the buffer holds; on error it is unchanged.
        let mut gunzip = |data: &[u8]| {
            let mut out = b"left over|".to_vec();
            let r = gunzip(data, &mut d, &mut out, 1 << 20);
            match r {
                Ok(()) => Ok(out.strip_prefix(b"left over|").expect("kept").to_vec()),
                Err(e) => {
                    assert_eq!(out, b"left over|");
                    Err(e)
                }
            }
        };
        let body = br#"{"Records":[]}"#;
        assert_eq!(gunzip(&gz(body)).unwrap(), body);
        // two members, as `cat a.gz b.gz` makes
        let mut two = gz(b"ab");
        two.extend(gz(b"cd"));
        assert_eq!(gunzip(&two).unwrap(), b"abcd");
        assert!(gunzip(b"").unwrap_err().contains("empty"));
        assert!(gunzip(b"{\"Records\":[]}xxxxxxxxxx")
            .unwrap_err()
            .contains("not a gzip"));
        let good = gz(&[b'x'; 10_000]);
        assert!(gunzip(&good[..good.len() / 2]).is_err());
        // A trailer that lies about the size: libdeflate stops at the size
        // given, the slow path checks the trailer and refuses the file.
        let mut lying = gz(&[b'y'; 5_000]);
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&100u32.to_le_bytes());
        assert!(gunzip(&lying).is_err());
        // A bomb stops at the limit, whatever the trailer says.
        let bomb = gz(&vec![b'{'; 3 << 20]);
        let e = gunzip(&bomb).unwrap_err();
        assert!(e.contains("more than 1048576 bytes"), "{e}");
    }
}
