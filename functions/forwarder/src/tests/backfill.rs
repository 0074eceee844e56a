//! Backfill: work items fan out share → account → day → folder on the
//! forwarder's own queue, each bounded as the API bounds a request.

use std::sync::Mutex;

use serde_json::json;
use trailshare::ports::{AwsError, WorkQueue};

use super::support::{forwarder, share_roles, FakeObjects, B, C, Z};

/// The forwarder's queue, in memory: what was sent, in order.
#[derive(Default)]
struct FakeQueue {
    sent: Mutex<Vec<String>>,
}

impl WorkQueue for &FakeQueue {
    async fn send(&self, bodies: &[String]) -> Result<(), AwsError> {
        self.sent.lock().unwrap().extend_from_slice(bodies);
        Ok(())
    }
}

fn queued(bodies: &[String]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("w{i}"), "eventSource": "aws:sqs", "body": body}))
        .collect();
    json!({ "Records": records })
}

fn day_key(account: &str, region: &str, day: &str, stamp: &str) -> String {
    let (y, m, d) = (&day[0..4], &day[5..7], &day[8..10]);
    format!("AWSLogs/{account}/CloudTrail/{region}/{y}/{m}/{d}/{account}_CloudTrail_{region}_{y}{m}{d}T{stamp}Z_x.json.gz")
}

#[tokio::test]
async fn backfill_fans_out_share_to_account_to_day_and_treats_only_that_share() {
    let objects = FakeObjects::with_buckets(&[("z-logs", Z)]);
    let mut existing = Vec::new();
    for account in [B, C] {
        for (region, day) in [
            ("us-east-1", "2024-05-01"),
            ("eu-west-1", "2024-05-02"),
            ("us-east-1", "2024-06-01"),
        ] {
            let key = day_key(account, region, day, "0100");
            objects.put("trail-bucket", &key, b"old", &[]);
            existing.push(key);
        }
    }
    // A tag share over B that is not being backfilled must not be touched.
    let shares = [
        json!({"name": "z", "grantee_account": Z, "log_accounts": ["*"], "external_id": "ext-1",
               "delivery": {"mode": "copy", "bucket": "z-logs"}}),
        json!({"name": "b-tag", "grantee_account": B, "delivery": {"mode": "tag"}}),
    ];
    let queue = FakeQueue::default();
    let forwarder = forwarder(share_roles(&shares), objects).with_queue(&queue);
    let plan = json!({"trailshare_backfill": {"step": "accounts", "share": "z", "from": "2024-05-01", "until": "2024-05-02"}});
    let reply = forwarder
        .handle_event(queued(&[plan.to_string()]))
        .await
        .unwrap();
    assert_eq!(reply, json!({"batchItemFailures": []}));
    let accounts = std::mem::take(&mut *queue.sent.lock().unwrap());
    assert_eq!(
        accounts.len(),
        2,
        "one item per account found: {accounts:?}"
    );
    forwarder.handle_event(queued(&accounts)).await.unwrap();
    let days = std::mem::take(&mut *queue.sent.lock().unwrap());
    assert_eq!(days.len(), 4, "two accounts x two days: {days:?}");
    let reply = forwarder.handle_event(queued(&days)).await.unwrap();
    assert_eq!(reply, json!({"batchItemFailures": []}));
    // Each day: one item per region folder of the account (two regions).
    let folders = std::mem::take(&mut *queue.sent.lock().unwrap());
    assert_eq!(folders.len(), 8, "four days x two regions: {folders:?}");
    let reply = forwarder.handle_event(queued(&folders)).await.unwrap();
    assert_eq!(reply, json!({"batchItemFailures": []}));
    assert!(
        queue.sent.lock().unwrap().is_empty(),
        "a folder's only page is the last step"
    );
    for key in &existing {
        let in_window = !key.contains("/2024/06/");
        assert_eq!(
            forwarder.objects.object("z-logs", key).is_some(),
            in_window,
            "{key}"
        );
        assert!(
            forwarder.objects.tags_of("trail-bucket", key).is_empty(),
            "b-tag was not backfilled: {key}"
        );
    }
}

