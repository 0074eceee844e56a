//! `Notifier` over SQS and SNS: a grantee's queue or topic, possibly in
//! another region than the forwarder, so one client per region, built on
//! first use and kept for the life of the process.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::{Region, SdkConfig};

use super::classify;
use crate::ports::{AwsError, Notifier};
use crate::share::Notify;

/// Sends announcements with the function's own credentials; the grantee's
/// queue or topic policy lets the forwarder's role send (`queue_policy`).
#[derive(Debug)]
pub struct AwsNotifier {
    sdk: SdkConfig,
    sqs: Mutex<HashMap<String, aws_sdk_sqs::Client>>,
    sns: Mutex<HashMap<String, aws_sdk_sns::Client>>,
}

impl AwsNotifier {
    pub fn new(sdk: &SdkConfig) -> AwsNotifier {
        AwsNotifier {
            sdk: sdk.clone(),
            sqs: Mutex::default(),
            sns: Mutex::default(),
        }
    }

    fn sqs_in(&self, region: &str) -> aws_sdk_sqs::Client {
        let mut clients = self.sqs.lock().expect("no panic holds the lock");
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                aws_sdk_sqs::Client::from_conf(
                    aws_sdk_sqs::config::Builder::from(&self.sdk)
                        .region(Region::new(region.to_string()))
                        .build(),
                )
            })
            .clone()
    }

    fn sns_in(&self, region: &str) -> aws_sdk_sns::Client {
        let mut clients = self.sns.lock().expect("no panic holds the lock");
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                aws_sdk_sns::Client::from_conf(
                    aws_sdk_sns::config::Builder::from(&self.sdk)
                        .region(Region::new(region.to_string()))
                        .build(),
                )
            })
            .clone()
    }
}

/// `arn:aws:<service>:<region>:<account>:<name>` → (region, account, name).
fn arn_parts(arn: &str) -> (&str, &str, &str) {
    let mut parts = arn.splitn(6, ':').skip(3);
    let region = parts.next().unwrap_or_default();
    let account = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    (region, account, name)
}

/// A missing queue or topic is a setting to fix, never "the source is
/// gone" (the forwarder's only skip): it must fail and be retried.
fn not_a_skip(error: AwsError) -> AwsError {
    match error {
        AwsError::NotFound { call } => AwsError::Rejected {
            call,
            message: "the queue or topic does not exist".into(),
        },
        other => other,
    }
}

impl Notifier for AwsNotifier {
    async fn notify(&self, target: &Notify, message: &str) -> Result<(), AwsError> {
        let (region, account, name) = arn_parts(target.arn());
        match target {
            Notify::QueueArn(_) => {
                let url = format!("https://sqs.{region}.amazonaws.com/{account}/{name}");
                self.sqs_in(region)
                    .send_message()
                    .queue_url(url)
                    .message_body(message)
                    .send()
                    .await
                    .map_err(|e| not_a_skip(classify("sqs:SendMessage", e)))?;
            }
            Notify::TopicArn(arn) => {
                self.sns_in(region)
                    .publish()
                    .topic_arn(arn)
                    .message(message)
                    .send()
                    .await
                    .map_err(|e| not_a_skip(classify("sns:Publish", e)))?;
            }
        }
        Ok(())
    }
}
