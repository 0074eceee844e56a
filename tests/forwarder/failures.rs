//! Failures: a destination that denies writes or does not exist, a writer
//! role that cannot be assumed, a file with no room for our tag. The record
//! fails (never acknowledged), nothing is lost, other targets go on.

use forwarder::Outcome;
use serde_json::json;
use stand_in::{log_file, log_key, put_log, s3, unique, B};

use super::{one_message, pair, s3_event, world};

#[tokio::test]
async fn a_destination_that_denies_writes_fails_the_record_and_keeps_the_file() {
    let w = world(None).await;
    let dest = w.aws.bucket(B, "closed").await;
    w.share(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": dest}}))
        .await;
    let key = log_key(None, B, "1400");
    put_log(&w.s3(), &w.bucket, &key, log_file(B, "x")).await;
    // The forwarder may not write to `dest`: the record must fail, not vanish.
    let forwarder = w.forwarder(&[], &[]).await;
    let response = forwarder
        .handle_event(one_message(&w.bucket, &key))
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    );
    let direct = forwarder.handle_event(s3_event(&w.bucket, &[&key])).await;
    assert!(
        direct.is_err(),
        "a direct invocation fails so Lambda retries it"
    );
    match forwarder.process(&w.created(&key)).await {
        Outcome::Failed { error } => {
            assert!(error.contains("denied") && error.contains("s3:"), "{error}")
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(
        w.s3()
            .head_object()
            .bucket(&w.bucket)
            .key(&key)
            .send()
            .await
            .is_ok(),
        "the log file is still there"
    );
}

#[tokio::test]
async fn a_destination_bucket_that_does_not_exist_fails_every_record_until_it_does() {
    let w = world(None).await;
    // A typo, or a bucket deleted later: the name exists in no account.
    let missing = unique("no-such-bucket");
    w.share(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": missing}}))
        .await;
    let key = log_key(None, B, "1500");
    put_log(&w.s3(), &w.bucket, &key, log_file(B, "x")).await;
    let forwarder = w.forwarder(&[&missing], &[]).await;
    let batch = || one_message(&w.bucket, &key);
    for receive in 1..=2 {
        let response = forwarder.handle_event(batch()).await.unwrap();
        assert_eq!(
            response,
            json!({"batchItemFailures": [{"itemIdentifier": "m1"}]}),
            "receive {receive}: never acknowledged while the bucket is missing"
        );
    }
    match forwarder.process(&w.created(&key)).await {
        Outcome::Failed { error } => assert!(error.contains("NoSuchBucket"), "{error}"),
        other => panic!("a missing destination must fail, got {other:?}"),
    }
    // The grantee creates the bucket: the next redelivery copies the file.
    s3(&w.aws.admin(B).await)
        .create_bucket()
        .bucket(&missing)
        .send()
        .await
        .unwrap();
    let response = forwarder.handle_event(batch()).await.unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    let copy = s3(&w.aws.admin(B).await)
        .get_object()
        .bucket(&missing)
        .key(&key)
        .send()
        .await
        .expect("the copy arrived");
    let source = w
        .s3()
        .head_object()
        .bucket(&w.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(copy.e_tag, source.e_tag, "a copy as is: the source's ETag");
    let body = copy.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.as_ref(), log_file(B, "x").as_slice());
}

#[tokio::test]
async fn a_writer_role_that_cannot_be_assumed_fails_the_record_but_not_the_other_targets() {
    let w = world(None).await;
    let dest = w.aws.bucket(B, "b-logs").await;
    // The grantee never created this role (or its trust does not name us).
    let writer_arn = format!("arn:aws:iam::{B}:role/{}", unique("never-created"));
    w.share(json!({"grantee_account": B, "external_id": "b-ext-1",
        "delivery": {"mode": "copy", "bucket": dest, "role_arn": writer_arn}}))
        .await;
    w.share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;
    let key = log_key(None, B, "1510");
    put_log(&w.s3(), &w.bucket, &key, log_file(B, "x")).await;
    let forwarder = w.forwarder(&[], &[&writer_arn]).await;
    let response = forwarder
        .handle_event(one_message(&w.bucket, &key))
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    );
    // The tag target is independent of the failing copy.
    assert_eq!(w.tags(&key).await, [pair("trailshare:account", B)]);
}

#[tokio::test]
async fn ten_tags_none_ours_fail_the_record_and_keep_every_tag() {
    let w = world(None).await;
    w.share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;
    let key = log_key(None, B, "1520");
    put_log(&w.s3(), &w.bucket, &key, log_file(B, "x")).await;
    let ten: Vec<(String, String)> = (0..10).map(|i| pair(&format!("k{i}"), "v")).collect();
    w.put_tags(&key, &ten).await;
    let forwarder = w.forwarder(&[], &[]).await;
    let response = forwarder
        .handle_event(one_message(&w.bucket, &key))
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]}),
        "not retryable, yet never acknowledged: it ends in the dead-letter queue"
    );
    let tags = w.tags(&key).await;
    assert_eq!(tags.len(), 10);
    assert!(tags.iter().all(|(k, _)| k != "trailshare:account"));
}
