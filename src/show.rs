//! A `compact` run's progress on stderr, drawn from the library's counts
//! ([`Progress`]) by a thread of its own: on a terminal an indicatif bar,
//! redrawn every 100 ms, with the phase, its counts, rates and an ETA for
//! the whole run; otherwise (AWS Batch, Kubernetes, cron, a log file) a
//! plain line when a phase starts and at most every 10 s; or nothing
//! (`--quiet`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use traillake::progress::{Phase, Progress};
use traillake::report::{duration, human_bytes};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Log { every: Duration },
    Quiet,
}

impl Mode {
    /// A bar when stderr is a terminal, log lines otherwise, nothing when
    /// asked. `TRAILLAKE_PROGRESS_SECS` sets the log lines' interval.
    pub fn choose(quiet: bool) -> Self {
        use std::io::IsTerminal;
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            let every = std::env::var("TRAILLAKE_PROGRESS_SECS")
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .map_or(Duration::from_secs(10), Duration::from_secs_f64);
            Mode::Log { every }
        }
    }
}

/// The drawing thread; [`Shown::finish`] stops it and clears the bar, then
/// prints the notes left since its last tick (always, even `--quiet`: they
/// are warnings and what a run did besides its counts).
pub struct Shown {
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

pub fn start(progress: Arc<Progress>, mode: Mode) -> Shown {
    let stop = Arc::new(AtomicBool::new(false));
    let thread = match mode {
        Mode::Quiet => None,
        mode => {
            let (progress, stop) = (progress.clone(), stop.clone());
            Some(std::thread::spawn(move || draw(&progress, mode, &stop)))
        }
    };
    Shown {
        progress,
        stop,
        thread,
    }
}

impl Shown {
    /// Draws the last state and stops.
    pub fn finish(self) {}
}

impl Drop for Shown {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        for note in self.progress.take_notes() {
            eprintln!("traillake: {note}");
        }
    }
}

fn draw(p: &Progress, mode: Mode, stop: &AtomicBool) {
    let started = Instant::now();
    let bar = match mode {
        Mode::Bar => {
            let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} [{bar:20}] {wide_msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            Some(bar)
        }
        _ => None,
    };
    let mut eta = Eta::default();
    // The last phase a log line was written for, and when.
    let mut logged: Option<Phase> = None;
    let mut last_line = Instant::now();
    loop {
        // Read before the stop flag, so the last tick sees the end.
        let stopping = stop.load(Ordering::Relaxed);
        let now = p.phase();
        for note in p.take_notes() {
            let line = format!("traillake: {note}");
            match &bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
        match (&bar, mode) {
            (Some(bar), _) => {
                bar.set_position((p.fraction() * 1000.0) as u64);
                bar.set_message(status(p, now, &mut eta, started.elapsed()));
            }
            (None, Mode::Log { every }) => {
                // A line for each phase begun since the last one (a short
                // phase is not skipped), then one every `every`.
                let first = logged.map_or(0, |l| l as usize + 1);
                for &phase in &Phase::ALL[first.min(Phase::ALL.len())..=now as usize] {
                    if phase != Phase::Done {
                        log(p, phase, &mut eta, started);
                    }
                    logged = Some(phase);
                    last_line = Instant::now();
                }
                if last_line.elapsed() >= every && now != Phase::Done && !stopping {
                    log(p, now, &mut eta, started);
                    last_line = Instant::now();
                }
            }
            (None, _) => {}
        }
        if stopping {
            break;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

fn log(p: &Progress, phase: Phase, eta: &mut Eta, started: Instant) {
    eprintln!(
        "traillake: [{}] {}",
        duration(started.elapsed().as_secs_f64()),
        status(p, phase, eta, started.elapsed())
    );
}

/// The whole run's ETA, from the fraction done since reading began.
#[derive(Default)]
struct Eta {
    since: Option<Instant>,
}

impl Eta {
    /// `None` until there is enough to go on; never zero before the end.
    fn get(&mut self, p: &Progress) -> Option<Duration> {
        if p.phase() < Phase::Reading {
            return None;
        }
        let since = *self.since.get_or_insert_with(Instant::now);
        let f = p.fraction();
        let t = since.elapsed().as_secs_f64();
        if f < 0.01 || t < 1.0 || f >= 1.0 {
            return None;
        }
        Some(Duration::from_secs_f64((t * (1.0 - f) / f).max(1.0)))
    }
}

/// An ETA: `7s`, `1m 20s`, `2h 05m`.
fn short(d: Duration) -> String {
    let s = d.as_secs().max(1);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One line: the phase, its counts and rates, the ETA.
fn status(p: &Progress, phase: Phase, eta: &mut Eta, elapsed: Duration) -> String {
    let mut line = match phase {
        Phase::Starting => "starting: lease, recovery, the lake's state".to_string(),
        Phase::Listing => {
            let mut s = format!(
                "listing: {} folders, {} objects",
                count(p.folders_listed.get()),
                count(p.objects_listed.get())
            );
            let ledgers = p.ledgers_to_read.get();
            if ledgers > 0 {
                s.push_str(&format!(
                    "; ledgers of {} of {} folders read",
                    count(p.ledgers_read.get()),
                    count(ledgers)
                ));
            }
            s
        }
        Phase::Reading => {
            let secs = elapsed.as_secs_f64().max(0.001);
            format!(
                "reading: {} of {} objects, {} of {} gz ({}/s of JSON); {} partitions written",
                count(p.objects_read.get()),
                count(p.objects_to_read.get()),
                human_bytes(p.bytes_read.get()),
                human_bytes(p.bytes_to_read.get()),
                human_bytes((p.json_bytes.get() as f64 / secs) as u64),
                count(p.partitions_written.get()),
            )
        }
        Phase::Writing => format!(
            "merging and writing: {} of {} partitions, {} rows encoded",
            count(p.partitions_written.get()),
            count(p.partitions_total.get()),
            count(p.rows_encoded.get()),
        ),
        Phase::Committing => format!(
            "committing: {} of {} files switched in",
            count(p.files_committed.get()),
            count(p.files_to_commit.get())
        ),
        Phase::Done => "done".to_string(),
    };
    if let Some(left) = eta.get(p) {
        line.push_str(&format!(", eta {}", short(left)));
    }
    line
}