#[tokio::test]
async fn backfill_for_a_share_that_is_gone_does_nothing_and_without_a_queue_fails() {
    let objects = FakeObjects::default();
    objects.put(
        "trail-bucket",
        &day_key(B, "us-east-1", "2024-05-01", "0100"),
        b"old",
        &[],
    );
    let shares = [json!({"grantee_account": B, "delivery": {"mode": "tag"}})];
    let account = |share: &str| {
        json!({"trailshare_backfill": {"step": "account", "share": share, "account": B,
               "from": "2024-05-01", "until": "2024-05-01"}})
        .to_string()
    };
    let forwarder = forwarder(share_roles(&shares), objects);
    let gone = forwarder
        .handle_event(queued(&[account("deleted-share")]))
        .await
        .unwrap();
    assert_eq!(gone, json!({"batchItemFailures": []}));
    // No queue configured: fanning out fails (retried, then dead-lettered).
    let name = format!("account-{B}");
    let no_queue = forwarder
        .handle_event(queued(&[account(&name)]))
        .await
        .unwrap();
    assert_eq!(
        no_queue,
        json!({"batchItemFailures": [{"itemIdentifier": "w0"}]})
    );
    // A folder's page needs no queue: it delivers that page's files.
    let day = json!({"trailshare_backfill": {"step": "files", "share": name, "account": B, "day": "2024-05-01",
                                             "folder": format!("AWSLogs/{B}/CloudTrail/us-east-1/")}});
    let done = forwarder
        .handle_event(queued(&[day.to_string()]))
        .await
        .unwrap();
    assert_eq!(done, json!({"batchItemFailures": []}));
    assert_eq!(
        forwarder.objects.tags_of(
            "trail-bucket",
            &day_key(B, "us-east-1", "2024-05-01", "0100")
        ),
        [("trailshare:account".to_string(), B.to_string())]
    );
}

/// Whoever gets a message onto the queue cannot make one work item fan out
/// into millions: an item the API would refuse (a window over 366 days, one
/// ending after today, a reversed one, a malformed share name) fails its own
/// message and queues nothing; a good item beside it goes on as usual.
#[tokio::test]
async fn a_crafted_backfill_item_fails_its_message_and_queues_nothing() {
    let shares = [
        json!({"name": "z", "grantee_account": Z, "log_accounts": ["*"], "external_id": "ext-1",
                         "delivery": {"mode": "tag"}}),
    ];
    let queue = FakeQueue::default();
    let forwarder = forwarder(share_roles(&shares), FakeObjects::default()).with_queue(&queue);
    let item = |work: serde_json::Value| json!({ "trailshare_backfill": work }).to_string();
    let account = |from: &str, until: &str| {
        item(json!({"step": "account", "share": "z", "account": B, "from": from, "until": until}))
    };
    let bodies = [
        account("1926-01-01", "2026-01-01"),
        account("2026-01-01", "9999-12-31"),
        account("2026-01-02", "2026-01-01"),
        item(
            json!({"step": "accounts", "share": "z", "from": "0001-01-01", "until": "2026-01-01"}),
        ),
        item(json!({"step": "day", "share": "z", "account": B, "day": "9999-12-31"})),
        item(json!({"step": "day", "share": "Z/../x", "account": B, "day": "2026-01-01"})),
        account("2026-01-01", "2026-01-03"),
    ];
    let reply = forwarder.handle_event(queued(&bodies)).await.unwrap();
    let failed: Vec<&str> = reply["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["w0", "w1", "w2", "w3", "w4", "w5"], "{reply}");
    let sent = queue.sent.lock().unwrap();
    assert_eq!(sent.len(), 3, "only the good item's three days: {sent:?}");
}
