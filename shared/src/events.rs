//! Decoding the forwarder's input: the three shapes S3 "object created"
//! news arrives in, told apart by their shape alone.
//!
//! - an S3 event notification (`Records[].eventSource = "aws:s3"`), keys URL-encoded;
//! - an EventBridge `Object Created` event from `aws.s3`, keys not encoded;
//! - CloudTrail's own SNS notification of a delivered file,
//!   `{"s3Bucket", "s3ObjectKey": [...]}`, keys not encoded: the route that
//!   needs no change to a locked bucket's notification configuration;
//! - SNS invoking the function directly (`Records[].EventSource = "aws:sns"`)
//!   with an S3 notification or CloudTrail's message inside;
//! - an SQS batch whose bodies are any of those, or an SNS envelope around
//!   an S3 notification or CloudTrail's message.

use serde::Deserialize;
use serde_json::Value;

use crate::key::decode_notification_key;

/// One object the forwarder should look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedObject {
    pub bucket: String,
    /// The real (decoded) key.
    pub key: String,
    /// The ETag the event reported, without quotes, if it did.
    pub etag: Option<String>,
    /// The size the event reported, if it did (CloudTrail's SNS does not).
    pub size: Option<u64>,
}

/// What a single notification (not an SQS batch) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    Objects(Vec<CreatedObject>),
    /// `s3:TestEvent`, sent when a notification is configured: nothing to do.
    Test,
    /// An AWS Config notification (its `messageType`): Control Tower's
    /// `aws-controltower-AllConfigNotifications` topic carries them beside
    /// CloudTrail's. Nothing to do; the template's filter policy keeps them
    /// off the queue, this keeps any that arrive from being retried.
    Config(String),
    /// Backfill work the provisioner or the forwarder queued.
    Backfill(crate::backfill::Work),
}

/// One SQS message's body, decoded, or why it cannot be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub message_id: String,
    pub content: Result<Notification, String>,
    /// The body as SQS delivered it (what a dead-letter send carries on).
    pub body: String,
    /// `attributes.ApproximateReceiveCount`: how many times SQS has handed
    /// the message out, this time included (set by SQS, not the sender).
    pub receives: Option<u32>,
}

/// What invoked the forwarder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Invoked directly by S3 or EventBridge.
    Direct(Notification),
    /// Invoked by SQS: answer per message.
    Queue(Vec<QueuedMessage>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised event: {0}")]
pub struct UnknownEvent(pub String);

#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventSource")]
    event_source: String,
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: S3Entity,
}
#[derive(Deserialize)]
struct S3Entity {
    bucket: NamedBucket,
    object: S3Object,
}
#[derive(Deserialize)]
struct NamedBucket {
    name: String,
}
#[derive(Deserialize)]
struct S3Object {
    key: String,
    #[serde(rename = "eTag", default)]
    etag: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}
#[derive(Deserialize)]
struct BridgeDetail {
    bucket: NamedBucket,
    object: BridgeObject,
}
#[derive(Deserialize)]
struct BridgeObject {
    key: String,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}
#[derive(Deserialize)]
struct CloudTrailMessage {
    #[serde(rename = "s3Bucket")]
    bucket: String,
    #[serde(rename = "s3ObjectKey")]
    keys: Vec<String>,
}
#[derive(Deserialize)]
struct SnsRecord {
    #[serde(rename = "Sns")]
    sns: SnsMessage,
}
#[derive(Deserialize)]
struct SnsMessage {
    #[serde(rename = "Message")]
    message: String,
}
#[derive(Deserialize)]
struct SqsRecord {
    #[serde(rename = "messageId")]
    message_id: String,
    body: String,
    #[serde(default)]
    attributes: SqsAttributes,
}
#[derive(Deserialize, Default)]
struct SqsAttributes {
    #[serde(rename = "ApproximateReceiveCount", default)]
    receive_count: Option<String>,
}

