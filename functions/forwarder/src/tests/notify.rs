//! Notices to the grantee's queue or topic: after the delivery, naming
//! where the grantee reads, and a failed notice fails the file.

use serde_json::json;
use trailshare::events::CreatedObject;
use trailshare::ports::AwsError;

use super::support::{
    created, forwarder, key, queue, share_roles, FakeNotifier, FakeObjects, B, C,
};
use crate::Outcome;

#[tokio::test]
async fn a_notice_follows_the_delivery_and_names_where_the_grantee_reads() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"log-bytes", &[]);
    objects.put("trail-bucket", &key(C), b"c-log", &[]);
    let roles = share_roles(&[
        json!({"name": "b", "grantee_account": B, "notify": {"queue_arn": queue(B)},
               "delivery": {"mode": "copy", "bucket": "b-logs", "prefix": "central/"}}),
        json!({"name": "c", "grantee_account": C, "notify": {"topic_arn": format!("arn:aws:sns:us-east-1:{C}:t")}}),
    ]);
    let forwarder = forwarder(roles, objects).with_notifier(FakeNotifier::default(), "eu-west-1");
    // Copy delivery: the notice names the copy; size and ETag came with the event.
    let from_event = CreatedObject {
        etag: Some("etag-9".into()),
        size: Some(9),
        ..created(&key(B))
    };
    let Outcome::Processed { actions, .. } = forwarder.process(&from_event).await else {
        panic!("B's file must be processed");
    };
    assert_eq!(actions.len(), 2, "{actions:?}");
    let sent = forwarder.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, queue(B));
    let record = &sent[0].1["Records"][0];
    assert_eq!(record["awsRegion"], "eu-west-1");
    assert_eq!(record["s3"]["bucket"]["name"], "b-logs");
    assert_eq!(record["s3"]["object"]["key"], format!("central/{}", key(B)));
    assert_eq!(record["s3"]["object"]["size"], 9);
    assert_eq!(record["s3"]["object"]["eTag"], "etag-9");
    assert_eq!(record["s3"]["configurationId"], "trailshare-b");
    // The copy, then the notice: no request beyond the copy's own.
    assert_eq!(forwarder.objects.calls(), ["copy_state", "copy_as_is"]);
    // Delivery none: the trail bucket's object; no size in the event, so
    // one HEAD supplies it.
    let Outcome::Processed { .. } = forwarder.process(&created(&key(C))).await else {
        panic!("C's file must be processed");
    };
    let sent = forwarder.notifier.sent();
    assert_eq!(sent.len(), 1);
    let record = &sent[0].1["Records"][0];
    assert_eq!(record["s3"]["bucket"]["name"], "trail-bucket");
    assert_eq!(record["s3"]["object"]["key"], key(C));
    assert_eq!(record["s3"]["object"]["size"], 5);
    assert_eq!(forwarder.objects.calls(), ["head"]);
}

#[tokio::test]
async fn no_notice_before_the_delivery_and_a_failed_notice_fails_the_file() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"log-bytes", &[]);
    let forwarder = forwarder(
        share_roles(&[
            json!({"name": "b", "grantee_account": B, "notify": {"queue_arn": queue(B)},
                   "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        ]),
        objects,
    )
    .with_notifier(FakeNotifier::default(), "us-east-1");
    let missing = AwsError::Rejected {
        call: "s3:CopyObject",
        message: "NoSuchBucket".into(),
    };
    forwarder.objects.fail("b-logs", Some(missing));
    assert!(matches!(
        forwarder.process(&created(&key(B))).await,
        Outcome::Failed { .. }
    ));
    assert!(
        forwarder.notifier.sent().is_empty(),
        "announced an undelivered file"
    );
    forwarder.objects.fail("b-logs", None);
    *forwarder.notifier.failing.lock().unwrap() = Some(AwsError::Throttled {
        call: "sqs:SendMessage",
        message: "slow down".into(),
    });
    let Outcome::Failed { error } = forwarder.process(&created(&key(B))).await else {
        panic!("a notice that could not be sent must fail the file");
    };
    assert!(error.contains("notify"), "{error}");
    assert!(forwarder.objects.object("b-logs", &key(B)).is_some());
    // The retry finds the copy done (one read) and announces it.
    *forwarder.notifier.failing.lock().unwrap() = None;
    forwarder.objects.calls();
    assert!(matches!(
        forwarder.process(&created(&key(B))).await,
        Outcome::Processed { .. }
    ));
    assert_eq!(forwarder.notifier.sent().len(), 1);
    assert_eq!(forwarder.objects.calls(), ["copy_state", "head"]);
}
