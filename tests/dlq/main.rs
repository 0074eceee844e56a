//! Redrive that explains, against the stand-in (moto, IAM enforcement on)
//! with the real SDK: the forwarder dead-letters a file that fails on every
//! receive, with attributes saying what failed; `trailshare dlq list`
//! groups it; `trailshare dlq redrive --share` moves it back once its
//! destination exists, and the next delivery succeeds. moto 5.2.5 has no
//! `StartMessageMoveTask` (nor `ListMessageMoveTasks`: both answer 500,
//! "not implemented"), so `dlq redrive` of every message is checked against
//! a small SQS stand-in that records the requests the SDK sends and answers
//! as the SQS API reference documents (`move_task.rs`).

mod move_task;

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use forwarder::Forwarder;
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::binary::{run, Run};
use stand_in::{log_key, put_log, s3, stand_in, trail_file, unique, StandIn, A, C};
use trailshare::aws::{IamRoles, S3Objects, SqsQueue};
use trailshare::config::Config;

/// The queue's maxReceiveCount in these tests (the template's default is 5).
const MAX_RECEIVES: u32 = 3;

struct World {
    aws: &'static StandIn,
    trail: String,
    key: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    dlq_url: String,
    config: Config,
    admin_env: Vec<(&'static str, String)>,
}

/// A trail bucket with one log file of C, the forwarder's queue and its
/// dead-letter queue (RedrivePolicy, maxReceiveCount 3), and the settings
/// both functions read.
async fn world() -> World {
    let aws = stand_in();
    let admin = aws.admin(A).await;
    let trail = aws.bucket(A, "trail").await;
    let key = log_key(None, C, "1205");
    put_log(&s3(&admin), &trail, &key, trail_file(C)).await;
    let sqs = aws_sdk_sqs::Client::new(&admin);
    let dlq_url = create_queue(&sqs, &unique("dlq"), None).await;
    let dlq_arn = queue_arn(&sqs, &dlq_url).await;
    let redrive =
        json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES.to_string()});
    let queue_url = create_queue(&sqs, &unique("forwarder"), Some(redrive.to_string())).await;
    let vars = [
        ("TRAIL_BUCKET", trail.clone()),
        ("SHARE_ROLE_PATH", format!("/{}/", unique("trailshare"))),
        ("SHARE_CACHE_SECONDS", "0".into()),
        ("ADMIN_PRINCIPALS", format!("arn:aws:iam::{A}:user/admin")),
        ("FORWARDER_QUEUE_URL", queue_url.clone()),
        ("DEAD_LETTER_QUEUE_URL", dlq_url.clone()),
        ("MAX_RECEIVES", MAX_RECEIVES.to_string()),
    ];
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let admin_env = stand_in::binary_env(&admin, &aws.url).await;
    World {
        aws,
        trail,
        key,
        sqs,
        queue_url,
        dlq_url,
        config,
        admin_env,
    }
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str, redrive: Option<String>) -> String {
    let mut request = sqs.create_queue().queue_name(name);
    if let Some(policy) = redrive {
        // Visible again at once after a failed receive, so the test need
        // not wait out a visibility timeout.
        request = request
            .attributes(QueueAttributeName::RedrivePolicy, policy)
            .attributes(QueueAttributeName::VisibilityTimeout, "0");
    }
    request.send().await.unwrap().queue_url.unwrap()
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    out.attributes.unwrap()[&QueueAttributeName::QueueArn].clone()
}

impl World {
    /// A share of C's files copied to `bucket` (which need not exist yet).
    async fn copy_share(&self, bucket: &str) -> String {
        let name = unique("share");
        let shares = Provisioner::new(
            IamRoles::from_sdk(&self.aws.admin(A).await),
            self.config.clone(),
            stand_in::share_key(),
        );
        let body = json!({"name": name, "grantee_account": C, "delivery": {"mode": "copy", "bucket": bucket}});
        let event = stand_in::api_event(
            "POST",
            "/shares",
            &body,
            &format!("arn:aws:iam::{A}:user/admin"),
        );
        let response = shares.handle_event(event).await;
        assert_eq!(response["statusCode"], 201, "{response}");
        name
    }