/// Tells the shape of an invocation payload and decodes it.
pub fn decode(event: &Value) -> Result<Trigger, UnknownEvent> {
    let records = event.get("Records").and_then(Value::as_array);
    let first_source = records
        .and_then(|r| r.first())
        .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
        .and_then(Value::as_str);
    if first_source == Some("aws:sqs") {
        let records: Vec<SqsRecord> = serde_json::from_value(event["Records"].clone())
            .map_err(|e| UnknownEvent(format!("SQS batch: {e}")))?;
        return Ok(Trigger::Queue(
            records
                .into_iter()
                .map(|r| QueuedMessage {
                    message_id: r.message_id,
                    content: decode_body(&r.body),
                    receives: r.attributes.receive_count.and_then(|n| n.parse().ok()),
                    body: r.body,
                })
                .collect(),
        ));
    }
    if first_source == Some("aws:sns") {
        return decode_sns(event).map(Trigger::Direct).map_err(UnknownEvent);
    }
    decode_notification(event)
        .map(Trigger::Direct)
        .map_err(UnknownEvent)
}

/// SNS invoking the function: every record's message, objects combined.
fn decode_sns(event: &Value) -> Result<Notification, String> {
    let records: Vec<SnsRecord> =
        serde_json::from_value(event["Records"].clone()).map_err(|e| format!("SNS event: {e}"))?;
    let mut objects = Vec::new();
    for record in records {
        let inner: Value = serde_json::from_str(&record.sns.message)
            .map_err(|e| format!("SNS Message is not JSON: {e}"))?;
        match decode_notification(&inner)? {
            Notification::Objects(found) => objects.extend(found),
            Notification::Test | Notification::Config(_) | Notification::Backfill(_) => {}
        }
    }
    Ok(Notification::Objects(objects))
}

/// An SQS body: an S3 notification, an EventBridge event, or an SNS envelope.
fn decode_body(body: &str) -> Result<Notification, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("message body is not JSON: {e}"))?;
    if let Some(work) = crate::backfill::Work::from_body(&value) {
        return work.map(Notification::Backfill);
    }
    if value.get("Type").and_then(Value::as_str) == Some("Notification") {
        let message = value
            .get("Message")
            .and_then(Value::as_str)
            .ok_or("SNS envelope without a Message string")?;
        let inner: Value =
            serde_json::from_str(message).map_err(|e| format!("SNS Message is not JSON: {e}"))?;
        return decode_notification(&inner);
    }
    decode_notification(&value)
}

fn decode_notification(event: &Value) -> Result<Notification, String> {
    if event.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    if let Some(records) = event.get("Records") {
        let records: Vec<S3Record> =
            serde_json::from_value(records.clone()).map_err(|e| format!("S3 notification: {e}"))?;
        let mut objects = Vec::new();
        for record in records {
            if record.event_source != "aws:s3" {
                return Err(format!(
                    "record from {} in an S3 notification",
                    record.event_source
                ));
            }
            if !record.event_name.starts_with("ObjectCreated:") {
                continue;
            }
            let key = decode_notification_key(&record.s3.object.key).map_err(|e| e.to_string())?;
            objects.push(CreatedObject {
                bucket: record.s3.bucket.name,
                key,
                etag: unquote(record.s3.object.etag),
                size: record.s3.object.size,
            });
        }
        return Ok(Notification::Objects(objects));
    }
    // AWS Config's notifications carry `s3Bucket`/`s3ObjectKey` too (its
    // snapshots), so they are told apart first, by their `messageType`.
    if let Some(kind) = event.get("messageType").and_then(Value::as_str) {
        if kind.starts_with("Config")
            || kind.contains("Configuration")
            || kind.starts_with("Compliance")
        {
            return Ok(Notification::Config(kind.to_string()));
        }
    }
    if event.get("s3Bucket").is_some() && event.get("s3ObjectKey").is_some() {
        let message: CloudTrailMessage = serde_json::from_value(event.clone())
            .map_err(|e| format!("CloudTrail notification: {e}"))?;
        return Ok(Notification::Objects(
            message
                .keys
                .into_iter()
                .map(|key| CreatedObject {
                    bucket: message.bucket.clone(),
                    key,
                    etag: None,
                    size: None,
                })
                .collect(),
        ));
    }
    let source = event.get("source").and_then(Value::as_str);
    let detail_type = event.get("detail-type").and_then(Value::as_str);
    if source == Some("aws.s3") && detail_type == Some("Object Created") {
        let detail: BridgeDetail = serde_json::from_value(event["detail"].clone())
            .map_err(|e| format!("EventBridge detail: {e}"))?;
        return Ok(Notification::Objects(vec![CreatedObject {
            bucket: detail.bucket.name,
            key: detail.object.key,
            etag: unquote(detail.object.etag),
            size: detail.object.size,
        }]));
    }
    Err(
        "neither an S3 notification, an EventBridge Object Created event, CloudTrail's SNS notification, nor an SQS batch"
            .to_string(),
    )
}

