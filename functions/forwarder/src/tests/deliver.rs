//! Delivery: tags on the trail bucket's object, and copies, once per
//! destination, with its owner, writer and mark; each target on its own.

use serde_json::json;
use trailshare::events::CreatedObject;
use trailshare::ports::{AwsError, SOURCE_ETAG_METADATA};

use super::support::{created, forwarder, key, processed, share_roles, FakeObjects, B, C, Z};
use crate::Outcome;

#[tokio::test]
async fn tagging_keeps_other_tags_and_a_repeat_costs_one_read() {
    let objects = FakeObjects::default();
    objects.put("trail-bucket", &key(B), b"log", &[("team", "blue")]);
    let forwarder = forwarder(
        share_roles(&[json!({"grantee_account": B, "delivery": {"mode": "tag"}})]),
        objects,
    );
    assert_eq!(
        forwarder.process(&created(&key(B))).await,
        processed(B, &["tagged trailshare:account=222222222222"])
    );
    assert_eq!(forwarder.objects.calls(), ["tags", "put_tags"]);
    assert_eq!(
        forwarder.objects.tags_of("trail-bucket", &key(B)),
        [
            ("team".into(), "blue".into()),
            ("trailshare:account".into(), B.into())
        ]
    );
    assert_eq!(
        forwarder.process(&created(&key(B))).await,
        processed(B, &["already tagged"])
    );
    assert_eq!(forwarder.objects.calls(), ["tags"]);
}

#[tokio::test]
async fn ten_tags_leave_no_room_and_fail_rather_than_drop_one() {
    let objects = FakeObjects::default();
    let ten: Vec<(String, String)> = (0..10)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    let ten: Vec<(&str, &str)> = ten.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    objects.put("trail-bucket", &key(B), b"log", &ten);
    let forwarder = forwarder(
        share_roles(&[json!({"grantee_account": B, "delivery": {"mode": "tag"}})]),
        objects,
    );
    assert!(
        matches!(forwarder.process(&created(&key(B))).await, Outcome::Failed { error } if error.contains("10 tags"))
    );
    assert_eq!(forwarder.objects.tags_of("trail-bucket", &key(B)).len(), 10);
}

fn copy_shares() -> [serde_json::Value; 3] {
    [
        json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs", "prefix": "in/"}}),
        json!({"name": "z", "grantee_account": Z, "log_accounts": ["*"], "external_id": "ext-1",
               "delivery": {"mode": "copy", "bucket": "z-logs", "role_arn": "arn:aws:iam::444444444444:role/w"}}),
        json!({"name": "z2", "grantee_account": Z, "log_accounts": [B], "external_id": "ext-1",
               "delivery": {"mode": "copy", "bucket": "z-logs", "role_arn": "arn:aws:iam::444444444444:role/w"}}),
    ]
}

const WRITER_CALL: &str =
    "copy_streamed via Some((\"arn:aws:iam::444444444444:role/w\", Some(\"ext-1\")))";

