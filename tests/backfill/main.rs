//! Backfill runs on the stand-in, with IAM enforcement on: the forwarder
//! binary under a fake Lambda runtime whose deadline is short finishes a
//! 17-region day with nothing dead-lettered, lost or done twice; a run's
//! counts (queued, done, failed items; delivered, already done files), a
//! repeated run that costs one read a file, a cancelled run whose items do
//! nothing, a forged run object that steers nothing; and the CLI's
//! `backfill --wait`.

mod cli;
mod deadline;
mod runs;

use aws_config::SdkConfig;
use forwarder::Forwarder;
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::fault_proxy::FaultProxy;
use stand_in::lambda::{Answer, QueueTrigger};
use stand_in::{s3, stand_in, unique, StandIn, A, B};
use trailshare::aws::{IamRoles, S3Objects, S3Runs, SqsQueue};
use trailshare::config::Config;

pub(crate) const ADMIN: &str = "arn:aws:iam::111111111111:user/admin";
pub(crate) const DAY: &str = "2024-05-01";

/// The stack on the stand-in: trail and runs buckets, the forwarder queue
/// and its dead-letter queue (5 receives), the share secret, and the
/// provisioner (in process) that starts, shows and cancels runs.
pub(crate) struct World {
    pub(crate) aws: &'static StandIn,
    pub(crate) admin: SdkConfig,
    pub(crate) trail: String,
    pub(crate) runs: String,
    pub(crate) queue: String,
    pub(crate) dlq: String,
    pub(crate) vars: Vec<(&'static str, String)>,
    pub(crate) api: Provisioner<IamRoles, SqsQueue>,
}

pub(crate) async fn world(visibility_seconds: u32) -> World {
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
        // On its last receive a failed message goes to the dead-letter
        // queue; a backfill item failed then counts as failed.
        ("DEAD_LETTER_QUEUE_URL", dlq.clone()),
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

pub(crate) fn config(vars: &[(&str, String)]) -> Config {
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("config")
}

/// An API Gateway event from `caller`; (status, body).
pub(crate) async fn call<Q: trailshare::ports::WorkQueue, P: trailshare::ports::RolePaths>(
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
    pub(crate) async fn api(&self, method: &str, path: &str, body: Value) -> (u64, Value) {
        call(&self.api, ADMIN, method, path, body).await
    }

    /// A tag share for B's files; its name.
    pub(crate) async fn share(&self) -> String {
        let name = unique("bu-b");
        let body = json!({"name": name, "grantee_account": B, "delivery": {"mode": "tag"}});
        let (status, share) = self.api("POST", "/shares", body).await;
        assert_eq!(status, 201, "{share}");
        name
    }

    /// Starts a run over `DAY`; its id.
    pub(crate) async fn backfill(&self, share: &str) -> String {
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

    pub(crate) async fn run(&self, share: &str, id: &str) -> Value {
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
    pub(crate) async fn files(&self, regions: &[&str], count: usize) -> Vec<String> {
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

    /// Someone other than the stack rewrites run `id`: a cancel, the seal
    /// left as it was.
    pub(crate) async fn forge_cancel(&self, share: &str, id: &str) {
        let key = format!("runs/{share}/{id}.json");
        let s3 = s3(&self.admin);
        let stored = s3
            .get_object()
            .bucket(&self.runs)
            .key(&key)
            .send()
            .await
            .unwrap();
        let bytes = stored.body.collect().await.unwrap().into_bytes();
        let mut stored: Value = serde_json::from_slice(&bytes).unwrap();
        stored["run"]["cancelled_at"] = json!("2024-05-02T00:00:00Z");
        let body = stored.to_string().into_bytes();
        s3.put_object()
            .bucket(&self.runs)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }

    /// The environment of the forwarder binary: the stack's variables, the
    /// forwarder's keys, and `endpoint` (the stand-in, or a proxy to it).
    pub(crate) async fn forwarder_env(&self, endpoint: &str) -> Vec<(&'static str, String)> {
        let user = self.forwarder_user().await;
        let mut env = self.vars.clone();
        env.extend(stand_in::binary_env(&user, endpoint).await);
        env
    }

    pub(crate) async fn tagged(&self, key: &str) -> bool {
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

    pub(crate) async fn dead_letters(&self) -> usize {
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
    pub(crate) async fn forwarder_user(&self) -> SdkConfig {
        let arn = |url: &str| {
            let name = url.rsplit('/').next().unwrap();
            format!("arn:aws:sqs:{}:{A}:{name}", stand_in::REGION)
        };
        let (queue_arn, dlq_arn) = (arn(&self.queue), arn(&self.dlq));
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"],
             "Resource": format!("arn:aws:s3:::{}/AWSLogs/*", self.trail)},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{}", self.trail)},
            {"Effect": "Allow", "Action": ["iam:ListRoles", "iam:GetRole"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:SendMessageBatch"], "Resource": [queue_arn, dlq_arn]},
            // moto judges GetSecretValue against "*", not the secret's ARN.
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": format!("arn:aws:s3:::{}/runs/*", self.runs)},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{}", self.runs)}]});
        self.aws.user(A, &unique("forwarder"), &policy).await
    }

    /// The forwarder in process, through `proxy`, counting runs.
    pub(crate) async fn forwarder(
        &self,
        proxy: &FaultProxy,
    ) -> Forwarder<IamRoles, S3Objects, SqsQueue> {
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
pub(crate) async fn drain(
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
pub(crate) fn tagging_calls(log: &[String], method: &str, bucket: &str, key: &str) -> usize {
    let start = format!("s3 {method} /{bucket}/{key}?");
    log.iter()
        .filter(|l| l.starts_with(&start) && l.contains("tagging"))
        .count()
}
