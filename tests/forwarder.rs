//! The forwarder's handler, in-process, against the stand-in with IAM
//! enforcement on, fed events shaped like the real ones (tests/fixtures).

use aws_config::SdkConfig;
use forwarder::{Forwarder, Outcome};
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::{digest_key, log_file, log_key, put_log, s3, stand_in, unique, StandIn, A, B, C};
use trailshare::aws::{AwsNotifier, IamRoles, S3Objects};
use trailshare::config::Config;
use trailshare::events::CreatedObject;

/// The custom prefix: a space and a plus, which S3 notifications encode.
const PREFIX: &str = "my logs+archive";
const ORG: &str = "o-a1b2c3d4e5";

struct World {
    aws: &'static StandIn,
    bucket: String,
    config: Config,
    admin: SdkConfig,
    shares: Provisioner<IamRoles>,
}

fn fixture(name: &str) -> Value {
    let path = stand_in::repo_root()
        .join("tests/fixtures/events")
        .join(name);
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Encodes a key the way S3 notifications do: `%XX`, then space as `+`.
fn notification_key(key: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'*');
    percent_encoding::utf8_percent_encode(key, SET)
        .to_string()
        .replace("%20", "+")
}

/// An S3 event notification (from the fixture) for `keys` in `bucket`.
fn s3_event(bucket: &str, keys: &[&str]) -> Value {
    let mut event = fixture("s3-put.json");
    let template = event["Records"][0].clone();
    event["Records"] = keys
        .iter()
        .map(|key| {
            let mut record = template.clone();
            record["s3"]["bucket"]["name"] = json!(bucket);
            record["s3"]["bucket"]["arn"] = json!(format!("arn:aws:s3:::{bucket}"));
            record["s3"]["object"]["key"] = json!(notification_key(key));
            // The fixture's ETag and size are not these files': leave them
            // out, so the forwarder reads the real ones.
            let object = record["s3"]["object"].as_object_mut().unwrap();
            object.remove("eTag");
            object.remove("size");
            record
        })
        .collect();
    event
}

