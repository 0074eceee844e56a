//! One SQS batch within the invocation's time budget (see `budget`).
//!
//! Messages start one after another, the one received most often first (so
//! a message near the dead-letter queue is never the one left behind); the
//! files of started messages run concurrently ([`CONCURRENCY`] at once). A
//! message starts only while the budget says one can still finish; at the
//! cut, what is still running is abandoned. The answer names exactly the
//! messages not finished — failed, cut or never started — as
//! `batchItemFailures`: nothing is lost, and nothing finished is redone.
//! A backfill item never started on its last receive is queued again
//! instead (a fresh copy), so no item is dead-lettered for want of time.
//! Then each run's counts are written once; if that fails, the run's
//! finished items are reported failed too, so no count is lost.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Value};
use trailshare::backfill::Work;
use trailshare::events::{Notification, QueuedMessage};
use trailshare::ports::{LogObjects, Notifier, RoleReader, WorkQueue};
use trailshare::telemetry;

use crate::backfill::Expansion;
use crate::batch_tail::Batch;
use crate::budget::Budget;
use crate::log::{log, log_failure, log_outcome, summary};
use crate::metrics::Tally;
use crate::runs::{run_of, RunKey, View};
use crate::{Forwarder, Item, Outcome, CONCURRENCY};

/// How far one message got.
#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) started: Option<Instant>,
    /// Objects to wait for, once expanded.
    expected: Option<usize>,
    /// Each object, and what became of it.
    pub(crate) outcomes: Vec<(Item, Outcome)>,
    pub(crate) queued: u64,
    then: Option<Work>,
    /// `Some(Ok)`: done; `Some(Err)`: failed.
    pub(crate) finished: Option<Result<(), String>>,
}

impl Slot {
    pub(crate) fn done(&self) -> bool {
        matches!(self.finished, Some(Ok(())))
    }
}

/// What one running piece of a batch came to.
enum Unit {
    Expanded(usize, Result<Expansion, String>),
    Object(usize, Item, Outcome),
    FollowedUp(usize, Result<(), String>),
}

type Piece<'a> = Pin<Box<dyn Future<Output = Unit> + Send + 'a>>;

impl<S: RoleReader, O: LogObjects, Q: WorkQueue, N: Notifier> Forwarder<S, O, Q, N> {
    /// Handles an SQS batch within `budget`; answers with the messages to retry.
    pub(crate) async fn handle_batch(&self, messages: &[QueuedMessage], budget: Budget) -> Value {
        let mut order: Vec<usize> = (0..messages.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(messages[i].receives.unwrap_or(1)));
        let runs: Vec<Option<RunKey>> = messages
            .iter()
            .map(|m| work_of(m).and_then(run_of))
            .collect();
        let mut views = match &self.runs {
            Some(book) => {
                let keys: BTreeSet<RunKey> = runs.iter().flatten().cloned().collect();
                book.views(keys.into_iter().collect()).await
            }
            None => HashMap::new(),
        };
        let cancelled: Vec<bool> = runs
            .iter()
            .map(|run| {
                run.as_ref()
                    .is_some_and(|k| matches!(views.get(k), Some(View::Cancelled)))
            })
            .collect();
        let mut slots: Vec<Slot> = messages.iter().map(|_| Slot::default()).collect();
        let tally = Tally::default();
        let cut = self
            .run_slots(messages, &order, &cancelled, &mut slots, budget, &tally)
            .await;
        tally.emit(&self.namespace);
        let batch = Batch {
            messages,
            runs: &runs,
            cancelled: &cancelled,
            slots: &slots,
        };
        let tail = self.tail(&batch, &mut views);
        let (failed, requeued) = match budget.end() {
            Some(end) => tokio::time::timeout_at(end, tail)
                .await
                .unwrap_or_else(|_| (self.unsettled(&batch), 0)),
            None => tail.await,
        };
        let mut response = SqsBatchResponse::default();
        for &i in &failed {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = messages[i].message_id.clone();
            response.batch_item_failures.push(failure);
        }
        let outcomes: Vec<Outcome> = slots
            .iter()
            .flat_map(|s| s.outcomes.iter().map(|(_, o)| o.clone()))
            .collect();
        let mut line = summary(&outcomes, Some((messages.len(), failed.len())));
        if let Some(end) = budget.end() {
            // Under a deadline: what this invocation had, from its start,
            // and what the budget did.
            line["deadline_ms"] = json!((end - budget.start()).as_millis() as u64);
            line["not_started"] = json!(slots.iter().filter(|s| s.started.is_none()).count());
            line["cut"] = json!(cut);
            line["requeued"] = json!(requeued);
        }
        log(&line);
        serde_json::to_value(response).expect("a batch response serialises")
    }

