//! Delivery: a tag share's files are tagged, a copy share's copied exactly
//! (digest files with their signature, through a writer role), once, and
//! without the source's tags.

use forwarder::Outcome;
use serde_json::json;
use stand_in::{digest_key, log_file, log_key, put_log, s3, unique, B, C};

use super::{bridge_event, pair, s3_event, world, ORG, PREFIX};

#[tokio::test]
async fn s3_notification_tags_b_files_keeps_other_tags_and_leaves_c_alone() {
    let w = world(Some(PREFIX)).await;
    w.share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;
    let b_key = log_key(Some(PREFIX), B, "1205");
    let c_key = log_key(Some(PREFIX), C, "1205");
    put_log(&w.s3(), &w.bucket, &b_key, log_file(B, "PutObject")).await;
    put_log(&w.s3(), &w.bucket, &c_key, log_file(C, "PutObject")).await;
    w.put_tags(&b_key, &[pair("team", "blue")]).await;

    let forwarder = w.forwarder(&[], &[]).await;
    let event = s3_event(&w.bucket, &[&b_key, &c_key]);
    assert!(event["Records"][0]["s3"]["object"]["key"]
        .as_str()
        .unwrap()
        .starts_with("my+logs%2Barchive/AWSLogs/"));
    let summary = forwarder
        .handle_event(event.clone())
        .await
        .expect("direct invocation succeeds");
    assert_eq!(
        (summary["processed"].as_u64(), summary["skipped"].as_u64()),
        (Some(1), Some(1)),
        "{summary}"
    );
    assert_eq!(
        w.tags(&b_key).await,
        [pair("team", "blue"), pair("trailshare:account", B)]
    );
    assert!(
        w.tags(&c_key).await.is_empty(),
        "C has no share: its file is left alone"
    );

    // A repeated event costs one read and writes nothing.
    let again = forwarder.process(&w.created(&b_key)).await;
    assert_eq!(
        again,
        Outcome::Processed {
            account: B.into(),
            actions: vec!["already tagged".into()]
        }
    );
}

