//! What a batch does once its work is over (or cut), before it answers:
//! backfill items that time left unstarted on their last receive are queued
//! again (fresh copies, then acknowledged: time alone never dead-letters
//! one); other messages that failed on their last receive go to the
//! dead-letter queue with an explanation (`last_receive`); each run's counts
//! are written (one conditional write per run). What is left failed is
//! handed back in `batchItemFailures`.

use std::collections::{BTreeSet, HashMap};

use trailshare::backfill::{Delta, Work};
use trailshare::events::QueuedMessage;
use trailshare::ports::{LogObjects, Notifier, RoleReader, WorkQueue};

use crate::batch::{work_of, Slot};
use crate::runs::{file_counts, RunKey, View};
use crate::{Forwarder, Item, Outcome};

/// One batch, as it stands after its work.
pub(crate) struct Batch<'a> {
    pub messages: &'a [QueuedMessage],
    /// The run each message counts towards.
    pub runs: &'a [Option<RunKey>],
    /// Whether that run was cancelled when the batch began.
    pub cancelled: &'a [bool],
    pub slots: &'a [Slot],
}

impl<S: RoleReader, O: LogObjects, Q: WorkQueue, N: Notifier> Forwarder<S, O, Q, N> {
    /// Whether message `message` is on its last receive (`MAX_RECEIVES`;
    /// without it, never known).
    fn on_last_receive(&self, message: &QueuedMessage) -> bool {
        let max = self.config.dead_letter.as_ref().map(|d| d.max_receives);
        matches!((message.receives, max), (Some(n), Some(max)) if n >= max)
    }

    /// The messages to hand back, and how many were queued again.
    pub(crate) async fn tail(
        &self,
        batch: &Batch<'_>,
        views: &mut HashMap<RunKey, View>,
    ) -> (BTreeSet<usize>, usize) {
        let mut failed: BTreeSet<usize> = (0..batch.messages.len())
            .filter(|&i| !batch.slots[i].done())
            .collect();
        let requeued = self.requeue_unstarted(batch).await;
        failed.retain(|i| !requeued.contains(i));
        let mut work: Vec<(usize, Item)> = Vec::new();
        let mut outcomes: Vec<Outcome> = Vec::new();
        for (i, slot) in batch.slots.iter().enumerate() {
            for (item, outcome) in &slot.outcomes {
                work.push((i, item.clone()));
                outcomes.push(outcome.clone());
            }
        }
        self.dead_letter_last_receives(batch.messages, &work, &outcomes, &mut failed)
            .await;
        let unwritten = self.count(batch, views).await;
        // Finished items whose counts were not written are done again (at
        // one read a file), so no count is lost; not on their last receive,
        // where the count is what is lost.
        for (i, run) in batch.runs.iter().enumerate() {
            let uncounted = run.as_ref().is_some_and(|k| unwritten.contains(k));
            if uncounted && batch.slots[i].done() && !self.on_last_receive(&batch.messages[i]) {
                failed.insert(i);
            }
        }
        (failed, requeued.len())
    }

    /// When the tail itself ran out of time: every message not done, and
    /// every done one whose run's counts may not have been written.
    pub(crate) fn unsettled(&self, batch: &Batch<'_>) -> BTreeSet<usize> {
        (0..batch.messages.len())
            .filter(|&i| !batch.slots[i].done() || batch.runs[i].is_some())
            .collect()
    }

    /// Backfill items never started on their last receive, queued again.
    async fn requeue_unstarted(&self, batch: &Batch<'_>) -> BTreeSet<usize> {
        let last: Vec<(usize, &Work)> = (0..batch.messages.len())
            .filter(|&i| batch.slots[i].started.is_none())
            .filter(|&i| self.on_last_receive(&batch.messages[i]))
            .filter_map(|i| work_of(&batch.messages[i]).map(|work| (i, work)))
            .collect();
        let bodies: Vec<String> = last.iter().map(|(_, work)| work.to_body()).collect();
        if bodies.is_empty() || self.queue.send(&bodies).await.is_err() {
            return BTreeSet::new();
        }
        last.into_iter().map(|(i, _)| i).collect()
    }

    /// Adds what this batch did to each run: a finished item is done, one
    /// that failed on its last receive is failed (it goes to the
    /// dead-letter queue); others are counted when they finish. Returns the
    /// runs whose counts could not be written.
    async fn count(
        &self,
        batch: &Batch<'_>,
        views: &mut HashMap<RunKey, View>,
    ) -> BTreeSet<RunKey> {
        let Some(book) = &self.runs else {
            return BTreeSet::new();
        };
        let mut deltas: HashMap<RunKey, Delta> = HashMap::new();
        for (i, slot) in batch.slots.iter().enumerate() {
            let (Some(run), false) = (&batch.runs[i], batch.cancelled[i]) else {
                continue;
            };
            if matches!(views.get(run), Some(View::Untracked)) {
                continue;
            }
            let mut delta = Delta::default();
            match &slot.finished {
                Some(Ok(())) => delta.items.done = 1,
                Some(Err(_)) if self.on_last_receive(&batch.messages[i]) => delta.items.failed = 1,
                _ => continue,
            }
            delta.items.queued = slot.queued;
            delta.files = file_counts(slot.outcomes.iter().map(|(_, o)| o));
            let sum = deltas.remove(run).unwrap_or_default().plus(delta);
            deltas.insert(run.clone(), sum);
        }
        book.record(deltas, views).await.into_iter().collect()
    }
}
