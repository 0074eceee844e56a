//! The forwarder's log lines as CloudWatch Logs receives them: the real
//! handler, in-process, against the stand-in with IAM enforcement on, its
//! output captured through the subscriber both functions install
//! (`trailshare::telemetry`). Every metric line must be a valid Embedded
//! Metric Format document, and the metrics CloudWatch would extract from
//! them must say what happened to each share's files; the lines the
//! operator's filters read keep their fields at the top level.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use forwarder::Forwarder;
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::{grantee_queue, log_file, log_key, put_log, s3, stand_in, unique, StandIn, A, B, C};
use trailshare::aws::{AwsNotifier, IamRoles, S3Objects};
use trailshare::config::Config;
use trailshare::ports::NoQueue;
use trailshare::telemetry::Capture;

const NS: &str = "trailshare/metrics-test";

struct World {
    aws: &'static StandIn,
    bucket: String,
    config: Config,
    admin: SdkConfig,
    shares: Provisioner<IamRoles>,
}

async fn world() -> World {
    let aws = stand_in();
    let bucket = aws.bucket(A, "trail").await;
    let vars = [
        ("TRAIL_BUCKET", bucket.clone()),
        ("SHARE_ROLE_PATH", format!("/{}/", unique("trailshare"))),
        ("SHARE_CACHE_SECONDS", "0".to_string()),
        ("ADMIN_PRINCIPALS", format!("arn:aws:iam::{A}:user/admin")),
    ];
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let admin = aws.admin(A).await;
    World {
        aws,
        shares: Provisioner::new(
            IamRoles::from_sdk(&admin),
            config.clone(),
            stand_in::share_key(),
        ),
        bucket,
        config,
        admin,
    }
}

impl World {
    /// Creates a share (named uniquely) through the provisioner; its name.
    async fn share(&self, mut body: Value) -> String {
        let name = unique("m");
        body["name"] = json!(name);
        let event = stand_in::api_event(
            "POST",
            "/shares",
            &body,
            &format!("arn:aws:iam::{A}:user/admin"),
        );
        let response = self.shares.handle_event(event).await;
        assert_eq!(response["statusCode"], 201, "{response}");
        name
    }

    /// The forwarder as the template deploys it, signed as a user of A with
    /// its permissions: read and tag the trail bucket, list it (backfill),
    /// read the share roles, write `destinations`, send to `targets`.
    async fn forwarder(
        &self,
        destinations: &[&str],
        targets: &[&str],
    ) -> Forwarder<IamRoles, S3Objects, NoQueue, AwsNotifier> {
        let mut statements = vec![
            json!({"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"],
                   "Resource": format!("arn:aws:s3:::{}/*", self.bucket)}),
            json!({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{}", self.bucket)}),
            json!({"Effect": "Allow", "Action": ["iam:ListRoles", "iam:GetRole"], "Resource": "*"}),
        ];
        let objects: Vec<String> = destinations
            .iter()
            .map(|b| format!("arn:aws:s3:::{b}/*"))
            .collect();
        if !objects.is_empty() {
            statements.push(json!({"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject"], "Resource": objects}));
        }
        if !targets.is_empty() {
            statements.push(json!({"Effect": "Allow", "Action": ["sqs:SendMessage", "sns:Publish"], "Resource": targets}));
        }
        let user = self
            .aws
            .user(
                A,
                &unique("forwarder"),
                &json!({"Version": "2012-10-17", "Statement": statements}),
            )
            .await;
        Forwarder::new(
            IamRoles::from_sdk(&user),
            S3Objects::new(&user),
            self.config.clone(),
            stand_in::share_key(),
        )
        .with_notifier(AwsNotifier::new(&user), "us-east-1")
        .with_metrics_namespace(NS)
    }

    /// Puts a log file; its S3 event record (the fixture's, for this
    /// object), with the size and ETag S3 gave it.
    async fn put(&self, key: &str, body: Vec<u8>) -> Value {
        let size = body.len();
        let etag = put_log(&s3(&self.admin), &self.bucket, key, body).await;
        let mut record = fixture("s3-put.json")["Records"][0].clone();
        record["s3"]["bucket"]["name"] = json!(self.bucket);
        record["s3"]["bucket"]["arn"] = json!(format!("arn:aws:s3:::{}", self.bucket));
        record["s3"]["object"]["key"] = json!(key);
        record["s3"]["object"]["size"] = json!(size);
        record["s3"]["object"]["eTag"] = json!(etag.trim_matches('"'));
        record
    }
}

