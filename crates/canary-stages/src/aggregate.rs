//! The aggregate stage's edge: what every transport does around
//! [`Aggregator`], once.
//!
//! The embedded pipeline and the Kafka aggregate process both feed records
//! in and take a [`StageBatch`] out after each input batch: the windows and
//! alerts to deliver, in order, and the posts left on purpose, by reason.
//! Refused posts (`future`, `late`) come back from [`AggregateStage::post`]
//! with their reason, so the transport can dead-letter them with their origin
//! (file and line, or topic, partition and offset), which only it knows.

use canary_core::Post;
use canary_core::aggregate::{AggregateOutput, Aggregator, DeleteOutcome, PostOutcome};
use canary_core::event_time::{EventTime, FutureGuard};

/// What became of one post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostFate {
    /// Counted in its windows (or naming no watch of this aggregate).
    Counted,
    /// Left on purpose; the reason is a metric label (`duplicate`, `deleted`).
    Dropped(&'static str),
    /// Refused: the transport dead-letters it with this reason and detail.
    Refused {
        /// Dead-letter reason (`future`, `late`).
        reason: &'static str,
        /// Human-readable detail.
        detail: String,
    },
}

/// What the stage produced since the last [`AggregateStage::take`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StageBatch {
    /// Windows and alerts, in the order the aggregator closed them.
    pub outputs: Vec<AggregateOutput>,
    /// Posts dropped on purpose, by reason.
    pub dropped: Vec<(&'static str, u64)>,
}

impl StageBatch {
    /// Adds `other` to this batch (outputs after ours).
    pub fn append(&mut self, other: StageBatch) {
        self.outputs.extend(other.outputs);
        for (reason, n) in other.dropped {
            self.count(reason, n);
        }
    }

    fn count(&mut self, reason: &'static str, n: u64) {
        match self.dropped.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, c)) => *c += n,
            None => self.dropped.push((reason, n)),
        }
    }

    /// Whether the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty() && self.dropped.is_empty()
    }
}

/// An [`Aggregator`] with its outputs and drop counts held until taken.
pub struct AggregateStage {
    agg: Aggregator,
    /// Keeps posts dated far ahead out of the windows, where the stage sees
    /// the whole stream (embedded). In Kafka mode normalize applies it
    /// upstream, before the stream is split by watch.
    guard: Option<FutureGuard>,
    batch: StageBatch,
}

impl From<Aggregator> for AggregateStage {
    fn from(agg: Aggregator) -> Self {
        AggregateStage {
            agg,
            guard: None,
            batch: StageBatch::default(),
        }
    }
}

impl AggregateStage {
    /// The aggregator, for its watermark, stats and snapshots.
    pub fn aggregator(&self) -> &Aggregator {
        &self.agg
    }

    /// Refuses posts `guard` judges too far ahead (`future`) before they
    /// reach the windows.
    pub fn with_future_guard(mut self, guard: FutureGuard) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Adds one post; `now_ms` is the processing time, for the future guard.
    pub fn post(&mut self, p: &Post, now_ms: i64) -> PostFate {
        if let Some(g) = &mut self.guard {
            let verdict = g.check(p.event_ms, Some(now_ms));
            if verdict != EventTime::Accept {
                return PostFate::Refused {
                    reason: "future",
                    detail: verdict.detail(p.event_ms),
                };
            }
        }
        match self.agg.on_post(p, &mut self.batch.outputs) {
            PostOutcome::Counted | PostOutcome::Unwatched => PostFate::Counted,
            PostOutcome::Duplicate => self.drop("duplicate"),
            PostOutcome::Deleted => self.drop("deleted"),
            PostOutcome::Late => PostFate::Refused {
                reason: "late",
                detail: format!(
                    "event time {} is behind the watermark",
                    canary_core::time::format_rfc3339(p.event_ms)
                ),
            },
        }
    }

    fn drop(&mut self, reason: &'static str) -> PostFate {
        self.batch.count(reason, 1);
        PostFate::Dropped(reason)
    }

