//! The batch under a budget, on tokio's paused clock (no wall-clock time
//! is measured): every object costs one slow share-table read, so a batch
//! holds more work than its deadline allows.

use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};
use trailshare::config::Config;
use trailshare::ports::{
    AwsError, CopyState, Destination, Listing, LogObjects, RoleReader, RoleSummary, SourceHead,
    StoredRole, WorkQueue,
};
use trailshare::seal::ShareKey;

use crate::budget::Budget;
use crate::Forwarder;

/// No share at all, and every listing takes `delay` (the share cache is
/// off, and one listing runs at a time): one object, one `delay`.
struct SlowRoles {
    delay: Duration,
    /// Listings finished: the objects worked on.
    done: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl RoleReader for SlowRoles {
    async fn get(&self, _: &str, _: &str) -> Result<Option<StoredRole>, AwsError> {
        Ok(None)
    }
    async fn list_summaries(&self, _: &str) -> Result<Vec<RoleSummary>, AwsError> {
        tokio::time::sleep(self.delay).await;
        self.done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Vec::new())
    }
}

/// Never reached: without a share, no object is touched.
struct NoObjects;

fn unreachable<T>() -> Result<T, AwsError> {
    Err(AwsError::Failed {
        call: "test",
        message: "no object is touched without a share".into(),
    })
}

impl LogObjects for NoObjects {
    async fn tags(&self, _: &str, _: &str) -> Result<Option<Vec<(String, String)>>, AwsError> {
        unreachable()
    }
    async fn put_tags(&self, _: &str, _: &str, _: &[(String, String)]) -> Result<(), AwsError> {
        unreachable()
    }
    async fn head(&self, _: &str, _: &str) -> Result<Option<SourceHead>, AwsError> {
        unreachable()
    }
    async fn copy_state(&self, _: &Destination) -> Result<Option<CopyState>, AwsError> {
        unreachable()
    }
    async fn copy_as_is(&self, _: &str, _: &str, _: &Destination) -> Result<(), AwsError> {
        unreachable()
    }
    async fn copy_within(
        &self,
        _: &str,
        _: &str,
        _: &SourceHead,
        _: &Destination,
    ) -> Result<(), AwsError> {
        unreachable()
    }
    async fn list(&self, _: &str, _: &str, _: bool) -> Result<Listing, AwsError> {
        unreachable()
    }
    async fn copy_streamed(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: &Destination,
    ) -> Result<String, AwsError> {
        unreachable()
    }
}

#[derive(Default)]
struct Requeue(Mutex<Vec<String>>);

impl WorkQueue for &Requeue {
    async fn send(&self, bodies: &[String]) -> Result<(), AwsError> {
        self.0.lock().unwrap().extend(bodies.iter().cloned());
        Ok(())
    }
}

type Worked = std::sync::Arc<std::sync::atomic::AtomicUsize>;

fn forwarder(
    delay: Duration,
    queue: &Requeue,
) -> (Forwarder<SlowRoles, NoObjects, &Requeue>, Worked) {
    let config = Config::from_lookup(|name| match name {
        "TRAIL_BUCKET" => Some("trail-bucket".into()),
        "SHARE_CACHE_SECONDS" => Some("0".into()),
        // A message's last receive is its 5th.
        "DEAD_LETTER_QUEUE_URL" => {
            Some("https://sqs.us-east-1.amazonaws.com/111111111111/dlq".into())
        }
        "MAX_RECEIVES" => Some("5".into()),
        _ => None,
    })
    .unwrap();
    let key = ShareKey::new("batch tests' share secret: 32+ bytes").unwrap();
    let done = Worked::default();
    let roles = SlowRoles {
        delay,
        done: done.clone(),
    };
    (
        Forwarder::new(roles, NoObjects, config, key).with_queue(queue),
        done,
    )
}

/// An S3 event of `files` log files, as an SQS record received `receives` times.
fn event_record(id: usize, files: usize, receives: u32) -> Value {
    let records: Vec<Value> = (0..files)
        .map(|n| {
            let key = format!("AWSLogs/222222222222/CloudTrail/us-east-1/2024/05/01/222222222222_CloudTrail_us-east-1_20240501T0000Z_m{id}f{n}.json.gz");
            json!({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                   "s3": {"bucket": {"name": "trail-bucket"}, "object": {"key": key, "size": 1, "eTag": "e"}}})
        })
        .collect();
    record(id, &json!({ "Records": records }).to_string(), receives)
}

fn record(id: usize, body: &str, receives: u32) -> Value {
    json!({"messageId": format!("m{id}"), "eventSource": "aws:sqs", "body": body,
           "attributes": {"ApproximateReceiveCount": receives.to_string()}})
}