fn fixture(name: &str) -> Value {
    let path = stand_in::repo_root()
        .join("tests/fixtures/events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// An SQS batch (the fixture's shape) with these message bodies, ids `m0`, `m1`, ….
fn sqs_event(bodies: &[String]) -> Value {
    let mut event = fixture("sqs-s3.json");
    let template = event["Records"][0].clone();
    event["Records"] = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut record = template.clone();
            record["messageId"] = json!(format!("m{i}"));
            record["body"] = json!(body);
            record
        })
        .collect();
    event
}

/// An SQS batch, one message per S3 event record.
fn batch(records: &[Value]) -> Value {
    let bodies: Vec<String> = records
        .iter()
        .map(|record| json!({"Records": [record]}).to_string())
        .collect();
    sqs_event(&bodies)
}

/// What CloudWatch would extract from `lines`: every line with `_aws` is
/// first checked against the specification, then each of its metrics is
/// summed under (namespace, dimensions as `Name=value` joined by `,`, metric).
fn extracted(lines: &[Value]) -> BTreeMap<(String, String, String), u64> {
    let mut metrics = BTreeMap::new();
    for line in lines.iter().filter(|l| l.get("_aws").is_some()) {
        trailshare::emf::check(line).unwrap_or_else(|e| panic!("not EMF ({e}): {line}"));
        for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            let namespace = directive["Namespace"].as_str().unwrap().to_string();
            for set in directive["Dimensions"].as_array().unwrap() {
                let dimensions: Vec<String> = set
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|name| {
                        let name = name.as_str().unwrap();
                        format!("{name}={}", line[name].as_str().unwrap())
                    })
                    .collect();
                for metric in directive["Metrics"].as_array().unwrap() {
                    let name = metric["Name"].as_str().unwrap().to_string();
                    *metrics
                        .entry((namespace.clone(), dimensions.join(","), name.clone()))
                        .or_default() += line[&name].as_u64().unwrap();
                }
            }
        }
    }
    metrics
}

fn metric(
    share: &str,
    mode: Option<&str>,
    name: &str,
    value: u64,
) -> ((String, String, String), u64) {
    let dimensions = match mode {
        Some(mode) => format!("Share={share},Mode={mode}"),
        None => format!("Share={share}"),
    };
    ((NS.to_string(), dimensions, name.to_string()), value)
}

/// The invocation's lines with this `event`.
fn events<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == event).collect()
}