#[tokio::test]
async fn eventbridge_copy_of_an_organization_layout_file_is_exact_and_happens_once() {
    let w = world(None).await;
    let dest = w.aws.bucket(C, "c-logs").await;
    let share = w.share(json!({"grantee_account": C, "delivery": {"mode": "copy", "bucket": dest, "prefix": "central/"}})).await;
    // The destination owner adds the bucket policy grantee_setup gives them.
    w.put_destination_policy(C, &dest, &share).await;
    let c_s3 = s3(&w.aws.admin(C).await);

    let key = format!("AWSLogs/{ORG}/{C}/CloudTrail/us-east-1/2024/05/01/{C}_CloudTrail_us-east-1_20240501T1210Z_Org12345.json.gz");
    let body = log_file(C, "AssumeRole");
    w.s3()
        .put_object()
        .bucket(&w.bucket)
        .key(&key)
        .body(body.clone().into())
        .content_type("application/json")
        .content_encoding("gzip")
        .metadata("origin", "org-trail")
        .send()
        .await
        .unwrap();
    let b_key = log_key(None, B, "1210");
    put_log(&w.s3(), &w.bucket, &b_key, log_file(B, "AssumeRole")).await;

    let forwarder = w.forwarder(&[&dest], &[]).await;
    let summary = forwarder
        .handle_event(bridge_event(&w.bucket, &key))
        .await
        .expect("copy succeeds");
    assert_eq!(summary["processed"], 1, "{summary}");
    let copy = c_s3
        .get_object()
        .bucket(&dest)
        .key(format!("central/{key}"))
        .send()
        .await
        .expect("the copy exists");
    assert_eq!(copy.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(copy.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        copy.metadata
            .clone()
            .unwrap()
            .get("origin")
            .map(String::as_str),
        Some("org-trail")
    );
    let etag = copy.e_tag.clone();
    assert_eq!(
        copy.body.collect().await.unwrap().into_bytes().as_ref(),
        body.as_slice(),
        "identical bytes"
    );

    let again = forwarder.process(&w.created(&key)).await;
    assert_eq!(
        again,
        Outcome::Processed {
            account: C.into(),
            actions: vec![format!("already copied to s3://{dest}/central/{key}")]
        }
    );
    let head = c_s3
        .head_object()
        .bucket(&dest)
        .key(format!("central/{key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag, etag, "a repeated event does not copy again");

    // B has no share: nothing of B's lands in C's bucket.
    forwarder
        .handle_event(bridge_event(&w.bucket, &b_key))
        .await
        .unwrap();
    let listed = c_s3.list_objects_v2().bucket(&dest).send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);
}

#[tokio::test]
async fn digest_files_are_copied_with_their_signature_through_a_writer_role() {
    let w = world(None).await;
    let b_admin = w.aws.admin(B).await;
    let dest = w.aws.bucket(B, "b-logs").await;
    // B's writer role, set up as grantee_setup.writer_role describes.
    let writer_name = unique("trailshare-writer");
    let writer_arn = format!("arn:aws:iam::{B}:role/{writer_name}");
    let share = w
        .share(json!({"grantee_account": B, "external_id": "b-ext-42",
        "delivery": {"mode": "copy", "bucket": dest, "role_arn": writer_arn}}))
        .await;
    let setup = &share["grantee_setup"]["writer_role"];
    let iam_b = aws_sdk_iam::Client::new(&b_admin);
    iam_b
        .create_role()
        .role_name(&writer_name)
        .assume_role_policy_document(setup["trust_policy"].to_string())
        .send()
        .await
        .unwrap();
    iam_b
        .put_role_policy()
        .role_name(&writer_name)
        .policy_name("write")
        .policy_document(setup["identity_policy"].to_string())
        .send()
        .await
        .unwrap();

    let key = digest_key(None, B);
    w.s3()
        .put_object()
        .bucket(&w.bucket)
        .key(&key)
        .body(log_file(B, "digest").into())
        .metadata("signature", "3a5d1e")
        .metadata("signing-algorithm", "SHA256withRSA")
        .send()
        .await
        .unwrap();

    let forwarder = w.forwarder(&[], &[&writer_arn]).await;
    let outcome = forwarder.process(&w.created(&key)).await;
    assert_eq!(
        outcome,
        Outcome::Processed {
            account: B.into(),
            actions: vec![format!("copied to s3://{dest}/{key}")]
        }
    );
    let copy = s3(&b_admin)
        .head_object()
        .bucket(&dest)
        .key(&key)
        .send()
        .await
        .expect("the copy exists");
    let metadata = copy.metadata.unwrap();
    assert_eq!(
        metadata.get("signature").map(String::as_str),
        Some("3a5d1e")
    );
    assert_eq!(
        metadata.get("signing-algorithm").map(String::as_str),
        Some("SHA256withRSA")
    );
}

/// Copies carry none of the source's tags (`TaggingDirective=REPLACE`, no
/// tag set): A's tags (another share's `trailshare-*` marks, cost centres)
/// never land in the grantee's bucket, for a new copy (`copy_as_is`) and for
/// a stale one redone (`copy_within`). Failed before the fix: S3's default
/// COPY carried `owner=a-secops` over.
#[tokio::test]
async fn copies_carry_none_of_the_source_tags() {
    let w = world(None).await;
    let dest = w.aws.bucket(C, "c-logs").await;
    let share = w
        .share(json!({"grantee_account": C, "delivery": {"mode": "copy", "bucket": dest}}))
        .await;
    w.put_destination_policy(C, &dest, &share).await;
    let c_s3 = s3(&w.aws.admin(C).await);
    let key = log_key(None, C, "1215");
    w.s3()
        .put_object()
        .bucket(&w.bucket)
        .key(&key)
        .body(log_file(C, "AssumeRole").into())
        .tagging("owner=a-secops&trailshare-bu-b=1")
        .send()
        .await
        .unwrap();
    let forwarder = w.forwarder(&[&dest], &[]).await;
    // moto keeps object tags per calling account (S3 keeps them on the
    // object): the tags a copy carried are where the writer, account A,
    // sees them, so they are read as A.
    let a_s3 = w.s3();
    let copy_tags = || async {
        a_s3.get_object_tagging()
            .bucket(&dest)
            .key(&key)
            .send()
            .await
            .expect("the copy exists")
            .tag_set()
            .iter()
            .map(|t| format!("{}={}", t.key(), t.value()))
            .collect::<Vec<_>>()
    };
    let summary = forwarder
        .handle_event(bridge_event(&w.bucket, &key))
        .await
        .expect("copy succeeds");
    assert_eq!(summary["processed"], 1, "{summary}");
    assert_eq!(copy_tags().await, Vec::<String>::new(), "a new copy");
    // Other bytes at the copy's key: the next event redoes it (CopyObject
    // with REPLACE metadata).
    c_s3.put_object()
        .bucket(&dest)
        .key(&key)
        .body(b"stale".to_vec().into())
        .tagging("stale=1")
        .send()
        .await
        .unwrap();
    let summary = forwarder
        .handle_event(bridge_event(&w.bucket, &key))
        .await
        .expect("the stale copy is redone");
    assert_eq!(summary["processed"], 1, "{summary}");
    assert_eq!(copy_tags().await, Vec::<String>::new(), "a redone copy");
}
