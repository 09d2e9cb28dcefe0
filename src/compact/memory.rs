//! The run's memory budget, the one owner of its shares, and giving freed
//! heap memory back to the system, sparingly.

/// The run's memory budget (`[compact] memory_budget_mb`, 512 MiB) and
/// every share a stage takes of it, in one place:
///
/// - rows in memory, across partitions, with those being spilled: up to
///   3/8 ([`Self::buffered_limit`]); past it the largest partitions are
///   spilled until 1/8 is left ([`Self::buffered_after_spill`]); the rest
///   is for the chunks being decoded, the spill being written and the
///   encoders;
/// - one file's JSON: 1/8 ([`Self::max_file_bytes`]), a file being decoded
///   by one thread with a tape several times its size;
/// - a row group being encoded: at most 1/4 ([`Self::row_group_cap`]);
/// - a batch read back from a spill or a lake file: 1/64
///   ([`Self::batch_bytes`]);
/// - a spilled partition's merge with the rows it still holds: 3/4
///   ([`Self::merge_limit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    bytes: usize,
    /// `[compact] max_file_mb`, when set: the file cap, whatever the budget.
    max_file: Option<usize>,
}

impl Default for MemoryBudget {
    fn default() -> Self {
        Self::new(512 << 20)
    }
}

impl MemoryBudget {
    pub fn new(bytes: usize) -> Self {
        Self {
            bytes,
            max_file: None,
        }
    }

    /// The budget with the file cap set to `bytes` (at most 1 GiB).
    pub fn with_max_file_bytes(self, bytes: usize) -> Self {
        Self {
            max_file: Some(bytes.min(crate::source::MAX_DECOMPRESSED)),
            ..self
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The largest JSON a log object may decompress to: an eighth of the
    /// budget, between 16 MiB and 1 GiB, unless set.
    pub fn max_file_bytes(&self) -> usize {
        self.max_file
            .unwrap_or((self.bytes / 8).clamp(16 << 20, crate::source::MAX_DECOMPRESSED))
    }

    /// Rows in memory (with those being spilled) before the largest
    /// partitions are spilled.
    pub fn buffered_limit(&self) -> usize {
        self.bytes / 8 * 3
    }

    /// Rows left in memory once spilling for the limit has started.
    pub fn buffered_after_spill(&self) -> usize {
        self.bytes / 8
    }

    /// The most a row group's encoder may hold.
    pub fn row_group_cap(&self) -> usize {
        (self.bytes / 4).max(1 << 20)
    }

    /// A batch written to or read back from a spill, or merged.
    pub fn batch_bytes(&self) -> usize {
        (self.bytes / 64).clamp(32 << 10, 8 << 20)
    }

    /// A spilled partition's merge with the rows it still holds in memory:
    /// past this those rows are spilled first.
    pub fn merge_limit(&self) -> usize {
        self.bytes / 4 * 3
    }
}

/// Hands freed heap pages back to the system once the resident size is
/// twice the most the heap has had in use (`peak_in_use`, kept across
/// calls). Partitions come and go in buffers of every size on several
/// threads; glibc keeps the holes they leave, and without trimming the
/// resident size crept up with the input (16 MB chunks: 395 -> 514 MiB
/// from 430 MB to 1.3 GB of JSON, with 260-280 MiB in use throughout).
/// Trimming after every chunk kept it flat but made every reuse of a freed
/// page fault again: 165k page faults instead of 110k on 430 MB, and 1.3 GB
/// took 7.9 s instead of 5.8 s. Measured with 8 MB chunks on 1.3 GB: at
/// 1.5x the peak, 317k faults, 361 MiB, 6.7 s; at 2x, 105k, 371 MiB, 6.5 s.
/// Past `budget` (the run's memory budget) it trims whatever the peak.
pub fn release_free_memory(peak_in_use: &mut u64, budget: u64) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// glibc's `struct mallinfo2`.
        #[repr(C)]
        struct MallInfo2 {
            arena: usize,
            ordblks: usize,
            smblks: usize,
            hblks: usize,
            hblkhd: usize,
            usmblks: usize,
            fsmblks: usize,
            uordblks: usize,
            fordblks: usize,
            keepcost: usize,
        }
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
            fn mallinfo2() -> MallInfo2;
        }
        let Some(rss) = resident_bytes() else { return };
        // SAFETY: mallinfo2 only reads the allocator's counters.
        let info = unsafe { mallinfo2() };
        let in_use = (info.uordblks + info.hblkhd) as u64;
        *peak_in_use = (*peak_in_use).max(in_use);
        // Past the memory budget, trim whatever the peak in use: the budget
        // is a promise about the resident size.
        if rss <= *peak_in_use * 2 && rss <= budget {
            return;
        }
        // SAFETY: malloc_trim only returns unused memory to the kernel; it
        // is safe to call at any time from any thread.
        unsafe {
            malloc_trim(0);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = (peak_in_use, budget);
}

/// Hands every freed heap page back to the system now. A spilled
/// partition's merge runs on other threads than the decoding did, so glibc
/// serves it from other arenas while the pages the decoded rows left stay
/// resident: a 10 GB partition's merge peaked at 717-726 MiB with a 512 MiB
/// budget, the merge itself holding ~250 MiB of that.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only returns unused memory to the kernel; it
        // is safe to call at any time from any thread.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// This process's resident size, from /proc/self/status.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb << 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budgets_shares_leave_room_and_a_set_file_cap_wins() {
        let b = MemoryBudget::default();
        assert_eq!(b.bytes(), 512 << 20);
        assert_eq!(b.max_file_bytes(), 64 << 20);
        // Rows in memory, one file's JSON and a row group being encoded
        // stay within the budget together.
        assert!(b.buffered_limit() + b.max_file_bytes() + b.row_group_cap() <= b.bytes());
        assert!(b.buffered_after_spill() < b.buffered_limit());
        assert!(b.merge_limit() < b.bytes());
        // A tiny budget still decodes a 16 MiB file and batches of 32 KiB.
        let tiny = MemoryBudget::new(1 << 20);
        assert_eq!(tiny.max_file_bytes(), 16 << 20);
        assert_eq!(tiny.batch_bytes(), 32 << 10);
        assert_eq!(tiny.row_group_cap(), 1 << 20);
        // `max_file_mb` sets the cap whatever the budget, up to 1 GiB.
        assert_eq!(tiny.with_max_file_bytes(3 << 20).max_file_bytes(), 3 << 20);
        assert_eq!(
            b.with_max_file_bytes(usize::MAX).max_file_bytes(),
            crate::source::MAX_DECOMPRESSED
        );
    }
}