fn unquote(etag: Option<String>) -> Option<String> {
    etag.map(|e| e.trim_matches('"').to_string())
        .filter(|e| !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_notification(key: &str) -> Value {
        json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "trail-bucket"}, "object": {"key": key, "size": 10, "eTag": "abc", "sequencer": "00"}}}]})
    }

    fn bridge(key: &str) -> Value {
        json!({"version": "0", "detail-type": "Object Created", "source": "aws.s3", "account": "111111111111",
            "detail": {"version": "0", "bucket": {"name": "trail-bucket"}, "object": {"key": key, "size": 10, "etag": "\"abc\""}}})
    }

    fn object(key: &str) -> CreatedObject {
        CreatedObject {
            bucket: "trail-bucket".into(),
            key: key.into(),
            etag: Some("abc".into()),
            size: Some(10),
        }
    }

    #[test]
    fn s3_notification_keys_are_decoded() {
        let trigger = decode(&s3_notification("my+logs%2Barchive/AWSLogs/x")).unwrap();
        assert_eq!(
            trigger,
            Trigger::Direct(Notification::Objects(vec![object(
                "my logs+archive/AWSLogs/x"
            )]))
        );
    }

    #[test]
    fn eventbridge_keys_are_taken_as_they_are() {
        let trigger = decode(&bridge("my logs+archive/AWSLogs/a%2Bb")).unwrap();
        assert_eq!(
            trigger,
            Trigger::Direct(Notification::Objects(vec![object(
                "my logs+archive/AWSLogs/a%2Bb"
            )]))
        );
    }

    #[test]
    fn non_create_records_are_passed_over() {
        let mut event = s3_notification("k");
        event["Records"][0]["eventName"] = json!("ObjectRemoved:Delete");
        assert_eq!(
            decode(&event).unwrap(),
            Trigger::Direct(Notification::Objects(vec![]))
        );
    }

    #[test]
    fn test_events_are_recognised() {
        let test =
            json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "trail-bucket"});
        assert_eq!(decode(&test).unwrap(), Trigger::Direct(Notification::Test));
    }

    #[test]
    fn sqs_batches_decode_every_body_shape() {
        let sns = json!({"Type": "Notification", "MessageId": "m", "Message": s3_notification("a+b").to_string()});
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent"});
        let batch = json!({"Records": [
            {"messageId": "1", "body": s3_notification("k1").to_string(), "eventSource": "aws:sqs"},
            {"messageId": "2", "body": bridge("k 2").to_string(), "eventSource": "aws:sqs"},
            {"messageId": "3", "body": sns.to_string(), "eventSource": "aws:sqs"},
            {"messageId": "4", "body": "not json", "eventSource": "aws:sqs"},
            {"messageId": "5", "body": test.to_string(), "eventSource": "aws:sqs"},
            {"messageId": "6", "body": "{\"hello\": 1}", "eventSource": "aws:sqs"},
            {"messageId": "7", "body": json!({"Type": "Notification", "Message": "nope"}).to_string(), "eventSource": "aws:sqs"}
        ]});
        let Trigger::Queue(messages) = decode(&batch).unwrap() else {
            panic!("not a queue")
        };
        let ids: Vec<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3", "4", "5", "6", "7"]);
        assert_eq!(
            messages[0].content,
            Ok(Notification::Objects(vec![object("k1")]))
        );
        assert_eq!(
            messages[1].content,
            Ok(Notification::Objects(vec![object("k 2")]))
        );
        assert_eq!(
            messages[2].content,
            Ok(Notification::Objects(vec![object("a b")]))
        );
        assert!(messages[3]
            .content
            .as_ref()
            .unwrap_err()
            .contains("not JSON"));
        assert_eq!(messages[4].content, Ok(Notification::Test));
        assert!(messages[5].content.is_err());
        assert!(messages[6].content.is_err());
    }

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../tests/fixtures/events/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn cloudtrail_objects() -> Vec<CreatedObject> {
        ["222222222222", "333333333333"]
            .iter()
            .zip(["AbCdEfGh", "IjKlMnOp"])
            .map(|(account, id)| CreatedObject {
                bucket: "trail-bucket".into(),
                key: format!("o-a1b2c3d4e5/AWSLogs/o-a1b2c3d4e5/{account}/CloudTrail/us-east-1/2024/05/01/{account}_CloudTrail_us-east-1_20240501T1205Z_{id}12345678.json.gz"),
                etag: None,
                size: None,
            })
            .collect()
    }

    #[test]
    fn cloudtrails_own_sns_notification_arrives_directly_from_sns() {
        assert_eq!(
            decode(&fixture("sns-cloudtrail.json")).unwrap(),
            Trigger::Direct(Notification::Objects(cloudtrail_objects()))
        );
        // SNS around an S3 notification: its key is URL-encoded.
        let event = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification",
            "Message": s3_notification("a+b%2Bc").to_string()}}]});
        assert_eq!(
            decode(&event).unwrap(),
            Trigger::Direct(Notification::Objects(vec![object("a b+c")]))
        );
        let broken = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "nope"}}]});
        assert!(decode(&broken).is_err());
    }

    #[test]
    fn cloudtrails_notification_in_sqs_raw_or_in_an_sns_envelope_keeps_keys_as_they_are() {
        let Trigger::Queue(messages) = decode(&fixture("sqs-sns-cloudtrail.json")).unwrap() else {
            panic!("not a queue")
        };
        assert_eq!(messages.len(), 2);
        for message in messages {
            assert_eq!(
                message.content,
                Ok(Notification::Objects(cloudtrail_objects()))
            );
        }
        let with_space = json!({"s3Bucket": "b", "s3ObjectKey": ["a b+c%2B/AWSLogs/x"]});
        assert_eq!(
            decode_body(&with_space.to_string()),
            Ok(Notification::Objects(vec![CreatedObject {
                bucket: "b".into(),
                key: "a b+c%2B/AWSLogs/x".into(),
                etag: None,
                size: None,
            }]))
        );
        assert!(decode_body(r#"{"s3Bucket": "b", "s3ObjectKey": "not-a-list"}"#).is_err());
    }

    /// Control Tower's topic carries AWS Config's notifications too: they
    /// are nothing to do, not errors to retry into the dead-letter queue —
    /// even the snapshot one, whose `s3ObjectKey` is a string, not a list.
    #[test]
    fn aws_configs_notifications_on_a_shared_topic_are_nothing_to_do() {
        let Trigger::Queue(messages) = decode(&fixture("sqs-sns-config.json")).unwrap() else {
            panic!("not a queue")
        };
        let kinds: Vec<_> = messages.into_iter().map(|m| m.content).collect();
        assert_eq!(
            kinds,
            [
                Ok(Notification::Config(
                    "ConfigurationSnapshotDeliveryCompleted".into()
                )),
                Ok(Notification::Config(
                    "ConfigurationItemChangeNotification".into()
                )),
            ]
        );
        // A messageType that is not AWS Config's is still an error.
        assert!(decode_body(r#"{"messageType": "SomethingElse"}"#).is_err());
    }

    /// The shape of AWS's "Example standard queue message event"
    /// (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), its
    /// bodies an S3 notification, received for the 5th and the 4th time.
    #[test]
    fn sqs_records_carry_their_body_and_receive_count() {
        let Trigger::Queue(messages) = decode(&fixture("sqs-last-receive.json")).unwrap() else {
            panic!("not a queue")
        };
        let receives: Vec<_> = messages.iter().map(|m| m.receives).collect();
        assert_eq!(receives, [Some(5), Some(4)]);
        let batch = fixture("sqs-last-receive.json");
        assert_eq!(
            messages[0].body,
            batch["Records"][0]["body"].as_str().unwrap()
        );
        assert!(matches!(messages[0].content, Ok(Notification::Objects(_))));
        // Without the attribute (or with a count that is not a number) the
        // count is unknown: never taken as a last receive.
        let bare = json!({"Records": [
            {"messageId": "1", "body": "{}", "eventSource": "aws:sqs"},
            {"messageId": "2", "body": "{}", "eventSource": "aws:sqs", "attributes": {"ApproximateReceiveCount": "x"}}]});
        let Trigger::Queue(messages) = decode(&bare).unwrap() else {
            panic!("not a queue")
        };
        assert_eq!(messages[0].receives, None);
        assert_eq!(messages[1].receives, None);
    }

    #[test]
    fn unknown_shapes_are_errors() {
        for event in [
            json!({}),
            json!({"Records": [{"eventSource": "aws:dynamodb"}]}),
            json!({"source": "aws.ec2", "detail-type": "x"}),
            json!([1]),
        ] {
            assert!(decode(&event).is_err(), "{event}");
        }
    }
}
