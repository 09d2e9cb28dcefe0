//! What a long run has done so far, phase by phase. The library only
//! counts (atomics, cheap enough for every folder, slice and batch); the
//! binary reads the counts on a timer and draws them: a bar on a terminal,
//! a log line per phase and every few seconds otherwise, or nothing.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// The phases of `compact`, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Taking the lease, recovering, reading the lake's state.
    Starting,
    /// Listing the source's folders, then reading their ledgers.
    Listing,
    /// Fetching, gunzipping and decoding the new objects (partitions that
    /// are complete are written meanwhile).
    Reading,
    /// Merging and writing the partitions left.
    Writing,
    /// Switching the new files in.
    Committing,
    Done,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Starting,
        Phase::Listing,
        Phase::Reading,
        Phase::Writing,
        Phase::Committing,
        Phase::Done,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Listing => "listing",
            Phase::Reading => "reading",
            Phase::Writing => "merging and writing",
            Phase::Committing => "committing",
            Phase::Done => "done",
        }
    }
}

/// A counter a run adds to.
#[derive(Debug, Default)]
pub struct Count(AtomicU64);

impl Count {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The counts of one run. Totals are known as each phase starts (objects
/// and bytes to read once the listing is done; rows to write grow as
/// partitions are taken up, with the rows of the lake files they merge).
#[derive(Debug, Default)]
pub struct Progress {
    phase: AtomicU8,
    pub folders_listed: Count,
    pub objects_listed: Count,
    pub ledgers_to_read: Count,
    pub ledgers_read: Count,
    pub objects_to_read: Count,
    /// Compressed bytes, as listed.
    pub bytes_to_read: Count,
    pub objects_read: Count,
    pub bytes_read: Count,
    /// Bytes of JSON the objects read inflated to.
    pub json_bytes: Count,
    pub records: Count,
    pub partitions_taken: Count,
    /// Partitions of the run, known once reading ends.
    pub partitions_total: Count,
    pub partitions_written: Count,
    /// Rows of the lake files that partitions being written merge.
    pub lake_rows_merged: Count,
    /// Rows handed to the Parquet encoders: new and merged.
    pub rows_encoded: Count,
    pub files_to_commit: Count,
    pub files_committed: Count,
    /// Words for the user (warnings, what a run did besides its counts),
    /// for the caller to print as it prints the counts.
    notes: std::sync::Mutex<Vec<String>>,
}

impl Progress {
    /// Leaves a word for the user.
    pub fn note(&self, text: impl Into<String>) {
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text.into());
    }

    /// The words left since the last call.
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    pub fn phase(&self) -> Phase {
        let i = self.phase.load(Ordering::Relaxed) as usize;
        Phase::ALL[i.min(Phase::ALL.len() - 1)]
    }

    /// How much of the run is done, 0 to 1: reading and writing count half
    /// each (they overlap; a run ends when its last row is written). The
    /// rows to write are extrapolated from what was read so far.
    pub fn fraction(&self) -> f64 {
        match self.phase() {
            Phase::Starting | Phase::Listing => return 0.0,
            Phase::Committing | Phase::Done => return 1.0,
            Phase::Reading | Phase::Writing => {}
        }
        let total = self.bytes_to_read.get();
        if total == 0 {
            return 0.0;
        }
        let read = (self.bytes_read.get() as f64 / total as f64).min(1.0);
        let records = self.records.get() as f64;
        let expected_new = if read > 0.0 { records / read } else { 0.0 };
        let expected = expected_new + self.lake_rows_merged.get() as f64;
        let written = if expected > 0.0 {
            (self.rows_encoded.get() as f64 / expected).min(1.0)
        } else {
            0.0
        };
        let f = 0.5 * read + 0.5 * written;
        // Never "all done" before the commit starts.
        f.min(0.999)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fraction_grows_with_reading_and_writing_and_stops_short_of_one() {
        let p = Progress::default();
        p.set_phase(Phase::Listing);
        assert_eq!(p.fraction(), 0.0);
        p.set_phase(Phase::Reading);
        p.bytes_to_read.add(1000);
        p.bytes_read.add(500);
        p.records.add(50);
        // Half read, nothing written: a quarter.
        assert!((p.fraction() - 0.25).abs() < 1e-9, "{}", p.fraction());
        p.rows_encoded.add(50);
        // Half read, half of the 100 expected rows written.
        assert!((p.fraction() - 0.5).abs() < 1e-9, "{}", p.fraction());
        p.bytes_read.add(500);
        p.records.add(50);
        p.rows_encoded.add(50);
        p.set_phase(Phase::Writing);
        assert!(p.fraction() < 1.0);
        p.set_phase(Phase::Committing);
        assert_eq!(p.fraction(), 1.0);
    }
}