#[tokio::test]
async fn copies_go_once_to_each_distinct_destination_with_its_owner_writer_and_mark() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B), ("z-logs", Z)]);
    objects.put("trail-bucket", &key(B), b"log-bytes", &[]);
    let forwarder = forwarder(share_roles(&copy_shares()), objects);
    let k = key(B);
    let with_etag = CreatedObject {
        etag: Some("etag-9".into()),
        ..created(&k)
    };
    assert_eq!(
        forwarder.process(&with_etag).await,
        processed(
            B,
            &[
                &format!("copied to s3://b-logs/in/{k}"),
                &format!("copied to s3://z-logs/{k}")
            ]
        )
    );
    let mut calls = forwarder.objects.calls();
    calls.sort();
    // Own credentials: HEAD copy, then CopyObject (server side, the
    // source's metadata as is). Writer role: HEAD copy, then GET streamed
    // into a marked PUT.
    assert_eq!(
        calls,
        ["copy_as_is", "copy_state", "copy_state", WRITER_CALL]
    );
    for (bucket, copy_key) in [("b-logs", format!("in/{k}")), ("z-logs", k.clone())] {
        let copy = forwarder.objects.object(bucket, &copy_key).unwrap();
        assert_eq!(copy.body, b"log-bytes");
        assert_eq!(copy.metadata.content_encoding.as_deref(), Some("gzip"));
        assert_eq!(copy.metadata.user["signature"], "abc");
    }
    let own = forwarder
        .objects
        .object("b-logs", &format!("in/{k}"))
        .unwrap();
    assert_eq!(own.etag, "etag-9", "unmarked; its ETag is the check");
    assert!(!own.metadata.user.contains_key(SOURCE_ETAG_METADATA));
    let streamed = forwarder.objects.object("z-logs", &k).unwrap();
    assert_eq!(streamed.metadata.user[SOURCE_ETAG_METADATA], "etag-9");
    assert_ne!(
        streamed.etag, "etag-9",
        "the mark, not the ETag, is the check"
    );
    // At-least-once delivery: the event again costs one HEAD per copy.
    let again = forwarder.process(&with_etag).await;
    assert_eq!(
        again,
        processed(
            B,
            &[
                &format!("already copied to s3://b-logs/in/{k}"),
                &format!("already copied to s3://z-logs/{k}")
            ]
        )
    );
    assert_eq!(forwarder.objects.calls(), ["copy_state", "copy_state"]);
    // Without the event's ETag (CloudTrail's SNS message): one source HEAD
    // more, shared by both copies.
    let _ = forwarder.process(&created(&k)).await;
    let mut calls = forwarder.objects.calls();
    calls.sort();
    assert_eq!(calls, ["copy_state", "copy_state", "head"]);
}

#[tokio::test]
async fn a_stale_copy_is_redone_with_the_mark_and_an_unmarked_one_counts_by_its_etag() {
    let k = key(B);
    let share = json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}});
    let copied = processed(B, &[&format!("copied to s3://b-logs/{k}")]);
    let already = processed(B, &[&format!("already copied to s3://b-logs/{k}")]);
    for (stale, mark) in [(b"other".as_slice(), None), (b"log-bytes", Some("etag-1"))] {
        let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
        objects.put("trail-bucket", &k, b"log-bytes", &[]);
        // A copy of other bytes without the mark, or one marked as made
        // from another version of the source.
        objects.put("b-logs", &k, stale, &[]);
        if let Some(mark) = mark {
            let mut objects_map = objects.objects.lock().unwrap();
            let copy = objects_map.get_mut(&("b-logs".into(), k.clone())).unwrap();
            copy.metadata
                .user
                .insert(SOURCE_ETAG_METADATA.into(), mark.into());
        }
        let forwarder = forwarder(share_roles(std::slice::from_ref(&share)), objects);
        assert_eq!(forwarder.process(&created(&k)).await, copied);
        let copy = forwarder.objects.object("b-logs", &k).unwrap();
        assert_eq!(copy.body, b"log-bytes");
        assert_eq!(copy.metadata.user[SOURCE_ETAG_METADATA], "etag-9");
        let mut calls = forwarder.objects.calls();
        calls.sort();
        assert_eq!(calls, ["copy_state", "copy_within", "head"]);
        assert_eq!(forwarder.process(&created(&k)).await, already);
    }
}

