//! The forwarder's side of backfill runs: which runs a batch's items count
//! towards (read once per run and batch: a cancelled run's items do
//! nothing), and the counts the batch adds to each run (one conditional
//! write per run and batch).

use std::collections::HashMap;

use futures_util::future::join_all;
use serde_json::json;
use trailshare::backfill::runs::{self, Versioned};
use trailshare::backfill::{AnyRuns, Delta, FileCounts, RunError, RunState, RunStore, Work};
use trailshare::seal::ShareKey;

use crate::log::log;
use crate::Outcome;

/// Where runs are kept, and the key that seals them.
pub(crate) struct RunBook {
    store: AnyRuns,
    key: ShareKey,
}

/// A run by its share and id.
pub(crate) type RunKey = (String, String);

/// A run as a batch found it.
pub(crate) enum View {
    /// Counted: the version read (the first write names it).
    Tracked(Box<Versioned>),
    /// Cancelled: its items do nothing.
    Cancelled,
    /// Not counted: no run object, or one that is not to be believed.
    Untracked,
    /// The read failed: the work goes on; its counts are written after a
    /// fresh read.
    Unread,
}

/// The run an item counts towards.
pub(crate) fn run_of(work: &Work) -> Option<RunKey> {
    work.run()
        .map(|id| (work.share().to_string(), id.to_string()))
}

impl RunBook {
    pub(crate) fn new<R: RunStore + 'static>(store: R, key: ShareKey) -> RunBook {
        RunBook {
            store: AnyRuns::new(store),
            key,
        }
    }

    /// Reads each run once, concurrently.
    pub(crate) async fn views(&self, keys: Vec<RunKey>) -> HashMap<RunKey, View> {
        let store = &self.store;
        let reads = keys
            .iter()
            .map(|(share, id)| runs::read(store, &self.key, share, id));
        let mut views = HashMap::new();
        for (key, read) in keys.iter().zip(join_all(reads).await) {
            let view = match read {
                Ok(found) if found.run.state() == RunState::Cancelled => View::Cancelled,
                Ok(found) => View::Tracked(Box::new(found)),
                Err(RunError::Missing) => View::Untracked,
                Err(error @ RunError::Unbelievable(_)) => {
                    log(
                        &json!({"event": "backfill_run", "share": key.0, "run": key.1,
                                "outcome": "unbelievable", "error": error.to_string()}),
                    );
                    View::Untracked
                }
                Err(error) => {
                    log(
                        &json!({"event": "backfill_run", "share": key.0, "run": key.1,
                                "outcome": "read_failed", "error": error.to_string()}),
                    );
                    View::Unread
                }
            };
            views.insert(key.clone(), view);
        }
        views
    }

    /// Adds each run's counts, concurrently; the runs whose counts could
    /// not be written (their items must be retried).
    pub(crate) async fn record(
        &self,
        deltas: HashMap<RunKey, Delta>,
        views: &mut HashMap<RunKey, View>,
    ) -> Vec<RunKey> {
        let store = &self.store;
        let now = now_rfc3339();
        let writes: Vec<_> = deltas
            .iter()
            .filter(|(_, delta)| !delta.is_empty())
            .map(|(key, delta)| {
                let known = match views.remove(key) {
                    Some(View::Tracked(found)) => Some(*found),
                    _ => None,
                };
                let now = &now;
                async move {
                    let result = runs::update(store, &self.key, (&key.0, &key.1), known, |run| {
                        run.add(delta, now);
                        true
                    })
                    .await;
                    (key, delta, result)
                }
            })
            .collect();
        let mut unwritten = Vec::new();
        for (key, delta, result) in join_all(writes).await {
            let line = json!({"event": "backfill_run", "share": key.0, "run": key.1,
                "added": {"items": delta.items, "files": delta.files}});
            match result {
                Ok(run) => log(&merge(
                    line,
                    json!({"outcome": "counted", "state": run.state(),
                                                     "items": run.items, "files": run.files}),
                )),
                // A run whose object is gone or not believable is not counted;
                // its work is done all the same.
                Err(RunError::Missing | RunError::Unbelievable(_)) => {
                    log(&merge(line, json!({"outcome": "not_counted"})))
                }
                Err(error) => {
                    log(&merge(
                        line,
                        json!({"outcome": "count_failed", "error": error.to_string()}),
                    ));
                    unwritten.push(key.clone());
                }
            }
        }
        unwritten
    }
}

fn merge(mut line: serde_json::Value, more: serde_json::Value) -> serde_json::Value {
    if let (Some(line), Some(more)) = (line.as_object_mut(), more.as_object()) {
        line.extend(more.clone());
    }
    line
}

/// What one item's files come to: delivered (something written: a tag, a
/// copy, a notice), already done (every target already there), skipped,
/// failed.
pub(crate) fn file_counts<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> FileCounts {
    let mut counts = FileCounts::default();
    for outcome in outcomes {
        match outcome {
            Outcome::Processed { actions, .. }
                if !actions.is_empty() && actions.iter().all(|a| a.starts_with("already ")) =>
            {
                counts.already_done += 1
            }
            Outcome::Processed { .. } => counts.delivered += 1,
            Outcome::Skipped { .. } => counts.skipped += 1,
            Outcome::Failed { .. } => counts.failed += 1,
        }
    }
    counts
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formats any UTC time")
}
