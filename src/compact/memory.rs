//! Giving freed heap memory back to the system, sparingly.

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
