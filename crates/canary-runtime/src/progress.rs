//! Replay progress: a live status line on a terminal, periodic log lines otherwise.

use canary_ingest::Progress;
use std::io::Write;
use std::time::{Duration, Instant};

pub(crate) struct Reporter {
    tty: bool,
    started: Instant,
    last: Instant,
    last_posts: u64,
    last_bytes: u64,
    shown: bool,
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

impl Reporter {
    pub(crate) fn new(tty: bool) -> Self {
        let now = Instant::now();
        Reporter {
            tty,
            started: now,
            last: now,
            last_posts: 0,
            last_bytes: 0,
            shown: false,
        }
    }

    fn interval(&self) -> Duration {
        if self.tty {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(5)
        }
    }

    /// Cheap when nothing is due; call once per record.
    pub(crate) fn tick(
        &mut self,
        posts: u64,
        event_ms: Option<i64>,
        progress: impl FnOnce() -> Progress,
    ) {
        let elapsed = self.last.elapsed();
        if elapsed < self.interval() {
            return;
        }
        let p = progress();
        let secs = elapsed.as_secs_f64();
        let rate = (posts - self.last_posts) as f64 / secs;
        let byte_rate = p.bytes_read.saturating_sub(self.last_bytes) as f64 / secs;
        let event = event_ms
            .map(canary_core::time::format_rfc3339)
            .unwrap_or_else(|| "-".into());
        let (bytes, eta) = match p.bytes_total {
            Some(total) if total > 0 => {
                let pct = 100.0 * p.bytes_read as f64 / total as f64;
                let eta = if byte_rate > 0.0 {
                    format!(
                        "{:.0}s",
                        total.saturating_sub(p.bytes_read) as f64 / byte_rate
                    )
                } else {
                    "?".into()
                };
                (
                    format!(
                        "{}/{} ({pct:.0}%)",
                        human_bytes(p.bytes_read),
                        human_bytes(total)
                    ),
                    eta,
                )
            }
            _ => (human_bytes(p.bytes_read), "?".into()),
        };
        if self.tty {
            let line = format!(
                "{posts} posts ({:.0}/s) · event time {event} · {bytes} · ETA {eta} · {}",
                rate, p.source
            );
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K{line}");
            let _ = e.flush();
            self.shown = true;
        } else {
            tracing::info!(
                posts,
                posts_per_second = rate as u64,
                event_time = %event,
                bytes = %bytes,
                eta = %eta,
                source = %p.source,
                elapsed_s = self.started.elapsed().as_secs(),
                "progress"
            );
        }
        self.last = Instant::now();
        self.last_posts = posts;
        self.last_bytes = p.bytes_read;
    }

    pub(crate) fn finish(&mut self) {
        if self.shown {
            let mut e = std::io::stderr().lock();
            let _ = writeln!(e);
        }
    }
}
