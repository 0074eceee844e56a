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
use trailshare::backfill::{Delta, Work};
use trailshare::events::{CreatedObject, Notification, QueuedMessage};
use trailshare::ports::{LogObjects, Notifier, RoleReader, WorkQueue};

use crate::backfill::Expansion;
use crate::budget::Budget;
use crate::log::{log, log_outcome, summary};
use crate::runs::{file_counts, run_of, RunKey, View};
use crate::{Forwarder, Outcome, CONCURRENCY};

/// How far one message got.
#[derive(Debug, Default)]
struct Slot {
    started: Option<Instant>,
    /// Objects to wait for, once expanded.
    expected: Option<usize>,
    outcomes: Vec<Outcome>,
    queued: u64,
    then: Option<Work>,
    /// `Some(Ok)`: done; `Some(Err)`: failed.
    finished: Option<Result<(), String>>,
}

impl Slot {
    fn done(&self) -> bool {
        matches!(self.finished, Some(Ok(())))
    }
}

/// What one running piece of a batch came to.
enum Unit {
    Expanded(usize, Result<Expansion, String>),
    Object(usize, Outcome),
    FollowedUp(usize, Result<(), String>),
}

type Piece<'a> = Pin<Box<dyn Future<Output = Unit> + Send + 'a>>;

/// `Records[].attributes.ApproximateReceiveCount` of an SQS event, in
/// record order (1 when absent).
pub(crate) fn receive_counts(event: &Value) -> Vec<u32> {
    event["Records"]
        .as_array()
        .map(|records| {
            records
                .iter()
                .map(|r| {
                    r["attributes"]["ApproximateReceiveCount"]
                        .as_str()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1)
                })
                .collect()
        })
        .unwrap_or_default()
}