    /// The forwarder, signed as a user of A with the template's grants for
    /// it: the trail bucket, the share roles, copies into `bucket`, its
    /// queue, and (`dead_letter`) sending to the dead-letter queue.
    async fn forwarder(
        &self,
        bucket: &str,
        dead_letter: bool,
    ) -> Forwarder<IamRoles, S3Objects, SqsQueue> {
        let mut sends = vec![queue_arn(&self.sqs, &self.queue_url).await];
        if dead_letter {
            sends.push(queue_arn(&self.sqs, &self.dlq_url).await);
        }
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"], "Resource": format!("arn:aws:s3:::{}/*", self.trail)},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{}", self.trail)},
            {"Effect": "Allow", "Action": ["iam:ListRoles", "iam:GetRole"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject"], "Resource": format!("arn:aws:s3:::{bucket}/*")},
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": sends}]});
        let user = self.aws.user(A, &unique("forwarder"), &policy).await;
        let queue = SqsQueue::new(&user, &self.queue_url).with_dead_letter(Some(&self.dlq_url));
        Forwarder::new(
            IamRoles::from_sdk(&user),
            S3Objects::new(&user),
            self.config.clone(),
            stand_in::share_key(),
        )
        .with_queue(queue)
    }

    /// S3's notification of the log file, on the forwarder's queue.
    async fn file_arrives(&self) -> String {
        let mut event: Value =
            serde_json::from_str(include_str!("../fixtures/events/s3-put.json")).unwrap();
        event["Records"][0]["s3"]["bucket"]["name"] = json!(self.trail);
        event["Records"][0]["s3"]["object"]["key"] = json!(self.key);
        let record = event["Records"][0]["s3"]["object"].as_object_mut().unwrap();
        record.remove("eTag");
        record.remove("size");
        let body = event.to_string();
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&body)
            .send()
            .await
            .unwrap();
        body
    }

    /// Lambda's SQS trigger: receive (with `ApproximateReceiveCount`, as the
    /// event source mapping passes it), invoke, delete what was not in
    /// `batchItemFailures`; until the queue is empty. Returns each reply.
    async fn drain(&self, forwarder: &Forwarder<IamRoles, S3Objects, SqsQueue>) -> Vec<Value> {
        let mut replies = Vec::new();
        for _ in 0..10 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap();
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return replies;
            }
            let records: Vec<Value> = messages
                .iter()
                .map(|m| {
                    let count = &m.attributes.as_ref().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount];
                    json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                        "attributes": {"ApproximateReceiveCount": count}, "messageAttributes": {},
                        "eventSource": "aws:sqs", "eventSourceARN": format!("arn:aws:sqs:us-east-1:{A}:forwarder"), "awsRegion": "us-east-1"})
                })
                .collect();
            let reply = forwarder
                .handle_event(json!({"Records": records}))
                .await
                .unwrap();
            for m in &messages {
                let failed = reply["batchItemFailures"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["itemIdentifier"] == json!(m.message_id));
                if !failed {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(m.receipt_handle.clone().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
            }
            replies.push(reply);
        }
        panic!("the queue did not drain: {replies:?}");
    }

    /// What waits in the dead-letter queue: (body, trailshare.* attributes),
    /// read and released, as an admin would peek.
    async fn dead_letters(&self) -> Vec<(String, Value)> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(10)
            .message_attribute_names("trailshare.*")
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, json!(v.string_value)))
                    .collect();
                (m.body.unwrap_or_default(), Value::Object(attributes))
            })
            .collect()
    }

    fn trailshare(&self, args: &[&str]) -> Run {
        let env: Vec<(&str, &str)> = self
            .admin_env
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        run(args, &env)
    }
}

#[tokio::test]
async fn a_file_that_failed_while_its_destination_was_missing_is_explained_then_redriven() {
    let w = world().await;
    let bucket = unique("c-late-logs");
    let share = w.copy_share(&bucket).await;
    let forwarder = w.forwarder(&bucket, true).await;
    let body = w.file_arrives().await;

    // Receives 1 and 2 fail as before; on the 3rd (the last) the forwarder
    // dead-letters the message itself and acknowledges it.
    let replies = w.drain(&forwarder).await;
    assert_eq!(replies.len(), MAX_RECEIVES as usize, "{replies:?}");
    assert_eq!(replies[0]["batchItemFailures"].as_array().unwrap().len(), 1);
    assert_eq!(
        replies[2],
        json!({"batchItemFailures": []}),
        "acknowledged once dead-lettered"
    );
    let dead = w.dead_letters().await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let (dead_body, attributes) = &dead[0];
    assert_eq!(dead_body, &body, "the body as it was queued");
    assert_eq!(
        attributes["trailshare.shares"],
        json!(json!([share]).to_string())
    );
    assert_eq!(
        attributes["trailshare.targets"],
        json!(json!([format!("copy to s3://{bucket}")]).to_string())
    );
    let error = attributes["trailshare.error"].as_str().unwrap();
    assert!(error.contains("NoSuchBucket"), "{error}");
    assert_eq!(
        attributes["trailshare.receives"],
        json!(MAX_RECEIVES.to_string())
    );

    // The admin sees it grouped by share, target and last error.
    let listed = w.trailshare(&["--json", "dlq", "list", "--queue-url", &w.queue_url]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let groups = &listed.json()["groups"];
    assert_eq!(groups.as_array().unwrap().len(), 1, "{listed:?}");
    assert_eq!(groups[0]["shares"], json!([share]));
    assert_eq!(
        groups[0]["targets"],
        json!([format!("copy to s3://{bucket}")])
    );
    assert_eq!(groups[0]["error"], json!(error));
    assert_eq!(groups[0]["messages"], 1);
    let table = w.trailshare(&["dlq", "list", "--queue-url", &w.queue_url]);
    assert!(
        table.stdout.contains(&share) && table.stdout.contains("NoSuchBucket"),
        "{table:?}"
    );
    assert!(table.stdout.contains("1 messages in 1 groups"), "{table:?}");

    // Another share's redrive moves nothing; once the bucket exists, this
    // share's moves the file back, and it is delivered.
    let other = w.trailshare(&[
        "--json",
        "dlq",
        "redrive",
        "--share",
        "someone-else",
        "--queue-url",
        &w.queue_url,
    ]);
    assert_eq!(
        other.json(),
        json!({"share": "someone-else", "moved": 0, "left": 1}),
        "{other:?}"
    );
    s3(&w.aws.admin(C).await)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let moved = w.trailshare(&[
        "--json",
        "dlq",
        "redrive",
        "--share",
        &share,
        "--queue-url",
        &w.queue_url,
        "--dlq-url",
        &w.dlq_url,
    ]);
    assert_eq!(
        moved.json(),
        json!({"share": share, "moved": 1, "left": 0}),
        "{moved:?}"
    );
    assert!(w.dead_letters().await.is_empty());
    let replies = w.drain(&forwarder).await;
    assert_eq!(replies, [json!({"batchItemFailures": []})]);
    let copy = s3(&w.aws.admin(C).await)
        .get_object()
        .bucket(&bucket)
        .key(&w.key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        copy.body.collect().await.unwrap().into_bytes().to_vec(),
        trail_file(C)
    );
}

#[tokio::test]
async fn if_the_forwarder_cannot_dead_letter_the_queues_own_redrive_still_moves_the_file() {
    let w = world().await;
    let bucket = unique("c-missing");
    w.copy_share(&bucket).await;
    // No sqs:SendMessage on the dead-letter queue: its send is denied.
    let forwarder = w.forwarder(&bucket, false).await;
    let body = w.file_arrives().await;
    let replies = w.drain(&forwarder).await;
    // Never acknowledged: failed on every receive, the last one included.
    assert_eq!(replies.len(), MAX_RECEIVES as usize);
    assert!(
        replies
            .iter()
            .all(|r| r["batchItemFailures"].as_array().unwrap().len() == 1),
        "{replies:?}"
    );
    // SQS moved it on the next receive: there, unexplained.
    let dead = w.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0], (body, json!({})));
    let listed = w.trailshare(&["--json", "dlq", "list", "--queue-url", &w.queue_url]);
    let group = &listed.json()["groups"][0];
    assert_eq!(
        (group["explained"].clone(), group["messages"].clone()),
        (json!(false), json!(1)),
        "{listed:?}"
    );
}

#[tokio::test]
async fn what_the_dead_letter_queue_says_is_shown_bounded_and_printable_and_no_other_queue_is_redriven(
) {
    let w = world().await;
    // Someone's own words in the dead-letter queue: a terminal escape, a
    // share name no share can have, a huge error.
    let forged = |value: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .unwrap()
    };
    w.sqs
        .send_message()
        .queue_url(&w.dlq_url)
        .message_body("{}")
        .message_attributes(
            "trailshare.shares",
            forged(r#"["bu-c", "\u001b]0;owned\u0007", "BU-C"]"#),
        )
        .message_attributes("trailshare.targets", forged("[\"tag\\u001b[2J\"]"))
        .message_attributes(
            "trailshare.error",
            forged(&format!("\u{1b}[31m{}", "e".repeat(5000))),
        )
        .send()
        .await
        .unwrap();
    let listed = w.trailshare(&["dlq", "list", "--queue-url", &w.queue_url]);
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(
        !listed.stdout.contains('\u{1b}') && !listed.stdout.contains('\u{7}'),
        "{listed:?}"
    );
    let json = w
        .trailshare(&["--json", "dlq", "list", "--queue-url", &w.queue_url])
        .json();
    assert_eq!(json["groups"][0]["shares"], json!(["bu-c"]));
    assert_eq!(json["groups"][0]["targets"], json!(["tag?[2J"]));
    assert!(json["groups"][0]["error"].as_str().unwrap().chars().count() <= 1000);
    // A queue that is not the forwarder queue's dead-letter queue is refused.
    let elsewhere = create_queue(&w.sqs, &unique("elsewhere"), None).await;
    let refused = w.trailshare(&[
        "dlq",
        "redrive",
        "--share",
        "bu-c",
        "--queue-url",
        &w.queue_url,
        "--dlq-url",
        &elsewhere,
    ]);
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("is not the forwarder queue's dead-letter queue"),
        "{refused:?}"
    );
    let not_a_forwarder_queue = w.trailshare(&["dlq", "list", "--queue-url", &elsewhere]);
    assert!(
        not_a_forwarder_queue
            .stderr
            .contains("has no dead-letter queue"),
        "{not_a_forwarder_queue:?}"
    );
}