/// An EventBridge `Object Created` event (from the fixture): key not encoded.
fn bridge_event(bucket: &str, key: &str) -> Value {
    let mut event = fixture("eventbridge-object-created.json");
    event["detail"]["bucket"]["name"] = json!(bucket);
    event["detail"]["object"]["key"] = json!(key);
    event["detail"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("etag");
    event
}

/// An SQS batch (from the fixture) with these message ids and bodies.
fn sqs_event(messages: &[(&str, String)]) -> Value {
    let mut event = fixture("sqs-s3.json");
    let template = event["Records"][0].clone();
    event["Records"] = messages
        .iter()
        .map(|(id, body)| {
            let mut record = template.clone();
            record["messageId"] = json!(id);
            record["body"] = json!(body);
            record
        })
        .collect();
    event
}

/// An SNS envelope (from the fixture) around `message`.
fn sns_body(message: &Value) -> String {
    let event = fixture("sqs-sns-s3.json");
    let mut envelope: Value =
        serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    envelope["Message"] = json!(message.to_string());
    envelope.to_string()
}

async fn world(prefix: Option<&str>) -> World {
    let aws = stand_in();
    let bucket = aws.bucket(A, "trail").await;
    let path = format!("/{}/", unique("trailshare"));
    let mut vars = vec![
        ("TRAIL_BUCKET", bucket.clone()),
        ("SHARE_ROLE_PATH", path),
        ("SHARE_CACHE_SECONDS", "0".into()),
        ("ORGANIZATION_ID", ORG.to_string()),
        ("ADMIN_PRINCIPALS", format!("arn:aws:iam::{A}:user/admin")),
    ];
    if let Some(prefix) = prefix {
        vars.push(("TRAIL_PREFIX", prefix.to_string()));
    }
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let admin = aws.admin(A).await;
    World {
        aws,
        bucket,
        shares: Provisioner::new(
            IamRoles::from_sdk(&admin),
            config.clone(),
            stand_in::share_key(),
        ),
        config,
        admin,
    }
}

impl World {
    /// A forwarder signed as a user of A with the forwarder's permissions:
    /// read and tag the trail bucket, write `destinations`, assume `writers`,
    /// read the share roles.
    async fn forwarder(
        &self,
        destinations: &[&str],
        writers: &[&str],
    ) -> Forwarder<IamRoles, S3Objects> {
        let user = self.forwarder_user(destinations, writers, &[]).await;
        Forwarder::new(
            IamRoles::from_sdk(&user),
            S3Objects::new(&user),
            self.config.clone(),
            stand_in::share_key(),
        )
    }

    /// The same, also announcing, allowed to send to `targets` only (as
    /// the template's NotificationTargetArns grants).
    async fn announcing_forwarder(
        &self,
        destinations: &[&str],
        targets: &[&str],
    ) -> Forwarder<IamRoles, S3Objects, trailshare::ports::NoQueue, AwsNotifier> {
        let user = self.forwarder_user(destinations, &[], targets).await;
        Forwarder::new(
            IamRoles::from_sdk(&user),
            S3Objects::new(&user),
            self.config.clone(),
            stand_in::share_key(),
        )
        .with_notifier(AwsNotifier::new(&user), "us-east-1")
    }

    /// A user of A with the forwarder's permissions for these lists.
    async fn forwarder_user(
        &self,
        destinations: &[&str],
        writers: &[&str],
        targets: &[&str],
    ) -> SdkConfig {
        let mut statements = vec![
            json!({"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"],
                   "Resource": format!("arn:aws:s3:::{}/*", self.bucket)}),
            json!({"Effect": "Allow", "Action": ["iam:ListRoles", "iam:ListRoleTags", "iam:GetRole"], "Resource": "*"}),
            // Backfill: list the trail bucket's folders.
            json!({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{}", self.bucket)}),
        ];
        if !destinations.is_empty() {
            let objects: Vec<String> = destinations
                .iter()
                .map(|b| format!("arn:aws:s3:::{b}/*"))
                .collect();
            statements.push(json!({"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject"], "Resource": objects}));
        }
        if !writers.is_empty() {
            statements
                .push(json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": writers}));
        }
        if !targets.is_empty() {
            statements.push(json!({"Effect": "Allow", "Action": ["sqs:SendMessage", "sns:Publish"], "Resource": targets}));
        }
        self.aws
            .user(
                A,
                &unique("forwarder"),
                &json!({"Version": "2012-10-17", "Statement": statements}),
            )
            .await
    }

    /// Creates a share through the provisioner (as it stores shares), named
    /// uniquely: role names are account-wide and tests run in parallel.
    async fn share(&self, mut body: Value) -> Value {
        body["name"] = json!(unique("share"));
        let event = api_event("POST", "/shares", &body);
        let response = self.shares.handle_event(event).await;
        assert_eq!(response["statusCode"], 201, "{response}");
        serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        s3(&self.admin)
    }

    /// The forwarder's own queue (client, URL) and a provisioner that
    /// queues backfill work there.
    async fn backfill_api(
        &self,
    ) -> (
        aws_sdk_sqs::Client,
        String,
        Provisioner<IamRoles, trailshare::aws::SqsQueue>,
    ) {
        let sqs = aws_sdk_sqs::Client::new(&self.admin);
        let (_, queue) = grantee_queue(&sqs, A).await;
        let mut config = self.config.clone();
        config.forwarder_queue_url = Some(queue.clone());
        let api = Provisioner::new(
            IamRoles::from_sdk(&self.admin),
            config,
            stand_in::share_key(),
        )
        .with_queue(trailshare::aws::SqsQueue::new(&self.admin, &queue));
        (sqs, queue, api)
    }

    async fn tags(&self, key: &str) -> Vec<(String, String)> {
        let out = self
            .s3()
            .get_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        out.tag_set.into_iter().map(|t| (t.key, t.value)).collect()
    }
}

fn object(bucket: &str, key: &str) -> CreatedObject {
    CreatedObject {
        bucket: bucket.to_string(),
        key: key.to_string(),
        etag: None,
        size: None,
    }
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[tokio::test]
async fn s3_notification_tags_b_files_keeps_other_tags_and_leaves_c_alone() {
    let w = world(Some(PREFIX)).await;
    w.share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;
    let b_key = log_key(Some(PREFIX), B, "1205");
    let c_key = log_key(Some(PREFIX), C, "1205");
    put_log(&w.s3(), &w.bucket, &b_key, log_file(B, "PutObject")).await;
    put_log(&w.s3(), &w.bucket, &c_key, log_file(C, "PutObject")).await;
    let team = aws_sdk_s3::types::Tag::builder()
        .key("team")
        .value("blue")
        .build()
        .unwrap();
    w.s3()
        .put_object_tagging()
        .bucket(&w.bucket)
        .key(&b_key)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(team)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

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
    let again = forwarder.process(&object(&w.bucket, &b_key)).await;
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
    let c_s3 = s3(&w.aws.admin(C).await);
    c_s3.put_bucket_policy()
        .bucket(&dest)
        .policy(share["grantee_setup"]["destination_bucket_policy"].to_string())
        .send()
        .await
        .unwrap();

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

    let again = forwarder.process(&object(&w.bucket, &key)).await;
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
    let outcome = forwarder.process(&object(&w.bucket, &key)).await;
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
        .handle_event(sqs_event(&[(
            "m1",
            s3_event(&w.bucket, &[&key]).to_string(),
        )]))
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
    match forwarder.process(&object(&w.bucket, &key)).await {
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
async fn a_destination_bucket_that_does_not_exist_fails_every_record_until_it_does() {
    let w = world(None).await;
    // A typo, or a bucket deleted later: the name exists in no account.
    let missing = unique("no-such-bucket");
    w.share(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": missing}}))
        .await;
    let key = log_key(None, B, "1500");
    put_log(&w.s3(), &w.bucket, &key, log_file(B, "x")).await;
    let forwarder = w.forwarder(&[&missing], &[]).await;
    let batch = || sqs_event(&[("m1", s3_event(&w.bucket, &[&key]).to_string())]);
    for receive in 1..=2 {
        let response = forwarder.handle_event(batch()).await.unwrap();
        assert_eq!(
            response,
            json!({"batchItemFailures": [{"itemIdentifier": "m1"}]}),
            "receive {receive}: never acknowledged while the bucket is missing"
        );
    }
    match forwarder.process(&object(&w.bucket, &key)).await {
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
        .handle_event(sqs_event(&[(
            "m1",
            s3_event(&w.bucket, &[&key]).to_string(),
        )]))
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
    let ten: Vec<aws_sdk_s3::types::Tag> = (0..10)
        .map(|i| {
            aws_sdk_s3::types::Tag::builder()
                .key(format!("k{i}"))
                .value("v")
                .build()
                .unwrap()
        })
        .collect();
    w.s3()
        .put_object_tagging()
        .bucket(&w.bucket)
        .key(&key)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .set_tag_set(Some(ten))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let forwarder = w.forwarder(&[], &[]).await;
    let response = forwarder
        .handle_event(sqs_event(&[(
            "m1",
            s3_event(&w.bucket, &[&key]).to_string(),
        )]))
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

/// An API Gateway HTTP API event from the stack's administrator.
fn api_event(method: &str, path: &str, body: &Value) -> Value {
    stand_in::api_event(method, path, body, &format!("arn:aws:iam::{A}:user/admin"))
}

/// Receives from `queue` and hands each batch to `forwarder` the way Lambda's
/// SQS trigger does, deleting what it acknowledged, until the queue is
/// empty. Returns the number of invocations.
async fn drain<Q: trailshare::ports::WorkQueue, N: trailshare::ports::Notifier>(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    forwarder: &Forwarder<IamRoles, S3Objects, Q, N>,
) -> usize {
    for invocations in 0..100 {
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return invocations;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle,
                "body": m.body, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:111111111111:q"}))
            .collect();
        let reply = forwarder
            .handle_event(json!({ "Records": records }))
            .await
            .unwrap();
        assert_eq!(
            reply,
            json!({"batchItemFailures": []}),
            "every work item succeeds"
        );
        for m in &messages {
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    panic!("the queue did not drain");
}

#[tokio::test]
async fn backfill_in_control_towers_layout() {
    backfill_delivers_the_files_already_there_for_that_share_only(Some(ORG)).await;
}

#[tokio::test]
async fn backfill_of_an_organization_trail_without_a_prefix() {
    backfill_delivers_the_files_already_there_for_that_share_only(None).await;
}

#[tokio::test]
async fn backfill_under_a_custom_prefix() {
    backfill_delivers_the_files_already_there_for_that_share_only(Some(PREFIX)).await;
}

/// Backfill in the layout `prefix` gives, with both the member-account and
/// the organization paths (`AWSLogs/<acct>/` and `AWSLogs/<org>/<acct>/`).
async fn backfill_delivers_the_files_already_there_for_that_share_only(prefix: Option<&str>) {
    let w = world(prefix).await;
    let (sqs, queue, api) = w.backfill_api().await;

    let z_dest = w.aws.bucket(stand_in::Z, "z-logs").await;
    let z = w
        .share(
            json!({"grantee_account": stand_in::Z, "log_accounts": ["*"], "external_id": "z-ext-1",
                      "delivery": {"mode": "copy", "bucket": z_dest}}),
        )
        .await;
    s3(&w.aws.admin(stand_in::Z).await)
        .put_bucket_policy()
        .bucket(&z_dest)
        .policy(z["grantee_setup"]["destination_bucket_policy"].to_string())
        .send()
        .await
        .unwrap();
    let b = w
        .share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;

    // Files of B and C from before the shares existed: in the window on two
    // days and two regions, in both layouts, a digest file; one day after it.
    let key = |org: bool, account: &str, folder: &str, region: &str, day: &str| {
        let logs = prefix.map_or("AWSLogs".to_string(), |p| format!("{p}/AWSLogs"));
        let root = if org { format!("{logs}/{ORG}") } else { logs };
        let (y, m, d) = (&day[0..4], &day[5..7], &day[8..10]);
        format!("{root}/{account}/{folder}/{region}/{y}/{m}/{d}/{account}_{folder}_{region}_{y}{m}{d}T0100Z_Bf1.json.gz")
    };
    let mut inside = Vec::new();
    for account in [B, C] {
        inside.push(key(false, account, "CloudTrail", "us-east-1", "2024-05-01"));
        inside.push(key(true, account, "CloudTrail", "eu-west-1", "2024-05-02"));
        inside.push(key(
            true,
            account,
            "CloudTrail-Digest",
            "us-east-1",
            "2024-05-02",
        ));
    }
    let outside = key(true, B, "CloudTrail", "us-east-1", "2024-05-03");
    for k in inside.iter().chain([&outside]) {
        put_log(&w.s3(), &w.bucket, k, log_file(B, "old")).await;
    }

    let z_name = z["name"].as_str().unwrap();
    let response = api
        .handle_event(api_event(
            "POST",
            &format!("/shares/{z_name}/backfill"),
            &json!({"from": "2024-05-01", "until": "2024-05-02"}),
        ))
        .await;
    assert_eq!(response["statusCode"], 202, "{response}");
    let mut answer: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let id = answer["backfill"].as_object_mut().unwrap().remove("id");
    assert!(id.as_ref().is_some_and(Value::is_string), "the run's id");
    assert_eq!(
        answer,
        json!({"backfill": {"share": z_name, "from": "2024-05-01", "until": "2024-05-02", "accounts": ["*"], "queued": 1}})
    );
    let forwarder = w
        .forwarder(&[&z_dest], &[])
        .await
        .with_queue(trailshare::aws::SqsQueue::new(&w.admin, &queue));
    // accounts → 2 accounts → 4 account-days: at least three rounds.
    assert!(drain(&sqs, &queue, &forwarder).await >= 3);
    let z_s3 = s3(&w.aws.admin(stand_in::Z).await);
    for k in &inside {
        let copy = z_s3.head_object().bucket(&z_dest).key(k).send().await;
        assert!(copy.is_ok(), "{k} was backfilled to Z");
        assert!(
            w.tags(k).await.is_empty(),
            "B's tag share was not backfilled: {k}"
        );
    }
    assert!(z_s3
        .head_object()
        .bucket(&z_dest)
        .key(&outside)
        .send()
        .await
        .is_err());

    // B's share: one message for its one account; only B's files in window.
    let b_name = b["name"].as_str().unwrap();
    let response = api
        .handle_event(api_event(
            "POST",
            &format!("/shares/{b_name}/backfill"),
            &json!({"from": "2024-05-01", "until": "2024-05-02"}),
        ))
        .await;
    assert_eq!(response["statusCode"], 202, "{response}");
    drain(&sqs, &queue, &forwarder).await;
    for k in &inside {
        let expected: Vec<(String, String)> = if k.contains(&format!("/{B}/")) {
            vec![pair("trailshare:account", B)]
        } else {
            vec![]
        };
        assert_eq!(w.tags(k).await, expected, "{k}");
    }
    assert!(w.tags(&outside).await.is_empty());

    // Bad input changes nothing: a 400 naming the field, nothing queued.
    for (body, field) in [
        (json!({"from": "2024-05-03", "until": "2024-05-01"}), "from"),
        (
            json!({"from": "2024-05-01", "until": "2999-01-01"}),
            "until",
        ),
        (json!({"since": "2024-05-01"}), "since"),
    ] {
        let response = api
            .handle_event(api_event(
                "POST",
                &format!("/shares/{b_name}/backfill"),
                &body,
            ))
            .await;
        assert_eq!(response["statusCode"], 400, "{response}");
        let error: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        assert_eq!(error["error"]["field"], field);
    }
    let missing = api
        .handle_event(api_event(
            "POST",
            "/shares/no-such-share/backfill",
            &json!({"from": "2024-05-01", "until": "2024-05-02"}),
        ))
        .await;
    assert_eq!(missing["statusCode"], 404);
    assert_eq!(
        drain(&sqs, &queue, &forwarder).await,
        0,
        "nothing was queued"
    );
    // Without the forwarder's queue configured, backfill is a 503.
    let unconfigured = w
        .shares
        .handle_event(api_event(
            "POST",
            &format!("/shares/{b_name}/backfill"),
            &json!({"from": "2024-05-01"}),
        ))
        .await;
    assert_eq!(unconfigured["statusCode"], 503, "{unconfigured}");
}

/// A grantee's queue in its own account: (ARN, URL).
async fn grantee_queue(sqs: &aws_sdk_sqs::Client, account: &str) -> (String, String) {
    let name = unique("new-logs");
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (format!("arn:aws:sqs:us-east-1:{account}:{name}"), url)
}

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    out.messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect()
}

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
    let partial = w.announcing_forwarder(&[&b_bucket], &[&b_queue]).await;
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
    let forwarder = w
        .announcing_forwarder(&[&b_bucket], &[&b_queue, &c_topic])
        .await;
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

/// Backfill announces every kind of file it delivers (log, digest and
/// Insight files), one message each, naming the copy; a second backfill
/// of the same window redoes nothing: the forwarder that runs it may read
/// the copies but not write them, and every work item still succeeds.
#[tokio::test]
async fn backfill_announces_log_digest_and_insight_files_and_a_second_pass_writes_nothing() {
    let w = world(None).await;
    let (sqs, queue, api) = w.backfill_api().await;
    let b_admin = w.aws.admin(B).await;
    let b_bucket = w.aws.bucket(B, "b-logs").await;
    let b_sqs = aws_sdk_sqs::Client::new(&b_admin);
    let (b_queue, b_url) = grantee_queue(&b_sqs, B).await;
    let share = w
        .share(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": b_bucket, "prefix": "in/"},
                      "notify": {"queue_arn": b_queue}}))
        .await;
    let setup = &share["grantee_setup"];
    s3(&b_admin)
        .put_bucket_policy()
        .bucket(&b_bucket)
        .policy(setup["destination_bucket_policy"].to_string())
        .send()
        .await
        .unwrap();
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
    let forwarder = w
        .announcing_forwarder(&[&b_bucket], &[&b_queue])
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
    let again = Forwarder::new(
        IamRoles::from_sdk(&reader),
        S3Objects::new(&reader),
        w.config.clone(),
        stand_in::share_key(),
    )
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
    let c_s3 = s3(&w.aws.admin(C).await);
    c_s3.put_bucket_policy()
        .bucket(&dest)
        .policy(share["grantee_setup"]["destination_bucket_policy"].to_string())
        .send()
        .await
        .unwrap();
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