impl<S: RoleReader, O: LogObjects, Q: WorkQueue, N: Notifier> Forwarder<S, O, Q, N> {
    /// Handles an SQS batch within `budget`; answers with the messages to retry.
    pub(crate) async fn handle_batch(
        &self,
        messages: &[QueuedMessage],
        receives: &[u32],
        budget: Budget,
    ) -> Value {
        let receives = |i: usize| receives.get(i).copied().unwrap_or(1);
        let mut order: Vec<usize> = (0..messages.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(receives(i)));
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
        let cut = self
            .run_slots(messages, &order, &cancelled, &mut slots, budget)
            .await;
        let tail = async {
            let rescued = self.requeue_unstarted(messages, &slots, receives).await;
            let unwritten = self
                .count(&runs, &cancelled, &slots, receives, &mut views)
                .await;
            (rescued, unwritten)
        };
        let (rescued, unwritten) = match budget.end() {
            Some(end) => tokio::time::timeout_at(end, tail)
                .await
                .unwrap_or_else(|_| (BTreeSet::new(), runs.iter().flatten().cloned().collect())),
            None => tail.await,
        };
        let mut response = SqsBatchResponse::default();
        let mut failed = 0;
        for (i, slot) in slots.iter().enumerate() {
            let uncounted = runs[i].as_ref().is_some_and(|k| unwritten.contains(k));
            if (slot.done() && !uncounted) || rescued.contains(&i) {
                continue;
            }
            failed += 1;
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = messages[i].message_id.clone();
            response.batch_item_failures.push(failure);
        }
        let outcomes: Vec<Outcome> = slots.iter().flat_map(|s| s.outcomes.clone()).collect();
        let mut line = summary(&outcomes, Some((messages.len(), failed)));
        line["not_started"] = json!(slots.iter().filter(|s| s.started.is_none()).count());
        line["cut"] = json!(cut);
        line["requeued"] = json!(rescued.len());
        if let Some(end) = budget.end() {
            // What this invocation had: its deadline, from its start.
            line["deadline_ms"] = json!((end - budget.start()).as_millis() as u64);
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
    ) -> bool {
        let mut running: FuturesUnordered<Piece<'_>> = FuturesUnordered::new();
        let mut ready: VecDeque<(usize, CreatedObject, Option<String>)> = VecDeque::new();
        let (mut next, mut expanding, mut objects) = (0, false, 0);
        let mut longest = Duration::ZERO;
        loop {
            loop {
                if objects < CONCURRENCY {
                    if let Some((i, object, only)) = ready.pop_front() {
                        running.push(Box::pin(self.object_piece(i, object, only)));
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
                running.push(Box::pin(self.expand_piece(i, &messages[i], cancelled[i])));
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
                    ready.extend(expansion.objects.into_iter().map(|o| (i, o, only.clone())));
                    i
                }
                Unit::Expanded(i, Err(error)) => {
                    expanding = false;
                    slots[i].finished = Some(Err(error));
                    i
                }
                Unit::Object(i, outcome) => {
                    objects -= 1;
                    slots[i].outcomes.push(outcome);
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

    async fn object_piece(&self, i: usize, object: CreatedObject, only: Option<String>) -> Unit {
        let outcome = self.process_for(&object, only.as_deref()).await;
        log_outcome(&object, &outcome);
        Unit::Object(i, outcome)
    }

    /// What a message comes to: its objects, or the work it fans out. A
    /// cancelled run's item does nothing.
    async fn expand_piece(&self, i: usize, message: &QueuedMessage, cancelled: bool) -> Unit {
        let id = &message.message_id;
        let result = match &message.content {
            Err(error) => {
                log(&json!({"event": "message", "message_id": id, "outcome": "failed", "error": error}));
                Err(error.clone())
            }
            Ok(Notification::Backfill(work)) if cancelled => {
                log(&json!({"event": "backfill", "message_id": id, "work": work, "outcome": "run_cancelled"}));
                Ok(Expansion::default())
            }
            Ok(Notification::Backfill(work)) => self.backfill(work).await.map_err(|error| {
                log(&json!({"event": "backfill", "message_id": id, "work": work, "outcome": "failed",
                            "retryable": error.retryable(), "error": error.to_string()}));
                error.to_string()
            }),
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
            log(
                &json!({"event": "backfill", "work": work, "outcome": "follow_up_failed",
                        "retryable": error.retryable(), "error": error.to_string()}),
            );
            error.to_string()
        });
        Unit::FollowedUp(i, result)
    }

    /// Backfill items never started on their last receive: queued again as
    /// fresh copies (then acknowledged), so time alone never dead-letters
    /// one. Returns the messages so handed on.
    async fn requeue_unstarted(
        &self,
        messages: &[QueuedMessage],
        slots: &[Slot],
        receives: impl Fn(usize) -> u32,
    ) -> BTreeSet<usize> {
        let last: Vec<(usize, &Work)> = (0..messages.len())
            .filter(|&i| slots[i].started.is_none() && receives(i) >= self.config.max_receives)
            .filter_map(|i| work_of(&messages[i]).map(|work| (i, work)))
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
        runs: &[Option<RunKey>],
        cancelled: &[bool],
        slots: &[Slot],
        receives: impl Fn(usize) -> u32,
        views: &mut HashMap<RunKey, View>,
    ) -> BTreeSet<RunKey> {
        let Some(book) = &self.runs else {
            return BTreeSet::new();
        };
        let mut deltas: HashMap<RunKey, Delta> = HashMap::new();
        for (i, slot) in slots.iter().enumerate() {
            let (Some(run), false) = (&runs[i], cancelled[i]) else {
                continue;
            };
            if matches!(views.get(run), Some(View::Untracked)) {
                continue;
            }
            let last = receives(i) >= self.config.max_receives;
            let mut delta = Delta::default();
            match &slot.finished {
                Some(Ok(())) => delta.items.done = 1,
                Some(Err(_)) if last => delta.items.failed = 1,
                _ => continue,
            }
            delta.items.queued = slot.queued;
            delta.files = file_counts(&slot.outcomes);
            let sum = deltas.remove(run).unwrap_or_default().plus(delta);
            deltas.insert(run.clone(), sum);
        }
        book.record(deltas, views).await.into_iter().collect()
    }
}

/// The backfill item a message holds, if it holds one.
fn work_of(message: &QueuedMessage) -> Option<&Work> {
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
        .filter_map(|o| match o {
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
