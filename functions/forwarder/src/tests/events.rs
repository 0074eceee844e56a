//! Events in, outcomes out: what is skipped, which SQS message fails, and
//! the one log line per target.

use serde_json::json;
use trailshare::events::CreatedObject;
use trailshare::ports::{AwsError, Destination};
use trailshare::targets::Target;

use super::support::{created, forwarder, key, share_roles, FakeObjects, B, C};
use crate::log::target_line;
use crate::Outcome;

#[tokio::test]
async fn only_a_missing_source_is_a_skip() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"log", &[]);
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"name": "b-tag", "grantee_account": B, "delivery": {"mode": "tag"}}),
        json!({"grantee_account": C}),
    ];
    let forwarder = forwarder(share_roles(&shares), objects);
    let skip = |reason: &str| Outcome::Skipped {
        reason: reason.to_string(),
    };
    assert_eq!(
        forwarder.process(&created(&key(C))).await,
        skip("no share delivers account 333333333333's log files")
    );
    assert_eq!(
        forwarder.process(&created(&key("444444444444"))).await,
        skip("no share delivers account 444444444444's log files")
    );
    let gone = forwarder
        .process(&created(&key(B).replace("1205Z", "1300Z")))
        .await;
    assert!(matches!(gone, Outcome::Skipped { reason } if reason.contains("no longer exists")));
    // A throttled or failing trail bucket is not "gone": it fails.
    forwarder.objects.fail(
        "trail-bucket",
        Some(AwsError::Failed {
            call: "s3:GetObjectTagging",
            message: "InternalError".into(),
        }),
    );
    assert!(matches!(
        forwarder.process(&created(&key(B))).await,
        Outcome::Failed { .. }
    ));
    forwarder.objects.fail("trail-bucket", None);
    let other_bucket = CreatedObject {
        bucket: "elsewhere".into(),
        ..created(&key(B))
    };
    assert_eq!(
        forwarder.process(&other_bucket).await,
        skip("bucket elsewhere is not the trail bucket")
    );
    assert!(matches!(
        forwarder.process(&created("AWSLogs/README.txt")).await,
        Outcome::Skipped { .. }
    ));
    assert_eq!(
        forwarder
            .process(&created(&format!("logs/{}", key(B))))
            .await,
        skip("outside the trail prefix")
    );
    let foreign_org = key(B).replace("AWSLogs/", "AWSLogs/o-zzzzzzzzzz/");
    assert_eq!(
        forwarder.process(&created(&foreign_org)).await,
        skip("organization layout of another organization")
    );
}

#[tokio::test]
async fn a_failed_object_fails_its_sqs_message_and_only_that_one() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"log", &[]);
    objects.put("trail-bucket", &key(C), b"log", &[]);
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"grantee_account": C, "delivery": {"mode": "copy", "bucket": "missing-bucket"}}),
    ];
    let forwarder = forwarder(share_roles(&shares), objects);
    let body = |k: &str| {
        json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "trail-bucket"}, "object": {"key": k}}}]})
        .to_string()
    };
    let batch = json!({"Records": [
        {"messageId": "m-b", "eventSource": "aws:sqs", "body": body(&key(B))},
        {"messageId": "m-c", "eventSource": "aws:sqs", "body": body(&key(C))},
        {"messageId": "m-bad", "eventSource": "aws:sqs", "body": "not json"}
    ]});
    let response = forwarder.handle_event(batch).await.unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m-c"}, {"itemIdentifier": "m-bad"}]})
    );
}

#[test]
fn each_target_outcome_is_one_line_that_says_whether_a_retry_may_help() {
    let object = created(&key(B));
    let copy = Target::Copy(Destination {
        bucket: "b-logs".into(),
        key: key(B),
        owner: B.into(),
        writer: None,
    });
    let line = |target: &Target, result| target_line(&object, &target.name(), &result);
    let cases = [
        (
            AwsError::Throttled {
                call: "s3:CopyObject",
                message: "SlowDown".into(),
            },
            true,
        ),
        (
            AwsError::Failed {
                call: "s3:CopyObject",
                message: "connection reset".into(),
            },
            true,
        ),
        (
            AwsError::Denied {
                call: "s3:HeadObject",
                message: "AccessDenied".into(),
            },
            false,
        ),
        (
            AwsError::Rejected {
                call: "s3:CopyObject",
                message: "NoSuchBucket".into(),
            },
            false,
        ),
        (
            AwsError::Rejected {
                call: "s3:PutObjectTagging",
                message: "10 tags".into(),
            },
            false,
        ),
    ];
    for (error, retryable) in cases {
        let call = error.call();
        let l = line(&copy, Err(error));
        assert_eq!(l["outcome"], "failed");
        assert_eq!(l["retryable"], retryable, "{l}");
        assert_eq!(l["call"], call);
        assert_eq!(l["target"], format!("copy to s3://b-logs/{}", key(B)));
    }
    let gone = line(
        &Target::Tag,
        Err(AwsError::NotFound {
            call: "s3:GetObjectTagging",
        }),
    );
    assert_eq!(gone["outcome"], "source_gone");
    let done = line(&Target::Tag, Ok("already tagged".into()));
    assert_eq!(
        (done["outcome"].as_str(), done["target"].as_str()),
        (Some("done"), Some("tag"))
    );
}
