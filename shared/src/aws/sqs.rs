//! `WorkQueue` over SQS: the forwarder's own queue, where backfill work fans
//! out (share → account → day) for Lambda's concurrency to carry out, and
//! its dead-letter queue, where the forwarder puts a message that failed
//! for the last time, with attributes saying why.

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;

use super::classify;
use crate::ports::{AwsError, WorkQueue};

/// SQS allows at most 10 messages per `SendMessageBatch`.
const BATCH: usize = 10;

/// The queue at `url`. Build once per process.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    sqs: Client,
    url: String,
    dead_letter_url: Option<String>,
}

impl SqsQueue {
    pub fn new(sdk: &SdkConfig, url: impl Into<String>) -> SqsQueue {
        SqsQueue {
            sqs: Client::new(sdk),
            url: url.into(),
            dead_letter_url: None,
        }
    }

    /// The same queue, dead-lettering into `url` (`DEAD_LETTER_QUEUE_URL`).
    pub fn with_dead_letter(mut self, url: Option<impl Into<String>>) -> SqsQueue {
        self.dead_letter_url = url.map(Into::into);
        self
    }
}

impl WorkQueue for SqsQueue {
    async fn send(&self, bodies: &[String]) -> Result<(), AwsError> {
        for chunk in bodies.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .expect("id and body are set")
                })
                .collect();
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify("sqs:SendMessageBatch", e))?;
            // A batch call succeeds even when some entries were refused.
            if let Some(refused) = out.failed.first() {
                let message = format!(
                    "{}: {}",
                    refused.code,
                    refused.message.clone().unwrap_or_default()
                );
                return Err(if refused.sender_fault {
                    AwsError::Rejected {
                        call: "sqs:SendMessageBatch",
                        message,
                    }
                } else {
                    AwsError::Failed {
                        call: "sqs:SendMessageBatch",
                        message,
                    }
                });
            }
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        body: &str,
        attributes: &[(&'static str, String)],
    ) -> Result<(), AwsError> {
        let Some(url) = &self.dead_letter_url else {
            return crate::ports::NoQueue.dead_letter(body, attributes).await;
        };
        let mut request = self.sqs.send_message().queue_url(url).message_body(body);
        for (name, value) in attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| AwsError::Rejected {
                    call: "sqs:SendMessage",
                    message: e.to_string(),
                })?;
            request = request.message_attributes(*name, value);
        }
        request
            .send()
            .await
            .map_err(|e| classify("sqs:SendMessage", e))?;
        Ok(())
    }
}