/// A deadline `ms` from now, on the paused clock.
fn budget(ms: u64) -> Budget {
    let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    Budget::until(1_700_000_000_000 + ms, tokio::time::Instant::now(), wall)
}

fn failures(reply: &Value) -> Vec<String> {
    reply["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

/// Ten messages of ten files at 10 ms a file: a second of work against a
/// 1 s deadline. The forwarder stops taking messages in time, finishes
/// every one it started, hands back exactly the rest, and answers before
/// the deadline; the message received most often goes first.
#[tokio::test(start_paused = true)]
async fn a_batch_over_budget_hands_back_exactly_the_messages_it_did_not_start() {
    let queue = Requeue::default();
    let (forwarder, worked) = forwarder(Duration::from_millis(10), &queue);
    let mut records: Vec<Value> = (0..10).map(|i| event_record(i, 10, 1)).collect();
    records[9] = event_record(9, 10, 4);
    let start = tokio::time::Instant::now();
    let reply = forwarder
        .handle_event_by(json!({ "Records": records }), budget(1_000))
        .await
        .unwrap();
    let elapsed = start.elapsed();
    // Not even at the cut (0.9 s): every started message had finished
    // (the clock is tokio's paused one: this measures no real time).
    assert!(
        elapsed < Duration::from_millis(900),
        "answered before the cut: {elapsed:?}"
    );
    let failed = failures(&reply);
    assert!(!failed.is_empty(), "more work than the deadline allows");
    assert!(failed.len() < 10, "some work is done: {failed:?}");
    // The tail of the order, never a started message (none was cut), and
    // never m9, which came with 4 receives and went first.
    let tail: Vec<String> = (10 - failed.len() - 1..9)
        .map(|i| format!("m{i}"))
        .collect();
    assert_eq!(failed, tail, "{reply}");
    // Exactly the files of the acknowledged messages were worked on: none
    // of a handed-back message (it would be done again on its retry).
    let worked = worked.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(worked, 10 * (10 - failed.len()), "{reply}");
    assert!(queue.0.lock().unwrap().is_empty());
    // Without a deadline everything is done.
    let records: Vec<Value> = (0..10).map(|i| event_record(i, 10, 1)).collect();
    let reply = forwarder
        .handle_event(json!({ "Records": records }))
        .await
        .unwrap();
    assert_eq!(reply, json!({"batchItemFailures": []}));
}

/// A message that cannot finish before the deadline is cut: the batch
/// answers in time (the started messages failed, retried; the others not
/// started), instead of outliving the deadline and losing every answer.
#[tokio::test(start_paused = true)]
async fn work_still_running_at_the_cut_is_handed_back_and_the_answer_comes_in_time() {
    let queue = Requeue::default();
    let (forwarder, _) = forwarder(Duration::from_millis(300), &queue);
    let records: Vec<Value> = (0..3).map(|i| event_record(i, 10, 1)).collect();
    let start = tokio::time::Instant::now();
    let reply = forwarder
        .handle_event_by(json!({ "Records": records }), budget(1_000))
        .await
        .unwrap();
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_millis(1_000),
        "answered in time: {elapsed:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(900),
        "waited until the cut: {elapsed:?}"
    );
    assert_eq!(failures(&reply), ["m0", "m1", "m2"]);
}

/// On its last receive (MAX_RECEIVES, 5) a backfill item that time left
/// unstarted is queued again as a fresh copy and acknowledged: time alone
/// never dead-letters one. An event cannot be re-queued: it is handed back.
#[tokio::test(start_paused = true)]
async fn a_backfill_item_left_unstarted_on_its_last_receive_is_queued_again() {
    let queue = Requeue::default();
    let (forwarder, _) = forwarder(Duration::from_millis(100), &queue);
    let work = json!({"trailshare_backfill": {"step": "day", "share": "bu-b", "account": "222222222222",
                                              "day": "2024-05-01"}});
    let mut records: Vec<Value> = (0..4).map(|i| event_record(i, 10, 5)).collect();
    records.push(record(4, &work.to_string(), 5));
    let reply = forwarder
        .handle_event_by(json!({ "Records": records }), budget(1_000))
        .await
        .unwrap();
    let failed = failures(&reply);
    assert!(!failed.contains(&"m4".to_string()), "{reply}");
    assert!(
        failed.contains(&"m3".to_string()),
        "an unstarted event is handed back: {reply}"
    );
    let requeued = queue.0.lock().unwrap().clone();
    assert_eq!(requeued.len(), 1);
    let body: Value = serde_json::from_str(&requeued[0]).unwrap();
    assert_eq!(body, work);
}
