//! Announcements: grantees hear of each delivered file as an S3 event their
//! SIEM reads, from new files and from backfill alike.

use serde_json::{json, Value};
use stand_in::{digest_key, log_file, log_key, notification_key, put_log, s3, unique, A, B, C};
use trailshare::aws::AwsNotifier;

use super::{
    announcing_forwarder, api_event, backfill_api, drain, grantee_queue, receive, s3_event,
    sqs_event, world,
};

#[tokio::test]
async fn grantees_hear_of_each_delivered_file_as_an_s3_event_their_siem_reads() {
    let w = world(None).await;
    let b_bucket = w.aws.bucket(B, "b-logs").await;
    let b_sqs = aws_sdk_sqs::Client::new(&w.aws.admin(B).await);
    let (b_queue, b_url) = grantee_queue(&b_sqs, B).await;
    // C reads through its role (delivery none) and hears through a topic
    // its own queue subscribes to.
    let c_admin = w.aws.admin(C).await;
    let c_sqs = aws_sdk_sqs::Client::new(&c_admin);
    let (c_queue, c_url) = grantee_queue(&c_sqs, C).await;
    let c_sns = aws_sdk_sns::Client::new(&c_admin);
    let c_topic = c_sns
        .create_topic()
        .name(unique("new-logs"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    c_sns
        .subscribe()
        .topic_arn(&c_topic)
        .protocol("sqs")
        .endpoint(&c_queue)
        .send()
        .await
        .unwrap();
    w.share(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": b_bucket, "prefix": "central/"},
                   "notify": {"queue_arn": b_queue}}))
        .await;
    w.share(json!({"grantee_account": C, "notify": {"topic_arn": c_topic}}))
        .await;
    let (b_key, c_key) = (log_key(None, B, "0910"), log_key(None, C, "0910"));
    put_log(&w.s3(), &w.bucket, &b_key, log_file(B, "b")).await;
    put_log(&w.s3(), &w.bucket, &c_key, log_file(C, "c")).await;
    let batch = || {
        sqs_event(&[
            ("m-b", s3_event(&w.bucket, &[&b_key]).to_string()),
            ("m-c", s3_event(&w.bucket, &[&c_key]).to_string()),
        ])
    };

    // A forwarder not allowed to publish to C's topic: C's file is not
    // acknowledged (retried, then dead-lettered); B's is done.
    let partial = announcing_forwarder(&w, &[&b_bucket], &[&b_queue]).await;
    assert_eq!(
        partial.handle_event(batch()).await.unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "m-c"}]})
    );
    assert!(receive(&c_sqs, &c_url).await.is_empty());
    let first = receive(&b_sqs, &b_url).await;
    assert_eq!(first.len(), 1, "{first:?}");

    // The message a Splunk-style "SQS-based S3" input reads, field by field.
    let message: Value = serde_json::from_str(&first[0]).unwrap();
    let record = &message["Records"][0];
    let copy_key = format!("central/{b_key}");
    assert_eq!(record["eventSource"], "aws:s3");
    assert_eq!(record["eventName"], "ObjectCreated:Put");
    assert_eq!(record["eventVersion"], "2.1");
    assert_eq!(record["s3"]["bucket"]["name"], b_bucket.as_str());
    assert_eq!(
        record["s3"]["bucket"]["arn"],
        format!("arn:aws:s3:::{b_bucket}")
    );
    assert_eq!(record["s3"]["object"]["key"], notification_key(&copy_key));
    assert_eq!(record["s3"]["object"]["size"], log_file(B, "b").len());
    // What the reader does next: decode the key and GET the object as B.
    let Ok(trailshare::events::Trigger::Direct(trailshare::events::Notification::Objects(objects))) =
        trailshare::events::decode(&message)
    else {
        panic!("the notice decodes as an S3 notification: {message}");
    };
    let body = s3(&w.aws.admin(B).await)
        .get_object()
        .bucket(&objects[0].bucket)
        .key(&objects[0].key)
        .send()
        .await
        .expect("the announced copy is there")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(body.as_ref(), log_file(B, "b").as_slice());

    // Allowed to publish: the redelivered batch is acknowledged; C hears of
    // the trail bucket's object through its topic (an SNS envelope).
    let forwarder = announcing_forwarder(&w, &[&b_bucket], &[&b_queue, &c_topic]).await;
    assert_eq!(
        forwarder.handle_event(batch()).await.unwrap(),
        json!({"batchItemFailures": []})
    );
    let heard = receive(&c_sqs, &c_url).await;
    assert_eq!(heard.len(), 1, "{heard:?}");
    let envelope: Value = serde_json::from_str(&heard[0]).unwrap();
    assert_eq!(envelope["TopicArn"], c_topic.as_str());
    let inner: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        inner["Records"][0]["s3"]["bucket"]["name"],
        w.bucket.as_str()
    );
    assert_eq!(
        inner["Records"][0]["s3"]["object"]["key"],
        notification_key(&c_key)
    );
    // At least once, like S3: B's file was announced again on redelivery.
    assert_eq!(receive(&b_sqs, &b_url).await.len(), 1);
}