/// Under SSE-KMS the unmarked copy's ETag differs from the source's: the
/// first repeated event redoes it once, marked; later ones cost one HEAD.
#[tokio::test]
async fn under_kms_a_repeated_event_marks_the_copy_once_then_costs_one_head() {
    let k = key(B);
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.kms.lock().unwrap().push("b-logs".into());
    objects.put("trail-bucket", &k, b"log-bytes", &[]);
    let share = json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}});
    let forwarder = forwarder(share_roles(&[share]), objects);
    let event = CreatedObject {
        etag: Some("etag-9".into()),
        ..created(&k)
    };
    let copied = processed(B, &[&format!("copied to s3://b-logs/{k}")]);
    assert_eq!(forwarder.process(&event).await, copied);
    assert_eq!(forwarder.objects.calls(), ["copy_state", "copy_as_is"]);
    assert_eq!(forwarder.process(&event).await, copied);
    let mut calls = forwarder.objects.calls();
    calls.sort();
    assert_eq!(calls, ["copy_state", "copy_within", "head"]);
    let copy = forwarder.objects.object("b-logs", &k).unwrap();
    assert_eq!(copy.metadata.user[SOURCE_ETAG_METADATA], "etag-9");
    assert_eq!(copy.metadata.user["signature"], "abc");
    assert_eq!(
        forwarder.process(&event).await,
        processed(B, &[&format!("already copied to s3://b-logs/{k}")])
    );
    assert_eq!(forwarder.objects.calls(), ["copy_state"]);
}

#[tokio::test]
async fn a_missing_or_foreign_destination_fails_the_file_and_never_skips_it() {
    // b-logs does not exist; c-logs exists but belongs to another account
    // (a deleted bucket's name re-created elsewhere).
    let objects = FakeObjects::with_buckets(&[("c-logs", Z)]);
    objects.put("trail-bucket", &key(B), b"log", &[]);
    objects.put("trail-bucket", &key(C), b"log", &[]);
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"grantee_account": C, "delivery": {"mode": "copy", "bucket": "c-logs"}}),
    ];
    let forwarder = forwarder(share_roles(&shares), objects);
    let missing = forwarder.process(&created(&key(B))).await;
    assert!(
        matches!(&missing, Outcome::Failed { error } if error.contains("NoSuchBucket")),
        "{missing:?}"
    );
    let foreign = forwarder.process(&created(&key(C))).await;
    assert!(
        matches!(&foreign, Outcome::Failed { error } if error.contains("denied")),
        "{foreign:?}"
    );
    assert!(forwarder.objects.object("c-logs", &key(C)).is_none());
}

#[tokio::test]
async fn targets_are_independent_and_a_retry_redoes_only_what_is_not_done() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B), ("z-logs", Z)]);
    objects.put("trail-bucket", &key(B), b"log", &[]);
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "tag"}}),
        json!({"name": "b-copy", "grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"name": "z", "grantee_account": Z, "log_accounts": ["*"], "external_id": "ext-1",
               "delivery": {"mode": "copy", "bucket": "z-logs"}}),
    ];
    let forwarder = forwarder(share_roles(&shares), objects);
    forwarder.objects.fail(
        "z-logs",
        Some(AwsError::Throttled {
            call: "s3:CopyObject",
            message: "SlowDown".into(),
        }),
    );
    let first = forwarder.process(&created(&key(B))).await;
    assert!(
        matches!(&first, Outcome::Failed { error } if error.contains("z-logs") && !error.contains("b-logs")),
        "{first:?}"
    );
    // The other targets were done regardless.
    assert_eq!(
        forwarder.objects.tags_of("trail-bucket", &key(B)),
        [("trailshare:account".to_string(), B.to_string())]
    );
    assert!(forwarder.objects.object("b-logs", &key(B)).is_some());
    forwarder.objects.calls();

    forwarder.objects.fail("z-logs", None);
    let retry = forwarder.process(&created(&key(B))).await;
    let k = key(B);
    assert_eq!(
        retry,
        processed(
            B,
            &[
                "already tagged",
                &format!("already copied to s3://b-logs/{k}"),
                &format!("copied to s3://z-logs/{k}")
            ]
        )
    );
    let mut calls = forwarder.objects.calls();
    calls.sort();
    assert_eq!(
        calls,
        ["copy_as_is", "copy_state", "copy_state", "head", "tags"],
        "nothing already done is written again"
    );
}