#[tokio::test]
async fn each_shares_files_are_counted_per_mode_and_a_redelivery_counts_as_skipped() {
    let w = world().await;
    let b_bucket = w.aws.bucket(B, "b-logs").await;
    let missing = unique("no-such-bucket");
    let b_sqs = aws_sdk_sqs::Client::new(&w.aws.admin(B).await);
    let (b_queue, _) = grantee_queue(&b_sqs, B).await;
    let copy = w
        .share(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": b_bucket, "prefix": "central/"},
                      "notify": {"queue_arn": b_queue}}))
        .await;
    let tag = w
        .share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;
    // C's copy goes to a bucket that does not exist: it fails, every time.
    let broken = w
        .share(json!({"grantee_account": C, "delivery": {"mode": "copy", "bucket": missing}}))
        .await;
    let b1 = w
        .put(&log_key(None, B, "1200"), log_file(B, "ListBuckets"))
        .await;
    let b2 = w
        .put(&log_key(None, B, "1205"), log_file(B, "GetObject"))
        .await;
    let c1 = w
        .put(&log_key(None, C, "1200"), log_file(C, "ListBuckets"))
        .await;
    let bytes =
        b1["s3"]["object"]["size"].as_u64().unwrap() + b2["s3"]["object"]["size"].as_u64().unwrap();
    let forwarder = w.forwarder(&[&b_bucket, &missing], &[&b_queue]).await;
    let event = batch(&[b1, b2, c1]);

    let capture = Capture::default();
    let response = capture
        .around(forwarder.handle_event(event.clone()))
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m2"}]})
    );
    let lines = capture.lines();
    assert_eq!(
        extracted(&lines),
        BTreeMap::from([
            metric(&copy, Some("copy"), "FilesDelivered", 2),
            metric(&copy, Some("copy"), "CopyBytes", bytes),
            metric(&copy, Some("notify"), "FilesDelivered", 2),
            metric(&tag, Some("tag"), "FilesDelivered", 2),
            metric(&broken, Some("copy"), "FilesFailed", 1),
        ]),
        "{lines:#?}"
    );
    // One metric line per share and mode, ahead of the invocation's
    // summary, whose fields are as they were (plus the level).
    assert_eq!(events(&lines, "metrics").len(), 4);
    assert_eq!(
        lines.last().unwrap(),
        &json!({"event": "summary", "level": "INFO", "objects": 3, "processed": 2, "skipped": 0,
                "failed": 1, "messages": 3, "failed_messages": 1})
    );
    // Per target: the event, target and outcome at the top level, a failure
    // a retry will not cure at ERROR.
    let targets = events(&lines, "target");
    assert_eq!(targets.len(), 2 + 2 + 2 + 1, "{targets:#?}");
    let failed = targets
        .iter()
        .find(|t| t["outcome"] == "failed")
        .expect("the missing bucket's target line");
    assert_eq!(
        failed["target"],
        format!("copy to s3://{missing}/{}", log_key(None, C, "1200"))
    );
    assert_eq!(failed["retryable"], false);
    assert_eq!(failed["level"], "ERROR");
    assert!(targets
        .iter()
        .filter(|t| t["outcome"] == "done")
        .all(|t| t["level"] == "INFO"));

    // The same batch again (SQS delivers at least once): the tag and the
    // copies are there already, so skipped; the announcement goes again.
    let capture = Capture::default();
    capture.around(forwarder.handle_event(event)).await.unwrap();
    assert_eq!(
        extracted(&capture.lines()),
        BTreeMap::from([
            metric(&copy, Some("copy"), "FilesSkipped", 2),
            metric(&copy, Some("notify"), "FilesDelivered", 2),
            metric(&tag, Some("tag"), "FilesSkipped", 2),
            metric(&broken, Some("copy"), "FilesFailed", 1),
        ])
    );
}

