//! The forwarder's handler, in-process, against the stand-in with IAM
//! enforcement on, fed events shaped like the real ones (tests/fixtures).

mod activity;
mod backfill;
mod delivery;
mod failures;
mod notify;
mod triggers;

use forwarder::Forwarder;
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::world::{Grants, World, ADMIN};
use stand_in::{fixture, grantee_queue, notification_key};
use trailshare::aws::{AwsNotifier, IamRoles, S3Objects};

/// The custom prefix: a space and a plus, which S3 notifications encode.
const PREFIX: &str = "my logs+archive";
const ORG: &str = "o-a1b2c3d4e5";

/// An S3 event notification (from the fixture) for `keys` in `bucket`.
fn s3_event(bucket: &str, keys: &[&str]) -> Value {
    let mut event = fixture("s3-put.json");
    let template = event["Records"][0].clone();
    event["Records"] = keys
        .iter()
        .map(|key| {
            let mut record = template.clone();
            record["s3"]["bucket"]["name"] = json!(bucket);
            record["s3"]["bucket"]["arn"] = json!(format!("arn:aws:s3:::{bucket}"));
            record["s3"]["object"]["key"] = json!(notification_key(key));
            // The fixture's ETag and size are not these files': leave them
            // out, so the forwarder reads the real ones.
            let object = record["s3"]["object"].as_object_mut().unwrap();
            object.remove("eTag");
            object.remove("size");
            record
        })
        .collect();
    event
}

/// An EventBridge `Object Created` event (from the fixture): key not encoded.
fn bridge_event(bucket: &str, key: &str) -> Value {
    let mut event = fixture("eventbridge-object-created.json");
    event["detail"]["bucket"]["name"] = json!(bucket);
    event["detail"]["object"]["key"] = json!(key);
    event["detail"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("etag");
    event
}

/// An SQS batch (from the fixture) with these message ids and bodies.
fn sqs_event(messages: &[(&str, String)]) -> Value {
    let mut event = fixture("sqs-s3.json");
    let template = event["Records"][0].clone();
    event["Records"] = messages
        .iter()
        .map(|(id, body)| {
            let mut record = template.clone();
            record["messageId"] = json!(id);
            record["body"] = json!(body);
            record
        })
        .collect();
    event
}

/// An SQS batch of one message, `m1`: S3's notification of `key`.
fn one_message(bucket: &str, key: &str) -> Value {
    sqs_event(&[("m1", s3_event(bucket, &[key]).to_string())])
}

/// An SNS envelope (from the fixture) around `message`.
fn sns_body(message: &Value) -> String {
    let event = fixture("sqs-sns-s3.json");
    let mut envelope: Value =
        serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    envelope["Message"] = json!(message.to_string());
    envelope.to_string()
}

/// A world with the organization ORG, under `prefix` if any.
async fn world(prefix: Option<&str>) -> World {
    let mut vars = vec![("ORGANIZATION_ID", ORG)];
    vars.extend(prefix.map(|prefix| ("TRAIL_PREFIX", prefix)));
    World::new(&vars).await
}

/// A forwarder that also announces, allowed to send to `targets` only (as
/// the template's NotificationTargetArns grants).
async fn announcing_forwarder(
    w: &World,
    destinations: &[&str],
    targets: &[&str],
) -> Forwarder<IamRoles, S3Objects, trailshare::ports::NoQueue, AwsNotifier> {
    let user = w
        .forwarder_user(Grants {
            destinations,
            targets,
            ..Grants::default()
        })
        .await;
    w.forwarder_as(&user)
        .with_notifier(AwsNotifier::new(&user), "us-east-1")
}

/// The forwarder's own queue (client, URL) and a provisioner that
/// queues backfill work there.
async fn backfill_api(
    w: &World,
) -> (
    aws_sdk_sqs::Client,
    String,
    Provisioner<IamRoles, trailshare::aws::SqsQueue>,
) {
    let sqs = aws_sdk_sqs::Client::new(&w.admin);
    let (_, queue) = grantee_queue(&sqs, stand_in::A).await;
    let mut config = w.config.clone();
    config.forwarder_queue_url = Some(queue.clone());
    let api = Provisioner::new(IamRoles::from_sdk(&w.admin), config, stand_in::share_key())
        .with_queue(trailshare::aws::SqsQueue::new(&w.admin, &queue));
    (sqs, queue, api)
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// An API Gateway HTTP API event from the stack's administrator.
fn api_event(method: &str, path: &str, body: &Value) -> Value {
    stand_in::api_event(method, path, body, ADMIN)
}

/// Receives from `queue` and hands each batch to `forwarder` the way Lambda's
/// SQS trigger does, deleting what it acknowledged, until the queue is
/// empty. Returns the number of invocations.
async fn drain<Q: trailshare::ports::WorkQueue, N: trailshare::ports::Notifier>(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    forwarder: &Forwarder<IamRoles, S3Objects, Q, N>,
) -> usize {
    for invocations in 0..100 {
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return invocations;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle,
                "body": m.body, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:111111111111:q"}))
            .collect();
        let reply = forwarder
            .handle_event(json!({ "Records": records }))
            .await
            .unwrap();
        assert_eq!(
            reply,
            json!({"batchItemFailures": []}),
            "every work item succeeds"
        );
        for m in &messages {
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    panic!("the queue did not drain");
}

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    out.messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect()
}
