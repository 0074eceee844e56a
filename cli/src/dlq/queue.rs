//! The SQS calls of `trailshare dlq`: the forwarder's queue and its
//! dead-letter queue, and nothing else (the template's
//! `DeadLetterAdminPolicy` grants exactly these calls on those two queues).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{bail, Context};
use aws_config::SdkConfig;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use aws_sdk_sqs::Client;
use serde_json::Value;

/// How long a read message stays hidden while the rest are read.
const HOLD_SECONDS: i32 = 300;

/// The forwarder's queue and its dead-letter queue, checked to belong together.
pub struct Queues {
    sqs: Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
}

/// A message read from the dead-letter queue and hidden until released.
pub struct Held {
    pub receipt: String,
    pub body: String,
    /// Message attributes (string values) and `DeadLetterQueueSourceArn`.
    pub attributes: BTreeMap<String, String>,
}

/// A move task's progress, as `ListMessageMoveTasks` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveStatus {
    pub status: String,
    pub moved: i64,
    pub to_move: Option<i64>,
    pub failure: Option<String>,
}

impl Queues {
    /// Reads the forwarder queue's ARN and redrive policy. The dead-letter
    /// queue is the one that policy names; a `dlq_url` given must be it, so
    /// no other queue's messages are ever moved into the forwarder's.
    pub async fn connect(
        sdk: &SdkConfig,
        queue_url: &str,
        dlq_url: Option<&str>,
    ) -> anyhow::Result<Queues> {
        let sqs = Client::new(sdk);
        let queue = attributes(
            &sqs,
            queue_url,
            &[
                QueueAttributeName::QueueArn,
                QueueAttributeName::RedrivePolicy,
            ],
        )
        .await?;
        let queue_arn = queue
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .context("the forwarder's queue has no ARN")?;
        let target = queue
            .get(&QueueAttributeName::RedrivePolicy)
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_string))
            .with_context(|| format!("{queue_url} has no dead-letter queue (RedrivePolicy): is it the forwarder's queue?"))?;
        let dlq_url = match dlq_url {
            Some(url) => url.to_string(),
            None => {
                let (account, name) =
                    arn_parts(&target).context("the redrive policy's deadLetterTargetArn")?;
                sqs.get_queue_url()
                    .queue_name(name)
                    .queue_owner_aws_account_id(account)
                    .send()
                    .await
                    .context("sqs:GetQueueUrl of the dead-letter queue")?
                    .queue_url
                    .context("sqs:GetQueueUrl gave no URL")?
            }
        };
        let dlq = attributes(&sqs, &dlq_url, &[QueueAttributeName::QueueArn]).await?;
        let dlq_arn = dlq
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .unwrap_or_default();
        if dlq_arn != target {
            bail!("{dlq_url} is not the forwarder queue's dead-letter queue ({target})");
        }
        Ok(Queues {
            sqs,
            queue_url: queue_url.to_string(),
            queue_arn,
            dlq_url,
            dlq_arn,
        })
    }

    /// About how many messages wait in the dead-letter queue.
    pub async fn waiting(&self) -> anyhow::Result<u64> {
        let found = attributes(
            &self.sqs,
            &self.dlq_url,
            &[QueueAttributeName::ApproximateNumberOfMessages],
        )
        .await?;
        Ok(found
            .get(&QueueAttributeName::ApproximateNumberOfMessages)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// Reads up to `max` messages of the dead-letter queue, each once (they
    /// stay hidden until released or deleted): until a receive that waited a
    /// second finds nothing more.
    pub async fn read(&self, max: usize) -> anyhow::Result<Vec<Held>> {
        let mut held: Vec<Held> = Vec::new();
        let mut seen = BTreeSet::new();
        while held.len() < max {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages((max - held.len()).min(10) as i32)
                .wait_time_seconds(1)
                .visibility_timeout(HOLD_SECONDS)
                .message_system_attribute_names(
                    MessageSystemAttributeName::DeadLetterQueueSourceArn,
                )
                .set_message_attribute_names(Some(
                    trailshare::dead_letter::ALL.map(String::from).to_vec(),
                ))
                .send()
                .await
                .context("sqs:ReceiveMessage from the dead-letter queue")?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                let (Some(id), Some(receipt)) = (message.message_id, message.receipt_handle) else {
                    continue;
                };
                if !seen.insert(id) {
                    continue;
                }
                let mut attributes: BTreeMap<String, String> = message
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(name, value)| Some((name, value.string_value?)))
                    .collect();
                if let Some(source) = message.attributes.and_then(|a| {
                    a.get(&MessageSystemAttributeName::DeadLetterQueueSourceArn)
                        .cloned()
                }) {
                    attributes.insert(trailshare::dead_letter::SOURCE_QUEUE.into(), source);
                }
                held.push(Held {
                    receipt,
                    body: message.body.unwrap_or_default(),
                    attributes,
                });
            }
        }
        Ok(held)
    }

    /// Makes held messages visible again at once.
    pub async fn release(&self, held: &[&Held]) -> anyhow::Result<()> {
        for chunk in held.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&m.receipt)
                        .visibility_timeout(0)
                        .build()
                        .expect("id and receipt handle are set")
                })
                .collect();
            self.sqs
                .change_message_visibility_batch()
                .queue_url(&self.dlq_url)
                .set_entries(Some(entries))
                .send()
                .await
                .context("sqs:ChangeMessageVisibilityBatch on the dead-letter queue")?;
        }
        Ok(())
    }

    /// Moves one held message back: sent to the forwarder's queue (its body
    /// only), then deleted from the dead-letter queue. A failure between the
    /// two leaves it in both (the forwarder is idempotent), never in neither.
    pub async fn move_back(&self, message: &Held) -> anyhow::Result<()> {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&message.body)
            .send()
            .await
            .context("sqs:SendMessage to the forwarder's queue")?;
        self.sqs
            .delete_message()
            .queue_url(&self.dlq_url)
            .receipt_handle(&message.receipt)
            .send()
            .await
            .context("sqs:DeleteMessage from the dead-letter queue")?;
        Ok(())
    }

    /// Starts SQS's move task from the dead-letter queue into the
    /// forwarder's queue (named, so that messages EventBridge dead-lettered,
    /// which have no source queue, go there too); returns its handle.
    pub async fn start_move(&self) -> anyhow::Result<String> {
        self.sqs
            .start_message_move_task()
            .source_arn(&self.dlq_arn)
            .destination_arn(&self.queue_arn)
            .send()
            .await
            .context("sqs:StartMessageMoveTask")?
            .task_handle
            .context("sqs:StartMessageMoveTask gave no task handle")
    }

    /// The move task `handle`'s progress, once it is listed.
    pub async fn move_status(&self, handle: &str) -> anyhow::Result<Option<MoveStatus>> {
        let out = self
            .sqs
            .list_message_move_tasks()
            .source_arn(&self.dlq_arn)
            .max_results(10)
            .send()
            .await
            .context("sqs:ListMessageMoveTasks")?;
        Ok(out
            .results
            .unwrap_or_default()
            .into_iter()
            .find(|task| task.task_handle() == Some(handle))
            .map(|task| MoveStatus {
                status: task.status().unwrap_or_default().to_string(),
                moved: task.approximate_number_of_messages_moved(),
                to_move: task.approximate_number_of_messages_to_move(),
                failure: task.failure_reason().map(str::to_string),
            }))
    }

    /// Waits (up to `wait`) for the move task to leave RUNNING.
    pub async fn wait_for_move(
        &self,
        handle: &str,
        wait: Duration,
    ) -> anyhow::Result<Option<MoveStatus>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let status = self.move_status(handle).await?;
            let running = status.as_ref().is_none_or(|s| s.status == "RUNNING");
            if !running || tokio::time::Instant::now() >= deadline {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

async fn attributes(
    sqs: &Client,
    url: &str,
    names: &[QueueAttributeName],
) -> anyhow::Result<std::collections::HashMap<QueueAttributeName, String>> {
    Ok(sqs
        .get_queue_attributes()
        .queue_url(url)
        .set_attribute_names(Some(names.to_vec()))
        .send()
        .await
        .with_context(|| format!("sqs:GetQueueAttributes of {url}"))?
        .attributes
        .unwrap_or_default())
}

/// The account and name of an SQS queue ARN.
fn arn_parts(arn: &str) -> Option<(&str, &str)> {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "sqs", _, account, name] if !account.is_empty() && !name.is_empty() => {
            Some((account, name))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_queue_arn_names_its_account_and_queue() {
        assert_eq!(
            super::arn_parts("arn:aws:sqs:us-east-1:111111111111:trailshare-dlq"),
            Some(("111111111111", "trailshare-dlq"))
        );
        assert_eq!(
            super::arn_parts("arn:aws:sns:us-east-1:111111111111:t"),
            None
        );
        assert_eq!(super::arn_parts("trailshare-dlq"), None);
    }
}