#[tokio::test]
async fn backfill_work_and_a_deleted_source_are_counted_for_their_share() {
    let w = world().await;
    let tag = w
        .share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;
    for stamp in ["0100", "0200", "0300"] {
        w.put(&log_key(None, B, stamp), log_file(B, "x")).await;
    }
    let forwarder = w.forwarder(&[], &[]).await;
    // One page of one folder's day of backfill for the share, as the
    // fan-out queues it (the folder and day of log_key's files).
    let day = trailshare::backfill::Work::Files {
        share: tag.clone(),
        run: None,
        account: B.to_string(),
        day: "2024-05-01".to_string(),
        folder: format!("AWSLogs/{B}/CloudTrail/us-east-1/"),
        after: None,
    };
    let message = sqs_event(&[day.to_body()]);
    let capture = Capture::default();
    let response = capture
        .around(forwarder.handle_event(message))
        .await
        .unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    assert_eq!(
        extracted(&capture.lines()),
        BTreeMap::from([
            metric(&tag, None, "BackfillItems", 1),
            metric(&tag, None, "BackfillFiles", 3),
            metric(&tag, Some("tag"), "FilesDelivered", 3),
        ]),
        "{:#?}",
        capture.lines()
    );

    // A file deleted before the forwarder ran: skipped, with a warning.
    let gone = w.put(&log_key(None, B, "0400"), log_file(B, "x")).await;
    s3(&w.admin)
        .delete_object()
        .bucket(&w.bucket)
        .key(gone["s3"]["object"]["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let capture = Capture::default();
    capture
        .around(forwarder.handle_event(batch(&[gone])))
        .await
        .unwrap();
    let lines = capture.lines();
    assert_eq!(
        extracted(&lines),
        BTreeMap::from([metric(&tag, Some("tag"), "FilesSkipped", 1)])
    );
    let target = events(&lines, "target");
    assert_eq!(
        (target[0]["outcome"].as_str(), target[0]["level"].as_str()),
        (Some("source_gone"), Some("WARN"))
    );
}

#[tokio::test]
async fn a_damaged_shares_files_fail_under_mode_damaged() {
    let w = world().await;
    let tag = w
        .share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;
    // Its route rewritten outside the API, with a seal the stack never made.
    let spec = trailshare::share::validate(
        &json!({"name": tag, "grantee_account": B, "delivery": {"mode": "tag"}}),
        None,
        &w.bucket,
    )
    .unwrap();
    let route = serde_json::to_string(&trailshare::route::Route::from(&spec)).unwrap();
    aws_sdk_iam::Client::new(&w.admin)
        .update_role()
        .role_name(format!("trailshare-{tag}"))
        .description(format!("trailshare route v2 {}= {route}", "A".repeat(43)))
        .send()
        .await
        .unwrap();
    let file = w.put(&log_key(None, B, "0500"), log_file(B, "x")).await;
    let forwarder = w.forwarder(&[], &[]).await;
    let capture = Capture::default();
    let response = capture
        .around(forwarder.handle_event(batch(&[file])))
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m0"}]})
    );
    let lines = capture.lines();
    assert_eq!(
        extracted(&lines),
        BTreeMap::from([metric(&tag, Some("damaged"), "FilesFailed", 1)])
    );
    // The operator's filter `{ $.event = "share_damaged" }` matches a
    // top-level member.
    let damaged = events(&lines, "share_damaged");
    assert!(!damaged.is_empty(), "{lines:#?}");
    assert_eq!(damaged[0]["share"], tag.as_str());
    assert_eq!(damaged[0]["level"], "ERROR");
    assert_eq!(damaged[0]["claims"], json!([B]));
}

/// A denied AssumeRole of a share role in A's log file (AWS's documented
/// record, tests/fixtures/activity) is an alert line whose fields the
/// template's metric filter (`{ $.event = "denied_assume" }`, value
/// `$.count`) reads at the top level; the allowed one is not.
#[tokio::test]
async fn a_denied_assumption_of_a_share_role_is_an_alert_line() {
    let w = world().await;
    let activity = w.aws.bucket(A, "activity").await;
    let mut config = w.config.clone();
    config.activity_bucket = Some(activity);
    config.owner_account = Some(A.into());
    let share = w.share(json!({"grantee_account": B})).await;
    let place = stand_in::ActivityPlace {
        path: &config.share_role_path,
        share: &share,
        bucket: &w.bucket,
        key: "",
    };
    let records: Vec<Value> = ["assume-role-cross-account", "assume-role-denied"]
        .iter()
        .map(|name| stand_in::activity_record(name, &place))
        .collect();
    let key = log_key(None, A, "1400");
    put_log(
        &s3(&w.admin),
        &w.bucket,
        &key,
        stand_in::records_file(json!(records)),
    )
    .await;
    let forwarder = Forwarder::new(
        IamRoles::from_sdk(&w.admin),
        S3Objects::new(&w.admin),
        config,
        stand_in::share_key(),
    );
    let object = trailshare::events::CreatedObject {
        bucket: w.bucket.clone(),
        key: key.clone(),
        etag: None,
        size: None,
    };
    let capture = Capture::default();
    let outcome = capture.around(forwarder.process(&object)).await;
    assert!(
        matches!(outcome, forwarder::Outcome::Processed { .. }),
        "{outcome:?}"
    );
    let lines = capture.lines();
    let alerts = events(&lines, "denied_assume");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let alert = &alerts[0];
    assert_eq!(alert["share"], share.as_str());
    assert_eq!(alert["count"], 1);
    assert_eq!(alert["level"], "WARN");
    assert_eq!(
        (&alert["account"], &alert["principal"], &alert["error_code"]),
        (
            &json!("777788889999"),
            &json!("AIDAQRSTUVWXYZEXAMPLE"),
            &json!("AccessDenied")
        )
    );
    assert_eq!(alert["session_name"], "JohnDoe-EC2-dev");
    assert_eq!(alert["source_ip"], "192.0.2.101");
    assert_eq!(alert["key"], key);
}