/// Backfill announces every kind of file it delivers (log, digest and
/// Insight files), one message each, naming the copy; a second backfill
/// of the same window redoes nothing: the forwarder that runs it may read
/// the copies but not write them, and every work item still succeeds.
#[tokio::test]
async fn backfill_announces_log_digest_and_insight_files_and_a_second_pass_writes_nothing() {
    let w = world(None).await;
    let (sqs, queue, api) = backfill_api(&w).await;
    let b_admin = w.aws.admin(B).await;
    let b_bucket = w.aws.bucket(B, "b-logs").await;
    let b_sqs = aws_sdk_sqs::Client::new(&b_admin);
    let (b_queue, b_url) = grantee_queue(&b_sqs, B).await;
    let share = w
        .share(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": b_bucket, "prefix": "in/"},
                      "notify": {"queue_arn": b_queue}}))
        .await;
    let setup = &share["grantee_setup"];
    w.put_destination_policy(B, &b_bucket, &share).await;
    b_sqs
        .set_queue_attributes()
        .queue_url(&b_url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::Policy,
            setup["queue_policy"].to_string(),
        )
        .send()
        .await
        .unwrap();

    let insight = format!(
        "AWSLogs/{B}/CloudTrail-Insight/us-east-1/2024/05/02/{B}_CloudTrail-Insight_us-east-1_20240502T0000Z_In5ight.json.gz"
    );
    let inside = [log_key(None, B, "0100"), digest_key(None, B), insight];
    let others = [
        log_key(None, C, "0100"),
        format!("AWSLogs/{B}/CloudTrail/us-east-1/2024/05/03/{B}_CloudTrail_us-east-1_20240503T0100Z_Af7er.json.gz"),
    ];
    for k in inside.iter().chain(&others) {
        put_log(&w.s3(), &w.bucket, k, log_file(B, k)).await;
    }
    let name = share["name"].as_str().unwrap();
    let backfill = || async {
        let response = api
            .handle_event(api_event(
                "POST",
                &format!("/shares/{name}/backfill"),
                &json!({"from": "2024-05-01", "until": "2024-05-02"}),
            ))
            .await;
        assert_eq!(response["statusCode"], 202, "{response}");
    };
    let announced = || async {
        let mut keys = Vec::new();
        for body in receive(&b_sqs, &b_url).await {
            let message: Value = serde_json::from_str(&body).unwrap();
            let record = &message["Records"][0];
            assert_eq!(record["eventSource"], "aws:s3", "{message}");
            assert_eq!(record["s3"]["bucket"]["name"], b_bucket.as_str());
            keys.push(record["s3"]["object"]["key"].as_str().unwrap().to_string());
        }
        keys.sort();
        keys
    };
    let mut expected: Vec<String> = inside
        .iter()
        .map(|k| notification_key(&format!("in/{k}")))
        .collect();
    expected.sort();

    backfill().await;
    let forwarder = announcing_forwarder(&w, &[&b_bucket], &[&b_queue])
        .await
        .with_queue(trailshare::aws::SqsQueue::new(&w.admin, &queue));
    drain(&sqs, &queue, &forwarder).await;
    assert_eq!(announced().await, expected, "one message per file");
    let b_s3 = s3(&b_admin);
    let mut etags = Vec::new();
    for k in &inside {
        let copy = b_s3
            .get_object()
            .bucket(&b_bucket)
            .key(format!("in/{k}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("in/{k} was backfilled: {e:?}"));
        etags.push(copy.e_tag.clone());
        let body = copy.body.collect().await.unwrap().into_bytes();
        assert_eq!(body.as_ref(), log_file(B, k).as_slice(), "{k}");
    }
    for k in &others {
        let copy = b_s3
            .head_object()
            .bucket(&b_bucket)
            .key(format!("in/{k}"))
            .send()
            .await;
        assert!(copy.is_err(), "{k} is not B's or not in the window");
    }

    // The same window again, by a forwarder that may read the copies but
    // not write them (nor tag the trail bucket): any redone copy would fail
    // its work item, and `drain` asserts every item succeeds.
    let reader = w
        .aws
        .user(
            A,
            &unique("forwarder-reader"),
            &json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": [
                    format!("arn:aws:s3:::{}/*", w.bucket), format!("arn:aws:s3:::{b_bucket}/*")]},
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{}", w.bucket)},
                {"Effect": "Allow", "Action": ["iam:ListRoles", "iam:ListRoleTags", "iam:GetRole"], "Resource": "*"},
                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": b_queue}]}),
        )
        .await;
    let again = w
        .forwarder_as(&reader)
        .with_notifier(AwsNotifier::new(&reader), "us-east-1")
        .with_queue(trailshare::aws::SqsQueue::new(&w.admin, &queue));
    backfill().await;
    drain(&sqs, &queue, &again).await;
    for (k, etag) in inside.iter().zip(&etags) {
        let copy = b_s3
            .head_object()
            .bucket(&b_bucket)
            .key(format!("in/{k}"))
            .send()
            .await
            .unwrap();
        assert_eq!(&copy.e_tag, etag, "{k} unchanged");
    }
    // Announcements are at least once: the grantee asked again, and hears
    // of each file again, once.
    assert_eq!(announced().await, expected);
}
