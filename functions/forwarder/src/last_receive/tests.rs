//! The last receive over in-memory ports: which messages are dead-lettered,
//! with what explanation, and that nothing is acknowledged unless the
//! dead-letter queue has it.

use std::sync::Mutex;

use serde_json::{json, Value};
use trailshare::config::Config;
use trailshare::dead_letter::{explain as read_back, SHARES};
use trailshare::ports::{
    AwsError, CopyState, Destination, Listing, LogObjects, RoleReader, RoleSummary, SourceHead,
    StoredRole, WorkQueue,
};
use trailshare::record::{role_name, ShareRecord};
use trailshare::route::describe;
use trailshare::seal::ShareKey;
use trailshare::share::validate;

use super::segment;
use crate::Forwarder;

const B: &str = "222222222222";

fn share_key() -> ShareKey {
    ShareKey::new(*b"last receive unit tests' key: 32").unwrap()
}

/// Share roles as the provisioner writes them (sealed routes).
struct Roles(Vec<RoleSummary>);

impl Roles {
    fn with(bodies: &[Value]) -> Roles {
        Roles(
            bodies
                .iter()
                .map(|body| {
                    let spec = validate(body, None, "trail-bucket").unwrap();
                    let name = role_name(&spec.name);
                    let role = StoredRole {
                        arn: format!("arn:aws:iam::111111111111:role/trailshare/{name}"),
                        role_id: format!("AROA{:017}", name.len()),
                        role_name: name,
                        path: "/trailshare/".into(),
                        tags: Vec::new(),
                        permissions_boundary: None,
                        trust_policy: None,
                        last_used: None,
                        description: None,
                        max_session_seconds: None,
                    };
                    let record = ShareRecord {
                        spec,
                        created_by: "me".into(),
                        created_at: "now".into(),
                        updated_by: None,
                        updated_at: None,
                        sessions_valid_after: None,
                    };
                    RoleSummary {
                        description: Some(describe(&record.spec, &share_key(), role.identity())),
                        role_name: role.role_name,
                        arn: role.arn,
                        role_id: role.role_id,
                    }
                })
                .collect(),
        )
    }
}

impl RoleReader for Roles {
    async fn get(&self, _: &str, _: &str) -> Result<Option<StoredRole>, AwsError> {
        Ok(None)
    }
    async fn list_summaries(&self, _: &str) -> Result<Vec<RoleSummary>, AwsError> {
        Ok(self.0.clone())
    }
}

/// S3 where every bucket but `missing` works.
struct Objects {
    missing: &'static str,
}

impl Objects {
    fn check(&self, call: &'static str, destination: &Destination) -> Result<(), AwsError> {
        if destination.bucket == self.missing {
            return Err(AwsError::Rejected {
                call,
                message: "NoSuchBucket: The specified bucket does not exist".into(),
            });
        }
        Ok(())
    }
}

impl LogObjects for Objects {
    async fn tags(&self, _: &str, _: &str) -> Result<Option<Vec<(String, String)>>, AwsError> {
        Ok(Some(Vec::new()))
    }
    async fn put_tags(&self, _: &str, _: &str, _: &[(String, String)]) -> Result<(), AwsError> {
        Ok(())
    }
    async fn head(&self, _: &str, _: &str) -> Result<Option<SourceHead>, AwsError> {
        Ok(Some(SourceHead {
            etag: "e".into(),
            metadata: Default::default(),
            size: 1,
        }))
    }
    async fn copy_state(&self, d: &Destination) -> Result<Option<CopyState>, AwsError> {
        self.check("s3:HeadObject", d).map(|()| None)
    }
    async fn copy_as_is(&self, _: &str, _: &str, d: &Destination) -> Result<(), AwsError> {
        self.check("s3:CopyObject", d)
    }
    async fn copy_within(
        &self,
        _: &str,
        _: &str,
        _: &SourceHead,
        d: &Destination,
    ) -> Result<(), AwsError> {
        self.check("s3:CopyObject", d)
    }
    async fn list(&self, _: &str, _: &str, _: bool) -> Result<Listing, AwsError> {
        Ok(Listing::default())
    }
    async fn copy_streamed(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        d: &Destination,
    ) -> Result<String, AwsError> {
        self.check("s3:PutObject", d).map(|()| "e".into())
    }
}

