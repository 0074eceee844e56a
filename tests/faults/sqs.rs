//! SQS as the forwarder's event source mapping drives it: S3's
//! notifications in batches, failed messages redelivered, then dead-lettered.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use stand_in::{notification_key, A};

use super::{Fwd, BATCH, MAX_RECEIVES, POLLERS};

/// The S3 event notification S3 puts on the queue for one new object.
pub(crate) fn notification(bucket: &str, key: &str) -> String {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-05-01T12:05:31.271Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLEID:regionalDeliverySession"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "trailshare-forwarder",
               "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": notification_key(key), "size": 2311, "sequencer": "0055AED6DCD90281E5"}}}]})
    .to_string()
}

pub(crate) struct Message {
    pub(crate) id: String,
    pub(crate) body: String,
    pub(crate) receives: u32,
}

/// An SQS event (as the event source mapping sends it) for `batch`.
pub(crate) fn sqs_event(batch: &[Message]) -> Value {
    json!({"Records": batch.iter().map(|m| json!({
        "messageId": m.id, "receiptHandle": format!("handle-{}-{}", m.id, m.receives), "body": m.body,
        "attributes": {"ApproximateReceiveCount": m.receives.to_string(), "SentTimestamp": "1714565131271",
                       "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1714565131281"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:us-east-1:{A}:trailshare-forwarder"), "awsRegion": "us-east-1"})).collect::<Vec<_>>()})
}

/// Where every message ended, and what it took.
#[derive(Default)]
pub(crate) struct Drained {
    pub(crate) acknowledged: BTreeSet<String>,
    pub(crate) dead: BTreeMap<String, u32>,
    pub(crate) receives: u64,
    pub(crate) invocations: u64,
    pub(crate) invocation_errors: u64,
    /// The most receives any acknowledged message took.
    pub(crate) max_receives_acknowledged: u32,
}

/// Delivers `messages` as an SQS event source mapping does: batches of 10,
/// a few in flight, the ones in `batchItemFailures` (all of them when the
/// invocation fails) visible again after the visibility timeout, and after
/// the 5th receive moved to the dead-letter list.
pub(crate) async fn drain(forwarder: &Fwd, messages: Vec<(String, String)>) -> Drained {
    let mut visible: Vec<Message> = messages
        .into_iter()
        .map(|(id, body)| Message {
            id,
            body,
            receives: 0,
        })
        .collect();
    let mut drained = Drained::default();
    while !visible.is_empty() {
        let mut batches: Vec<Vec<Message>> = Vec::new();
        while !visible.is_empty() {
            let rest = visible.split_off(visible.len().min(BATCH));
            batches.push(std::mem::replace(&mut visible, rest));
        }
        let results: Vec<(Vec<Message>, Option<BTreeSet<String>>)> = stream::iter(batches)
            .map(|mut batch| async move {
                for message in &mut batch {
                    message.receives += 1;
                }
                let event = sqs_event(&batch);
                let failed = match forwarder.handle_event(event).await {
                    Ok(response) => Some(
                        response["batchItemFailures"]
                            .as_array()
                            .unwrap_or_else(|| {
                                panic!("an SQS batch answers with batchItemFailures: {response}")
                            })
                            .iter()
                            .map(|f| {
                                f["itemIdentifier"]
                                    .as_str()
                                    .expect("itemIdentifier")
                                    .to_string()
                            })
                            .collect(),
                    ),
                    Err(_) => None,
                };
                (batch, failed)
            })
            .buffer_unordered(POLLERS)
            .collect()
            .await;
        for (batch, failed) in results {
            drained.invocations += 1;
            drained.receives += batch.len() as u64;
            if failed.is_none() {
                drained.invocation_errors += 1;
            }
            if let Some(failed) = &failed {
                for id in failed {
                    assert!(
                        batch.iter().any(|m| &m.id == id),
                        "batchItemFailures names {id}, not in the batch"
                    );
                }
            }
            for message in batch {
                let retry = failed.as_ref().is_none_or(|f| f.contains(&message.id));
                if !retry {
                    drained.max_receives_acknowledged =
                        drained.max_receives_acknowledged.max(message.receives);
                    drained.acknowledged.insert(message.id);
                } else if message.receives >= MAX_RECEIVES {
                    drained.dead.insert(message.id, message.receives);
                } else {
                    visible.push(message);
                }
            }
        }
    }
    drained
}