    /// Runs the messages in `order` until they are all finished, the
    /// budget lets no more start and the started ones are done, or the
    /// cut. Returns whether the cut came first.
    async fn run_slots(
        &self,
        messages: &[QueuedMessage],
        order: &[usize],
        cancelled: &[bool],
        slots: &mut [Slot],
        budget: Budget,
        tally: &Tally,
    ) -> bool {
        let mut running: FuturesUnordered<Piece<'_>> = FuturesUnordered::new();
        let mut ready: VecDeque<(usize, Item)> = VecDeque::new();
        let (mut next, mut expanding, mut objects) = (0, false, 0);
        let mut longest = Duration::ZERO;
        loop {
            loop {
                if objects < CONCURRENCY {
                    if let Some((i, item)) = ready.pop_front() {
                        running.push(Box::pin(self.object_piece(i, item, tally)));
                        objects += 1;
                        continue;
                    }
                }
                if expanding || !ready.is_empty() || next == order.len() {
                    break;
                }
                if !budget.may_start(Instant::now(), longest) {
                    break;
                }
                let i = order[next];
                next += 1;
                slots[i].started = Some(Instant::now());
                expanding = true;
                let piece = self.expand_piece(i, &messages[i], cancelled[i], tally);
                running.push(Box::pin(piece));
            }
            let unit = match budget.cut() {
                _ if running.is_empty() => return false,
                Some(cut) => tokio::select! {
                    unit = running.next() => unit,
                    _ = tokio::time::sleep_until(cut) => return true,
                },
                None => running.next().await,
            };
            let i = match unit.expect("something is running") {
                Unit::Expanded(i, Ok(expansion)) => {
                    expanding = false;
                    let slot = &mut slots[i];
                    slot.expected = Some(expansion.objects.len());
                    (slot.queued, slot.then) = (expansion.queued, expansion.then);
                    let only = expansion.only;
                    ready.extend(expansion.objects.into_iter().map(|object| {
                        let only = only.clone();
                        (i, Item { object, only })
                    }));
                    i
                }
                Unit::Expanded(i, Err(error)) => {
                    expanding = false;
                    slots[i].finished = Some(Err(error));
                    i
                }
                Unit::Object(i, item, outcome) => {
                    objects -= 1;
                    slots[i].outcomes.push((item, outcome));
                    i
                }
                Unit::FollowedUp(i, result) => {
                    slots[i].queued += u64::from(result.is_ok());
                    slots[i].finished = Some(result);
                    i
                }
            };
            if let Some(follow_up) = settle(&mut slots[i]) {
                running.push(Box::pin(self.follow_up_piece(i, follow_up)));
            }
            if let (Some(_), Some(started)) = (&slots[i].finished, slots[i].started) {
                longest = longest.max(started.elapsed());
            }
        }
    }

    async fn object_piece(&self, i: usize, item: Item, tally: &Tally) -> Unit {
        let outcome = self
            .process_for(&item.object, item.only.as_deref(), tally)
            .await;
        log_outcome(&item.object, &outcome);
        Unit::Object(i, item, outcome)
    }

    /// What a message comes to: its objects, or the work it fans out. A
    /// cancelled run's item does nothing.
    async fn expand_piece(
        &self,
        i: usize,
        message: &QueuedMessage,
        cancelled: bool,
        tally: &Tally,
    ) -> Unit {
        let id = &message.message_id;
        let result = match &message.content {
            Err(error) => {
                telemetry::error(
                    &json!({"event": "message", "message_id": id, "outcome": "failed", "error": error}),
                );
                Err(error.clone())
            }
            Ok(Notification::Backfill(work)) if cancelled => {
                log(
                    &json!({"event": "backfill", "message_id": id, "work": work, "outcome": "run_cancelled"}),
                );
                Ok(Expansion::default())
            }
            Ok(Notification::Backfill(work)) => match self.backfill(work).await {
                Ok(expansion) => {
                    tally.backfill_done(work.share(), expansion.objects.len());
                    Ok(expansion)
                }
                Err(error) => {
                    tally.backfill_failed(work.share());
                    log_failure(
                        &json!({"event": "backfill", "message_id": id, "work": work, "outcome": "failed",
                                "retryable": error.retryable(), "error": error.to_string()}),
                        error.retryable(),
                    );
                    Err(error.to_string())
                }
            },
            Ok(notification) => Ok(Expansion {
                objects: self.objects_of(notification, Some(id)),
                ..Expansion::default()
            }),
        };
        Unit::Expanded(i, result)
    }

    /// Queues a finished page's next page.
    async fn follow_up_piece(&self, i: usize, work: Work) -> Unit {
        let result = self.queue.send(&[work.to_body()]).await.map_err(|error| {
            log_failure(
                &json!({"event": "backfill", "work": work, "outcome": "follow_up_failed",
                        "retryable": error.retryable(), "error": error.to_string()}),
                error.retryable(),
            );
            error.to_string()
        });
        Unit::FollowedUp(i, result)
    }
}

/// The backfill item a message holds, if it holds one.
pub(crate) fn work_of(message: &QueuedMessage) -> Option<&Work> {
    match &message.content {
        Ok(Notification::Backfill(work)) => Some(work),
        _ => None,
    }
}

/// Once every object of an expanded message is back: failed if any
/// failed; else done, or first the follow-up to queue (returned).
fn settle(slot: &mut Slot) -> Option<Work> {
    if slot.finished.is_some() || slot.expected != Some(slot.outcomes.len()) {
        return None;
    }
    let failed: Vec<&str> = slot
        .outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            Outcome::Failed { error } => Some(error.as_str()),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        slot.finished = Some(Err(failed.join("; ")));
        return None;
    }
    match slot.then.take() {
        Some(work) => {
            // Not finished until the follow-up is queued.
            slot.expected = None;
            Some(work)
        }
        None => {
            slot.finished = Some(Ok(()));
            None
        }
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
