//! Backfill runs on the stand-in, with IAM enforcement on: the forwarder
//! binary under a fake Lambda runtime whose deadline is short finishes a
//! 17-region day with nothing dead-lettered, lost or done twice; a run's
//! counts (queued, done, failed items; delivered, already done files), a
//! repeated run that costs one read a file, a cancelled run whose items do
//! nothing, a forged run object that steers nothing; and the CLI's
//! `backfill --wait`.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use forwarder::Forwarder;
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::api_gateway::{handler, ApiGateway, TestKey};
use stand_in::fault_proxy::FaultProxy;
use stand_in::lambda::{Answer, Function, QueueTrigger};
use stand_in::{s3, stand_in, unique, StandIn, A, B};
use trailshare::aws::{IamRoles, S3Objects, S3Runs, SqsQueue};
use trailshare::config::Config;

const ADMIN: &str = "arn:aws:iam::111111111111:user/admin";
const DAY: &str = "2024-05-01";

/// The stack on the stand-in: trail and runs buckets, the forwarder queue
/// and its dead-letter queue (5 receives), the share secret, and the
/// provisioner (in process) that starts, shows and cancels runs.
struct World {
    aws: &'static StandIn,
    admin: SdkConfig,
    trail: String,
    runs: String,
    queue: String,
    dlq: String,
    vars: Vec<(&'static str, String)>,
    api: Provisioner<IamRoles, SqsQueue>,
}

async fn world(visibility_seconds: u32) -> World {
    let aws = stand_in();
    let admin = aws.admin(A).await;
    let trail = aws.bucket(A, "trail").await;
    let runs = aws.bucket(A, "runs").await;
    let sqs = aws_sdk_sqs::Client::new(&admin);
    let create = |name: String| sqs.create_queue().queue_name(name);
    let dlq = create(unique("dlq"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = format!(
        "arn:aws:sqs:{}:{A}:{}",
        stand_in::REGION,
        dlq.rsplit('/').next().unwrap()
    );
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}).to_string();
    let queue = create(unique("forwarder"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            redrive,
        )
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            visibility_seconds.to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let secret = stand_in::create_share_secret(&admin).await;
    let vars = vec![
        ("TRAIL_BUCKET", trail.clone()),
        ("SHARE_ROLE_PATH", format!("/{}/", unique("trailshare"))),
        ("SHARE_CACHE_SECONDS", "0".to_string()),
        ("ADMIN_PRINCIPALS", ADMIN.to_string()),
        ("FORWARDER_QUEUE_URL", queue.clone()),
        ("BACKFILL_BUCKET", runs.clone()),
        ("SHARE_SECRET_ARN", secret.clone()),
        ("MAX_RECEIVES", "5".to_string()),
    ];
    let config = config(&vars);
    let api = Provisioner::new(IamRoles::from_sdk(&admin), config, stand_in::share_key())
        .with_queue(SqsQueue::new(&admin, &queue))
        .with_runs(S3Runs::new(&admin, &runs));
    World {
        aws,
        admin,
        trail,
        runs,
        queue,
        dlq,
        vars,
        api,
    }
}

fn config(vars: &[(&str, String)]) -> Config {
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("config")
}

/// An API Gateway event from `caller`; (status, body).
async fn call<Q: trailshare::ports::WorkQueue, P: trailshare::ports::RolePaths>(
    api: &Provisioner<IamRoles, Q, P>,
    caller: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (u64, Value) {
    let response = api
        .handle_event(stand_in::api_event(method, path, &body, caller))
        .await;
    let body = response["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (response["statusCode"].as_u64().unwrap_or(0), body)
}

impl World {
    async fn api(&self, method: &str, path: &str, body: Value) -> (u64, Value) {
        call(&self.api, ADMIN, method, path, body).await
    }

    /// A tag share for B's files; its name.
    async fn share(&self) -> String {
        let name = unique("bu-b");
        let body = json!({"name": name, "grantee_account": B, "delivery": {"mode": "tag"}});
        let (status, share) = self.api("POST", "/shares", body).await;
        assert_eq!(status, 201, "{share}");
        name
    }

    /// Starts a run over `DAY`; its id.
    async fn backfill(&self, share: &str) -> String {
        let window = json!({"from": DAY, "until": DAY});
        let (status, answer) = self
            .api("POST", &format!("/shares/{share}/backfill"), window)
            .await;
        assert_eq!(status, 202, "{answer}");
        answer["backfill"]["id"]
            .as_str()
            .expect("the run's id")
            .to_string()
    }

    async fn run(&self, share: &str, id: &str) -> Value {
        let (status, run) = self
            .api(
                "GET",
                &format!("/shares/{share}/backfill/{id}"),
                Value::Null,
            )
            .await;
        assert_eq!(status, 200, "{run}");
        run
    }

    /// `count` log files of B on `DAY` in each of `regions`; their keys.
    async fn files(&self, regions: &[&str], count: usize) -> Vec<String> {
        let s3 = s3(&self.admin);
        let mut keys = Vec::new();
        for region in regions {
            for n in 0..count {
                let key = format!(
                    "AWSLogs/{B}/CloudTrail/{region}/2024/05/01/{B}_CloudTrail_{region}_20240501T{:02}{:02}Z_Bf{n}.json.gz",
                    n / 12,
                    (n % 12) * 5
                );
                keys.push(key);
            }
        }
        let puts = keys
            .iter()
            .map(|key| stand_in::put_log(&s3, &self.trail, key, b"{}".to_vec()));
        futures_util::future::join_all(puts).await;
        keys
    }

    async fn tagged(&self, key: &str) -> bool {
        let tags = s3(&self.admin)
            .get_object_tagging()
            .bucket(&self.trail)
            .key(key)
            .send()
            .await
            .unwrap()
            .tag_set;
        tags.iter()
            .any(|t| t.key == "trailshare:account" && t.value == B)
    }

    async fn dead_letters(&self) -> usize {
        aws_sdk_sqs::Client::new(&self.admin)
            .receive_message()
            .queue_url(&self.dlq)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
            .len()
    }

    /// A user of A with the forwarder's permissions (as the template grants).
    async fn forwarder_user(&self) -> SdkConfig {
        let queue_arn = format!(
            "arn:aws:sqs:{}:{A}:{}",
            stand_in::REGION,
            self.queue.rsplit('/').next().unwrap()
        );
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"],
             "Resource": format!("arn:aws:s3:::{}/AWSLogs/*", self.trail)},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{}", self.trail)},
            {"Effect": "Allow", "Action": ["iam:ListRoles", "iam:GetRole"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:SendMessageBatch"], "Resource": queue_arn},
            // moto judges GetSecretValue against "*", not the secret's ARN.
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": format!("arn:aws:s3:::{}/runs/*", self.runs)},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{}", self.runs)}]});
        self.aws.user(A, &unique("forwarder"), &policy).await
    }

    /// The forwarder in process, through `proxy`, counting runs.
    async fn forwarder(&self, proxy: &FaultProxy) -> Forwarder<IamRoles, S3Objects, SqsQueue> {
        let user = proxy.config(&self.forwarder_user().await);
        Forwarder::new(
            IamRoles::from_sdk(&user),
            S3Objects::new(&user),
            config(&self.vars),
            stand_in::share_key(),
        )
        .with_queue(SqsQueue::new(&user, &self.queue))
        .with_runs(S3Runs::new(&user, &self.runs))
    }
}

/// Drains the queue through an in-process forwarder (no deadline).
async fn drain(
    w: &World,
    forwarder: &Forwarder<IamRoles, S3Objects, SqsQueue>,
) -> stand_in::lambda::Drained {
    QueueTrigger::new(&w.admin, &w.queue)
        .drain_with(|event| async move {
            match forwarder.handle_event(event).await {
                Ok(reply) => Answer::Response(reply),
                Err(error) => Answer::Error(json!(error.to_string())),
            }
        })
        .await
}

/// How many requests in the proxy's log were `METHOD /<bucket>/<key>?…tagging`.
fn tagging_calls(log: &[String], method: &str, bucket: &str, key: &str) -> usize {
    let start = format!("s3 {method} /{bucket}/{key}?");
    log.iter()
        .filter(|l| l.starts_with(&start) && l.contains("tagging"))
        .count()
}

/// Issue item 1: a day of 17 regions, a forwarder whose invocations get a
/// 2 s deadline (Lambda-Runtime-Deadline-Ms from the fake runtime): more
/// work than one invocation can finish (so the budget must stop taking
/// work and report the rest), nothing dead-lettered, every file delivered,
/// and each exactly once (one read and one write of its tags: nothing done
/// is redone). Without the budget every batch outlives its deadline: all of
/// it is retried (the reads and writes repeat) and dead-lettered after five.
#[tokio::test]
async fn a_17_region_day_finishes_under_a_short_deadline_with_nothing_lost_or_done_twice() {
    let w = world(3).await;
    let regions = [
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "ca-central-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-central-1",
        "eu-north-1",
        "ap-south-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-southeast-1",
        "ap-southeast-2",
        "sa-east-1",
    ];
    let keys = w.files(&regions, 16).await;
    let share = w.share().await;
    let id = w.backfill(&share).await;

    let proxy = FaultProxy::start(&w.aws.url);
    let user = w.forwarder_user().await;
    let credentials = user
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    let mut env = w.vars.clone();
    env.extend([
        ("AWS_ENDPOINT_URL", proxy.url.clone()),
        ("AWS_REGION", stand_in::REGION.to_string()),
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id().to_string()),
        (
            "AWS_SECRET_ACCESS_KEY",
            credentials.secret_access_key().to_string(),
        ),
    ]);
    let function = Function::start("forwarder", &env);
    let drained = QueueTrigger::new(&w.admin, &w.queue)
        .drain(&function, Duration::from_secs(2))
        .await;

    assert_eq!((drained.timeouts, drained.errors), (0, 0), "{drained:?}");
    assert!(
        drained.reported_failures > 0,
        "some batch held more than one deadline's work, and the budget handed it back: {drained:?}"
    );
    assert_eq!(
        w.dead_letters().await,
        0,
        "nothing dead-lettered: {drained:?}"
    );
    let log = proxy.counts().log;
    for key in &keys {
        assert!(w.tagged(key).await, "lost: {key}");
        assert_eq!(
            tagging_calls(&log, "PUT", &w.trail, key),
            1,
            "delivered once: {key}"
        );
        assert_eq!(
            tagging_calls(&log, "GET", &w.trail, key),
            1,
            "not redone: {key}"
        );
    }
    let run = w.run(&share, &id).await;
    assert_eq!(run["state"], "done", "{run}");
    // One account, one day, 17 folders.
    assert_eq!(
        run["items"],
        json!({"queued": 19, "done": 19, "failed": 0}),
        "{run}"
    );
    assert_eq!(
        run["files"],
        json!({"delivered": keys.len(), "already_done": 0, "skipped": 0, "failed": 0})
    );
    println!("17 regions x 16 files under a 2 s deadline: {drained:?}");
}

/// Issue item 2: a run shows its items and files until done; a repeated
/// run of a window already done costs one read a file and says so; a
/// cancelled run's items do nothing; a run object forged by someone else
/// (a cancel, here) is not believed; bad requests name the field.
#[tokio::test]
async fn a_run_counts_its_work_a_repeat_costs_a_read_a_file_and_a_cancel_stops_it() {
    let w = world(30).await;
    let keys = w.files(&["us-east-1", "eu-west-1"], 3).await;
    let share = w.share().await;
    let proxy = FaultProxy::start(&w.aws.url);
    let forwarder = w.forwarder(&proxy).await;

    let first = w.backfill(&share).await;
    let run = w.run(&share, &first).await;
    assert_eq!(
        (run["state"].as_str(), &run["items"]),
        (
            Some("running"),
            &json!({"queued": 1, "done": 0, "failed": 0})
        )
    );
    assert_eq!(
        (
            run["share"].as_str(),
            run["from"].as_str(),
            run["created_by"].as_str()
        ),
        (Some(share.as_str()), Some(DAY), Some(ADMIN))
    );
    drain(&w, &forwarder).await;
    let run = w.run(&share, &first).await;
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(
        run["items"],
        json!({"queued": 4, "done": 4, "failed": 0}),
        "account, day, two folders"
    );
    assert_eq!(
        run["files"],
        json!({"delivered": 6, "already_done": 0, "skipped": 0, "failed": 0})
    );

    // The same window again: every file is already done, at one read each.
    let before = proxy.counts().log.len();
    let again = w.backfill(&share).await;
    drain(&w, &forwarder).await;
    let run = w.run(&share, &again).await;
    assert_eq!(
        run["files"],
        json!({"delivered": 0, "already_done": 6, "skipped": 0, "failed": 0})
    );
    let log = proxy.counts().log[before..].to_vec();
    for key in &keys {
        assert_eq!(tagging_calls(&log, "GET", &w.trail, key), 1, "{key}");
        assert_eq!(tagging_calls(&log, "PUT", &w.trail, key), 0, "{key}");
    }

    // Cancelled before the forwarder ran: its items do nothing.
    let late = w.files(&["ap-south-1"], 1).await;
    let cancelled = w.backfill(&share).await;
    let path = format!("/shares/{share}/backfill/{cancelled}");
    let (status, run) = w.api("DELETE", &path, Value::Null).await;
    assert_eq!(
        (status, run["state"].as_str()),
        (200, Some("cancelled")),
        "{run}"
    );
    assert_eq!(run["cancelled_by"], ADMIN);
    drain(&w, &forwarder).await;
    assert!(
        !w.tagged(&late[0]).await,
        "a cancelled run delivered nothing"
    );
    let run = w.run(&share, &cancelled).await;
    assert_eq!(
        (run["state"].as_str(), &run["items"]["done"]),
        (Some("cancelled"), &json!(0))
    );

    // Someone else writes the run object (a cancel): not believed, by the
    // API (409) nor by the forwarder (the work is done, uncounted).
    let forged_id = w.backfill(&share).await;
    let key = format!("runs/{share}/{forged_id}.json");
    let s3 = s3(&w.admin);
    let stored = s3
        .get_object()
        .bucket(&w.runs)
        .key(&key)
        .send()
        .await
        .unwrap();
    let mut stored: Value =
        serde_json::from_slice(&stored.body.collect().await.unwrap().into_bytes()).unwrap();
    stored["run"]["cancelled_at"] = json!("2024-05-02T00:00:00Z");
    s3.put_object()
        .bucket(&w.runs)
        .key(&key)
        .body(stored.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    let (status, error) = w
        .api(
            "GET",
            &format!("/shares/{share}/backfill/{forged_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(
        (
            status,
            error["error"]["code"].as_str(),
            error["error"]["field"].as_str()
        ),
        (409, Some("damaged"), Some("id")),
        "{error}"
    );
    drain(&w, &forwarder).await;
    assert!(
        w.tagged(&late[0]).await,
        "the forged cancel stopped nothing"
    );

    // Bad requests change nothing and name the field; reads need no admin,
    // a cancel does.
    for (method, id, status, field) in [
        ("GET", "not-a-run-id", 400, "id"),
        ("GET", "0123456789ABCDEF01234567", 400, "id"),
        ("GET", "ffffffffffffffffffffffff", 404, "id"),
        ("DELETE", "ffffffffffffffffffffffff", 404, "id"),
    ] {
        let (got, error) = w
            .api(
                method,
                &format!("/shares/{share}/backfill/{id}"),
                Value::Null,
            )
            .await;
        assert_eq!(
            (got, error["error"]["field"].as_str()),
            (status, Some(field)),
            "{method} {id}: {error}"
        );
    }
    let reader = format!("arn:aws:iam::{A}:user/reader");
    let (status, _) = call(
        &w.api,
        &reader,
        "GET",
        &format!("/shares/{share}/backfill/{first}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &w.api,
        &reader,
        "DELETE",
        &format!("/shares/{share}/backfill/{first}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 403);
    // Without BACKFILL_BUCKET runs are not kept: a GET says so.
    let mut vars = w.vars.clone();
    vars.retain(|(k, _)| *k != "BACKFILL_BUCKET");
    let unkept = Provisioner::new(
        IamRoles::from_sdk(&w.admin),
        config(&vars),
        stand_in::share_key(),
    );
    let (status, error) = call(
        &unkept,
        ADMIN,
        "GET",
        &format!("/shares/{share}/backfill/{first}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (503, Some("not_configured"))
    );
}

/// `trailshare shares backfill … --wait --json` follows the run until it is
/// done (here while the forwarder drains the queue) and prints it;
/// `backfill-status` and `backfill-cancel` show and cancel one.
#[tokio::test]
async fn the_cli_waits_for_a_run_and_shows_and_cancels_one() {
    const KEY: &str = "AKIATESTBACKFILLADM1";
    const SECRET: &str = "backfill-admin-secret";
    let w = world(30).await;
    w.files(&["us-east-1"], 2).await;
    let share = w.share().await;
    let proxy = FaultProxy::start(&w.aws.url);
    let forwarder = w.forwarder(&proxy).await;
    let api = Arc::new(
        Provisioner::new(
            IamRoles::from_sdk(&w.admin),
            config(&w.vars),
            stand_in::share_key(),
        )
        .with_queue(SqsQueue::new(&w.admin, &w.queue))
        .with_runs(S3Runs::new(&w.admin, &w.runs)),
    );
    let gateway = ApiGateway::start(
        vec![TestKey::new(KEY, SECRET, ADMIN)],
        handler(move |event| {
            let api = api.clone();
            async move { api.handle_event(event).await }
        }),
    );
    let cli = |args: Vec<String>| {
        let url = gateway.url.clone();
        tokio::task::spawn_blocking(move || {
            let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
            all.extend(["--api", &url]);
            stand_in::binary::run(
                &all,
                &[
                    ("AWS_ACCESS_KEY_ID", KEY),
                    ("AWS_SECRET_ACCESS_KEY", SECRET),
                ],
            )
        })
    };
    let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let waiting = cli(args(&[
        "shares", "backfill", &share, "--from", DAY, "--until", DAY, "--wait", "--every", "0.2",
        "--json",
    ]));
    // The run exists once its first item is on the queue: then drain.
    while stand_in::lambda::QueueTrigger::new(&w.admin, &w.queue)
        .visible()
        .await
        == 0
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drain(&w, &forwarder).await;
    let out = waiting.await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let run = out.json();
    assert_eq!(
        (run["state"].as_str(), &run["files"]["delivered"]),
        (Some("done"), &json!(2)),
        "{run}"
    );
    let id = run["id"].as_str().unwrap().to_string();

    let out = cli(args(&["shares", "backfill-status", &share, &id]))
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("done") && out.stdout.contains("delivered=2"),
        "{out:?}"
    );
    // A new run, not followed: its id and how to follow it; then cancelled.
    let out = cli(args(&[
        "shares", "backfill", &share, "--from", DAY, "--until", DAY,
    ]))
    .await
    .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let second = out
        .stdout
        .split_whitespace()
        .find(|w| trailshare::backfill::is_run_id(w))
        .expect("the id")
        .to_string();
    assert!(
        out.stdout
            .contains(&format!("backfill-status {share} {second} --wait")),
        "{out:?}"
    );
    let out = cli(args(&[
        "shares",
        "backfill-cancel",
        &share,
        &second,
        "--json",
    ]))
    .await
    .unwrap();
    assert_eq!(
        (out.code, out.json()["state"].as_str()),
        (0, Some("cancelled")),
        "{out:?}"
    );
    // Waiting for a cancelled run ends at once, and fails.
    let out = cli(args(&[
        "shares",
        "backfill-status",
        &share,
        &second,
        "--wait",
    ]))
    .await
    .unwrap();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("the run is cancelled"), "{out:?}");
    let out = cli(args(&[
        "shares",
        "backfill-status",
        &share,
        "ffffffffffffffffffffffff",
    ]))
    .await
    .unwrap();
    assert!(
        out.code != 0 && out.stderr.contains("error: 404 not_found (field id)"),
        "{out:?}"
    );
}
