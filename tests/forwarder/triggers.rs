//! What triggers the forwarder: SQS batches answered per message, events it
//! cannot read, CloudTrail's own SNS notification (Control Tower), and the
//! trail topic's subscription filter.

use serde_json::{json, Value};
use stand_in::{fixture, log_file, log_key, put_log, unique, A, B};

use super::{
    bridge_event, grantee_queue, pair, receive, s3_event, sns_body, sqs_event, world, ORG,
};

#[tokio::test]
async fn sqs_batch_reports_exactly_the_failed_messages() {
    let w = world(None).await;
    w.share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;
    let b1 = log_key(None, B, "1300");
    let b2 = log_key(None, B, "1301");
    put_log(&w.s3(), &w.bucket, &b1, log_file(B, "x")).await;
    put_log(&w.s3(), &w.bucket, &b2, log_file(B, "y")).await;
    let gone = log_key(None, B, "1302");
    let forwarder = w.forwarder(&[], &[]).await;
    let test_event = fixture("s3-test-event.json");
    let batch = sqs_event(&[
        ("poison", "not json at all".to_string()),
        ("good-s3", s3_event(&w.bucket, &[&b1]).to_string()),
        ("good-sns", sns_body(&s3_event(&w.bucket, &[&b2]))),
        ("deleted", s3_event(&w.bucket, &[&gone]).to_string()),
        (
            "readme",
            s3_event(&w.bucket, &["AWSLogs/README.txt"]).to_string(),
        ),
        ("test", test_event.to_string()),
        (
            "other-bucket",
            bridge_event("some-other-bucket", &b1).to_string(),
        ),
    ]);
    let response = forwarder
        .handle_event(batch)
        .await
        .expect("a batch answers per message");
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "poison"}]})
    );
    assert_eq!(w.tags(&b1).await, [pair("trailshare:account", B)]);
    assert_eq!(w.tags(&b2).await, [pair("trailshare:account", B)]);
}

#[tokio::test]
async fn unreadable_events_fail_the_invocation() {
    let w = world(None).await;
    let forwarder = w.forwarder(&[], &[]).await;
    assert!(forwarder
        .handle_event(json!({"what": "is this"}))
        .await
        .is_err());
    let summary = forwarder
        .handle_event(fixture("s3-test-event.json"))
        .await
        .expect("a test event is ignored");
    assert_eq!(summary["objects"], 0);
}

#[tokio::test]
async fn control_tower_layout_arrives_through_cloudtrails_own_sns_notification() {
    // Control Tower: TRAIL_PREFIX=o-id, ORGANIZATION_ID=o-id, and a log
    // archive bucket whose notification configuration cannot change, so the
    // trail's SNS topic is the trigger (raw, in SQS, or in an SNS envelope).
    let w = world(Some(ORG)).await;
    w.share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;
    let key = |stamp: &str| {
        format!("{ORG}/AWSLogs/{ORG}/{B}/CloudTrail/us-east-1/2024/05/01/{B}_CloudTrail_us-east-1_20240501T{stamp}Z_Ct123456.json.gz")
    };
    let (direct, queued, enveloped) = (key("1600"), key("1601"), key("1602"));
    for k in [&direct, &queued, &enveloped] {
        put_log(&w.s3(), &w.bucket, k, log_file(B, "x")).await;
    }
    let message = |k: &str| json!({"s3Bucket": w.bucket, "s3ObjectKey": [k]}).to_string();
    let forwarder = w.forwarder(&[], &[]).await;
    let sns = json!({"Records": [{"EventVersion": "1.0", "EventSource": "aws:sns",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:111111111111:trail-topic:1",
        "Sns": {"Type": "Notification", "MessageId": "1", "TopicArn": "arn:aws:sns:us-east-1:111111111111:trail-topic",
                "Message": message(&direct), "Timestamp": "2024-05-01T16:00:00.000Z"}}]});
    let summary = forwarder.handle_event(sns).await.expect("direct SNS");
    assert_eq!(summary["processed"], 1, "{summary}");
    let envelope =
        json!({"Type": "Notification", "MessageId": "2", "Message": message(&enveloped)});
    let response = forwarder
        .handle_event(sqs_event(&[
            ("raw", message(&queued)),
            ("enveloped", envelope.to_string()),
        ]))
        .await
        .unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    for k in [&direct, &queued, &enveloped] {
        assert_eq!(w.tags(k).await, [pair("trailshare:account", B)], "{k}");
    }
}

/// Control Tower's trail topic also carries AWS Config's notifications. The
/// template subscribes the forwarder's queue with the filter in
/// tests/fixtures/sns (template.test.mjs checks it is the template's): on a
/// real SNS (moto's) CloudTrail's messages pass and AWS Config's stay out.
#[tokio::test]
async fn the_trail_topic_filter_lets_cloudtrails_messages_through_and_keeps_aws_configs_out() {
    let w = world(None).await;
    let sns = aws_sdk_sns::Client::new(&w.admin);
    let sqs = aws_sdk_sqs::Client::new(&w.admin);
    let topic = sns
        .create_topic()
        .name(unique("aws-controltower-AllConfigNotifications"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let (queue, url) = grantee_queue(&sqs, A).await;
    let filter = std::fs::read_to_string(
        stand_in::repo_root().join("tests/fixtures/sns/trail-topic-filter.json"),
    )
    .unwrap();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue)
        .attributes("FilterPolicyScope", "MessageBody")
        .attributes("FilterPolicy", filter.trim())
        .attributes("RawMessageDelivery", "false")
        .send()
        .await
        .unwrap();
    let message_of = |event: &Value, record: usize| -> String {
        let body: Value =
            serde_json::from_str(event["Records"][record]["body"].as_str().unwrap()).unwrap();
        body["Message"].as_str().unwrap().to_string()
    };
    let config = fixture("sqs-sns-config.json");
    let cloudtrail = fixture("sqs-sns-cloudtrail.json");
    for message in [
        message_of(&config, 0),
        message_of(&cloudtrail, 0),
        message_of(&config, 1),
    ] {
        sns.publish()
            .topic_arn(&topic)
            .message(message)
            .send()
            .await
            .unwrap();
    }
    let arrived = receive(&sqs, &url).await;
    assert_eq!(arrived.len(), 1, "{arrived:?}");
    let envelope: Value = serde_json::from_str(&arrived[0]).unwrap();
    assert_eq!(
        envelope["Message"].as_str().unwrap(),
        message_of(&cloudtrail, 0)
    );
    // And the forwarder reads what arrived as CloudTrail's notification.
    let Ok(trailshare::events::Trigger::Queue(messages)) =
        trailshare::events::decode(&sqs_event(&[("m", arrived[0].clone())]))
    else {
        panic!("an SQS batch")
    };
    assert!(
        matches!(&messages[0].content, Ok(trailshare::events::Notification::Objects(o)) if o.len() == 2),
        "{messages:?}"
    );
}
