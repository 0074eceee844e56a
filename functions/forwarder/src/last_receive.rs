//! A message's last receive. A message failed through `batchItemFailures`
//! cannot gain attributes, so when one has been received `MAX_RECEIVES`
//! times (the queue's `maxReceiveCount`: SQS would move it on the next
//! receive) the forwarder sends it to the dead-letter queue itself, with
//! attributes naming the shares, targets and last error of what failed
//! (`trailshare::dead_letter`), and acknowledges it only once that send
//! succeeded. A send that fails leaves the message failed, as before: the
//! queue's own redrive still moves it, unexplained. Nothing is lost.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use serde_json::json;
use trailshare::dead_letter::Failure;
use trailshare::events::{Notification, QueuedMessage};
use trailshare::key::LogKey;
use trailshare::ports::{LogObjects, Notifier, RoleReader, WorkQueue};
use trailshare::targets::{targets_for, Target};

use crate::log::log;
use crate::shares::ShareTable;
use crate::{Forwarder, Item, Outcome};

impl<S: RoleReader, O: LogObjects, Q: WorkQueue, N: Notifier> Forwarder<S, O, Q, N> {
    /// Dead-letters each message of `failed` that is on its last receive,
    /// and takes it out of `failed` once the dead-letter queue has it.
    /// `work` and `outcomes` are the batch's objects (by message index) and
    /// what became of them.
    pub(crate) async fn dead_letter_last_receives(
        &self,
        messages: &[QueuedMessage],
        work: &[(usize, Item)],
        outcomes: &[Outcome],
        failed: &mut BTreeSet<usize>,
    ) {
        let Some(max_receives) = self.config.dead_letter.as_ref().map(|d| d.max_receives) else {
            return;
        };
        let last: Vec<usize> = failed
            .iter()
            .copied()
            .filter(|i| messages[*i].receives.is_some_and(|n| n >= max_receives))
            .collect();
        if last.is_empty() {
            return;
        }
        // Names the shares; the cache is warm (the batch just used it). If
        // it cannot be read, the explanation says what it can without.
        let table = self.shares.get().await.ok();
        let now = time::OffsetDateTime::now_utc();
        let sends = last.iter().map(|&index| {
            let message = &messages[index];
            let failure = explain(index, message, work, outcomes, table.as_deref(), now);
            async move {
                let attributes =
                    failure.attributes(&message.message_id, message.receives.unwrap_or(0));
                (
                    index,
                    failure,
                    self.queue.dead_letter(&message.body, &attributes).await,
                )
            }
        });
        // At most a batch's messages (10), so all at once.
        for (index, failure, result) in join_all(sends).await {
            let message = &messages[index];
            let mut line = json!({"event": "dead_letter", "message_id": message.message_id,
                "receives": message.receives, "shares": failure.shares, "targets": failure.targets,
                "error": failure.error});
            match result {
                Ok(()) => {
                    failed.remove(&index);
                    line["outcome"] = json!("dead_lettered");
                }
                Err(error) => {
                    line["outcome"] = json!("left_to_redrive");
                    line["send_error"] = json!(error.to_string());
                }
            }
            log(&line);
        }
    }
}

/// What failed for message `index`: its objects' failed targets, else why
/// the message itself failed.
fn explain(
    index: usize,
    message: &QueuedMessage,
    work: &[(usize, Item)],
    outcomes: &[Outcome],
    table: Option<&ShareTable>,
    now: time::OffsetDateTime,
) -> Failure {
    let mut failure = Failure::default();
    match &message.content {
        Err(error) => failure.add(None, "message", error.clone()),
        Ok(Notification::Backfill(item)) if !work.iter().any(|(i, _)| *i == index) => failure.add(
            Some(item.share()),
            "backfill",
            "the backfill step failed; see the forwarder's log line {\"event\": \"backfill\"}",
        ),
        Ok(_) => {
            for ((_, item), outcome) in work.iter().zip(outcomes).filter(|((i, _), _)| *i == index)
            {
                if let Outcome::Failed { error } = outcome {
                    explain_object(&mut failure, item, error, table, now);
                }
            }
        }
    }
    if failure.targets.is_empty() {
        // Failed without a failed object: work the invocation did not get to.
        failure.add(
            None,
            "unfinished",
            "the message was not finished in its last invocation",
        );
    }
    failure
}

/// Which of the shares that `item`'s file owes a delivery failed, and how:
/// each failed target's error starts with its name (`<target>: <error>`,
/// joined by `; `), as `process_for` records it.
fn explain_object(
    failure: &mut Failure,
    item: &Item,
    error: &str,
    table: Option<&ShareTable>,
    now: time::OffsetDateTime,
) {
    let before = failure.targets.len();
    let account = LogKey::parse(&item.object.key).ok().map(|key| key.account);
    if let (Some(table), Some(account)) = (table, account) {
        let only = |name: &str| item.only.as_deref().is_none_or(|only| only == name);
        for route in table
            .routes
            .iter()
            .filter(|r| only(&r.name) && !r.expired_at(now) && r.covers(&account))
        {
            let (targets, notices) =
                targets_for(std::iter::once(route), &account, &item.object.key);
            for target in &targets {
                if let Some(error) = segment(error, &target.name()) {
                    failure.add(Some(&route.name), general(target), error);
                }
            }
            for notice in &notices {
                let name = format!("notify {}", notice.notify.arn());
                if let Some(error) = segment(error, &name) {
                    failure.add(Some(&route.name), name, error);
                }
            }
        }
        for damaged in table
            .damaged
            .iter()
            .filter(|d| only(&d.name) && d.claims(&account))
        {
            let mark = format!("share {} is damaged", damaged.name);
            if let Some(at) = error.find(&mark) {
                let error = error[at..].split("; ").next().unwrap_or_default();
                failure.add(
                    Some(&damaged.name),
                    format!("share {} (damaged)", damaged.name),
                    error,
                );
            }
        }
    }
    if let Some(error) = segment(error, crate::activity::TARGET) {
        failure.add(None, crate::activity::TARGET, error);
    }
    if failure.targets.len() == before {
        // Not a target's failure (the share table could not be read), or
        // one no longer in the table: the error as it is.
        failure.add(item.only.as_deref(), "forwarder", error);
    }
}

/// The error of the target called `name` within `error`, if it failed.
fn segment<'a>(error: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{name}: ");
    let start = if error.starts_with(&prefix) {
        prefix.len()
    } else {
        error.find(&format!("; {prefix}"))? + 2 + prefix.len()
    };
    error[start..].split("; ").next()
}

/// A target's name without the file's key, so that files group.
fn general(target: &Target) -> String {
    match target {
        Target::Tag => "tag".to_string(),
        Target::Copy(destination) => format!("copy to s3://{}", destination.bucket),
    }
}

#[cfg(test)]
mod tests;