    /// Applies a delete notice; a post taken out of an open window counts as
    /// dropped (`deleted`), as one refused because its delete came first does.
    pub fn delete(&mut self, id: &str) -> DeleteOutcome {
        let o = self.agg.on_delete(id);
        if o == DeleteOutcome::Removed {
            self.batch.count("deleted", 1);
        }
        o
    }

    /// Moves the watermark to the stream's newest event time `max_event_ms`
    /// (another process saw it), closing what it passes.
    pub fn advance_to(&mut self, max_event_ms: i64) {
        self.agg.advance_to(max_event_ms, &mut self.batch.outputs);
    }

    /// Closes every window ending at or before `max_event_ms`'s window (end of a replay).
    pub fn flush_through(&mut self, max_event_ms: i64) {
        self.agg
            .flush_through(max_event_ms, &mut self.batch.outputs);
    }

    /// Closes every open window (end of input).
    pub fn flush(&mut self) {
        self.agg.flush(&mut self.batch.outputs);
    }

    /// Live streams: lets processing time (`now_ms`, any monotonic clock)
    /// advance an idle watermark.
    pub fn tick(&mut self, now_ms: i64) {
        self.agg.tick(now_ms, &mut self.batch.outputs);
    }

    /// What was produced since the last call.
    pub fn take(&mut self) -> StageBatch {
        std::mem::take(&mut self.batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canary_core::aggregate::AggregateConfig;
    use canary_core::{Post, Sentiment};

    fn post(id: &str, event_ms: i64) -> Post {
        let mut p = Post::new(id, event_ms, "@acme bad");
        p.watches = vec!["acme".into()];
        p.lang = Some("en".into());
        p.sentiment = Some(Sentiment {
            neg: 0.5,
            neu: 0.5,
            pos: 0.0,
            compound: -0.5,
        });
        p
    }

    /// Processing time of the tests: the posts are from 2024.
    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn drops_deletes_and_late_posts_come_back_typed() {
        let mut s = AggregateStage::from(Aggregator::new(
            AggregateConfig::default(),
            &["acme".to_string()],
        ));
        let t0 = 1_714_996_800_000;
        assert_eq!(s.post(&post("1", t0), NOW), PostFate::Counted);
        assert_eq!(s.post(&post("1", t0), NOW), PostFate::Dropped("duplicate"));
        assert_eq!(s.post(&post("2", t0 + 1000), NOW), PostFate::Counted);
        assert_eq!(s.delete("2"), DeleteOutcome::Removed);
        s.delete("3");
        assert_eq!(
            s.post(&post("3", t0 + 2000), NOW),
            PostFate::Dropped("deleted")
        );
        // An hour later the first window has closed: a post in it is late.
        assert_eq!(s.post(&post("4", t0 + 3_600_000), NOW), PostFate::Counted);
        assert!(matches!(
            s.post(&post("5", t0 + 1000), NOW),
            PostFate::Refused { reason: "late", .. }
        ));
        let b = s.take();
        assert_eq!(b.dropped, [("duplicate", 1), ("deleted", 2)]);
        assert!(
            b.outputs
                .iter()
                .any(|o| matches!(o, AggregateOutput::Window(w) if w.watch == "acme")),
            "the closed window is in the batch"
        );
        assert!(s.take().is_empty(), "taken once");
    }

    #[test]
    fn a_post_far_ahead_is_refused_as_future_before_the_windows() {
        use canary_core::event_time::EventTimeConfig;
        let mut s = AggregateStage::from(Aggregator::new(
            AggregateConfig::default(),
            &["acme".to_string()],
        ))
        .with_future_guard(FutureGuard::new(EventTimeConfig::default()));
        let t0 = 1_714_996_800_000;
        assert_eq!(s.post(&post("1", t0), t0 + 1000), PostFate::Counted);
        assert!(matches!(
            s.post(&post("2", t0 + 86_400_000), t0 + 1000),
            PostFate::Refused {
                reason: "future",
                ..
            }
        ));
        assert_eq!(
            s.aggregator().max_event(),
            Some(t0),
            "the watermark did not move"
        );
    }
}