/// A message sent to the dead-letter queue: body and attributes.
type Sent = (String, Vec<(&'static str, String)>);

/// The dead-letter queue: what it was sent, or a refusal.
#[derive(Default)]
struct DeadLetters {
    refuse: bool,
    sent: Mutex<Vec<Sent>>,
}

impl WorkQueue for &DeadLetters {
    async fn send(&self, _: &[String]) -> Result<(), AwsError> {
        Ok(())
    }
    async fn dead_letter(
        &self,
        body: &str,
        attributes: &[(&'static str, String)],
    ) -> Result<(), AwsError> {
        if self.refuse {
            return Err(AwsError::Throttled {
                call: "sqs:SendMessage",
                message: "RequestThrottled".into(),
            });
        }
        self.sent
            .lock()
            .unwrap()
            .push((body.to_string(), attributes.to_vec()));
        Ok(())
    }
}

fn config(dead_letter: bool) -> Config {
    Config::from_lookup(|name| match name {
        "TRAIL_BUCKET" => Some("trail-bucket".into()),
        "SHARE_CACHE_SECONDS" => Some("60".into()),
        "DEAD_LETTER_QUEUE_URL" if dead_letter => {
            Some("https://sqs.us-east-1.amazonaws.com/111111111111/trailshare-dlq".into())
        }
        "MAX_RECEIVES" if dead_letter => Some("5".into()),
        _ => None,
    })
    .unwrap()
}

/// AWS's example SQS event (see `events.rs`): B's log file, received for
/// the 5th time (the last, with MAX_RECEIVES=5) and for the 4th.
fn batch() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/events/sqs-last-receive.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn failed_ids(reply: &Value) -> Vec<&str> {
    reply["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect()
}

const LAST: &str = "059f36b4-87a3-44ab-83d2-661975830a7d";
const FOURTH: &str = "2e1424d4-f796-459a-8184-9c92662be6da";

fn shares() -> [Value; 2] {
    [
        json!({"name": "bu-b", "grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-missing", "prefix": "central/"}}),
        json!({"name": "tagger", "grantee_account": B, "delivery": {"mode": "tag"}}),
    ]
}

async fn run(
    dead_letters: &DeadLetters,
    dead_letter: bool,
    shares: &[Value],
    event: Value,
) -> Value {
    let forwarder = Forwarder::new(
        Roles::with(shares),
        Objects {
            missing: "b-missing",
        },
        config(dead_letter),
        share_key(),
    )
    .with_queue(dead_letters);
    forwarder.handle_event(event).await.unwrap()
}

#[tokio::test]
async fn on_its_last_receive_a_failed_message_is_dead_lettered_with_what_failed_then_acknowledged()
{
    let dead_letters = DeadLetters::default();
    let event = batch();
    let reply = run(&dead_letters, true, &shares(), event.clone()).await;
    // The 4th receive is retried as before; the 5th is in the DLQ now.
    assert_eq!(failed_ids(&reply), [FOURTH]);
    let sent = dead_letters.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    let (body, attributes) = &sent[0];
    assert_eq!(
        body,
        event["Records"][0]["body"].as_str().unwrap(),
        "the body as it came"
    );
    let value = |name: &str| {
        attributes
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(value("trailshare.receives"), Some("5"));
    assert_eq!(value("trailshare.message-id"), Some(LAST));
    let explanation = read_back(
        &attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    );
    // Only the share whose delivery failed; the tag was done.
    assert_eq!(explanation.shares, ["bu-b"]);
    assert_eq!(explanation.targets, ["copy to s3://b-missing"]);
    assert_eq!(
        explanation.error,
        "s3:HeadObject was rejected: NoSuchBucket: The specified bucket does not exist"
    );
}

#[tokio::test]
async fn if_the_dead_letter_queue_refuses_the_message_stays_failed_for_the_queues_redrive() {
    let dead_letters = DeadLetters {
        refuse: true,
        ..DeadLetters::default()
    };
    let reply = run(&dead_letters, true, &shares(), batch()).await;
    assert_eq!(failed_ids(&reply), [LAST, FOURTH]);
}

#[tokio::test]
async fn without_dead_letter_settings_or_before_the_last_receive_nothing_is_sent() {
    let dead_letters = DeadLetters::default();
    let reply = run(&dead_letters, false, &shares(), batch()).await;
    assert_eq!(failed_ids(&reply), [LAST, FOURTH]);
    let mut event = batch();
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = json!("4");
    let reply = run(&dead_letters, true, &shares(), event).await;
    assert_eq!(failed_ids(&reply), [LAST, FOURTH]);
    assert!(dead_letters.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_message_that_succeeds_on_its_last_receive_is_acknowledged_and_not_dead_lettered() {
    let dead_letters = DeadLetters::default();
    let reply = run(&dead_letters, true, &shares()[1..], batch()).await;
    assert!(failed_ids(&reply).is_empty());
    assert!(dead_letters.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_body_that_can_never_be_read_is_dead_lettered_as_the_message_itself() {
    let dead_letters = DeadLetters::default();
    let mut event = batch();
    event["Records"][0]["body"] = json!("not json");
    let reply = run(&dead_letters, true, &shares(), event).await;
    assert_eq!(failed_ids(&reply), [FOURTH]);
    let sent = dead_letters.sent.lock().unwrap();
    assert_eq!(sent[0].0, "not json");
    let explanation = read_back(
        &sent[0]
            .1
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    );
    assert_eq!(explanation.targets, ["message"]);
    assert!(
        explanation.shares.is_empty(),
        "{:?}",
        sent[0].1.iter().find(|(k, _)| *k == SHARES)
    );
    assert!(
        explanation.error.contains("not JSON"),
        "{}",
        explanation.error
    );
}

/// Share activity is a target like the others: when it fails on the last
/// receive, the dead-letter queue says `activity` and why. (B plays account
/// A here: the fixture's file is B's. The fake reads no log file.)
#[tokio::test]
async fn a_failed_activity_target_is_dead_lettered_as_activity() {
    let dead_letters = DeadLetters::default();
    let config = Config::from_lookup(|name| match name {
        "TRAIL_BUCKET" => Some("trail-bucket".into()),
        "ACTIVITY_BUCKET" => Some("activity-bucket".into()),
        "OWNER_ACCOUNT" => Some(B.into()),
        "DEAD_LETTER_QUEUE_URL" => {
            Some("https://sqs.us-east-1.amazonaws.com/111111111111/trailshare-dlq".into())
        }
        "MAX_RECEIVES" => Some("5".into()),
        _ => None,
    })
    .unwrap();
    let objects = Objects { missing: "none" };
    let forwarder =
        Forwarder::new(Roles::with(&[]), objects, config, share_key()).with_queue(&dead_letters);
    let reply = forwarder.handle_event(batch()).await.unwrap();
    assert_eq!(failed_ids(&reply), [FOURTH]);
    let sent = dead_letters.sent.lock().unwrap();
    let attributes = sent[0].1.iter().map(|(k, v)| (k.to_string(), v.clone()));
    let explanation = read_back(&attributes.collect());
    assert_eq!(explanation.targets, ["activity"]);
    assert!(explanation.shares.is_empty());
    assert_eq!(
        explanation.error,
        "s3:GetObject cannot run: no reader of log files for activity"
    );
}

#[test]
fn each_targets_error_is_read_from_where_its_name_starts() {
    let error = "tag: s3:PutObjectTagging was denied: AccessDenied; copy to s3://b/k: s3:CopyObject failed: 500; notify arn:x: sqs:SendMessage was throttled: slow";
    assert_eq!(
        segment(error, "tag"),
        Some("s3:PutObjectTagging was denied: AccessDenied")
    );
    assert_eq!(
        segment(error, "copy to s3://b/k"),
        Some("s3:CopyObject failed: 500")
    );
    assert_eq!(
        segment(error, "notify arn:x"),
        Some("sqs:SendMessage was throttled: slow")
    );
    assert_eq!(
        segment(error, "copy to s3://b"),
        None,
        "a name is matched whole"
    );
    assert_eq!(segment(error, "notify arn:y"), None);
}
