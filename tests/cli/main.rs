//! The real `trailshare` binary, end to end: admin commands signed with
//! SigV4 through a local API Gateway stand-in (which checks every
//! signature) to the real provisioner on moto; `pull` against moto's S3 and
//! STS with IAM enforcement on, its S3 requests read back from moto's log.

mod admin;
mod credentials;
mod pull;
mod resume;
mod signing;
mod verify;

use std::path::Path;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::api_gateway::{handler, ApiGateway, TestKey};
use stand_in::binary::{run, Run};
use stand_in::{config, repo_root, s3, stand_in, unique, StandIn, A, B, C};
use trailshare::aws::IamRoles;

const ADMIN_ID: &str = "AKIATESTPLATFORMADM1";
const ADMIN_SECRET: &str = "platform-admin-secret";
const ADMIN_ARN: &str = "arn:aws:iam::111111111111:user/platform-admin";
const ORG: &str = "o-abcdefghij";
/// A signer the gateway knows who is not in ADMIN_PRINCIPALS.
const READER_ID: &str = "AKIATESTREADER000001";
const READER_SECRET: &str = "reader-secret";

/// The provisioner's IAM actions (moto judges actions against `*`).
fn provisioner_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
        "iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy", "iam:ListRolePolicies",
        "iam:TagRole", "iam:UntagRole", "iam:ListRoleTags", "iam:ListRoles", "sqs:SendMessage", "sqs:SendMessageBatch"]}]})
}

/// A trail bucket in A and the real provisioner behind the gateway, with
/// the forwarder's queue (where backfill work goes).
struct World {
    aws: &'static StandIn,
    bucket: String,
    queue: String,
    gateway: ApiGateway,
}

async fn world() -> World {
    let aws = stand_in();
    let bucket = aws.bucket(A, "trail").await;
    let queue = aws_sdk_sqs::Client::new(&aws.admin(A).await)
        .create_queue()
        .queue_name(unique("forwarder"))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    let path = format!("/{}/", unique("trailshare"));
    let config = config(&[
        ("FORWARDER_QUEUE_URL", queue.clone()),
        ("TRAIL_BUCKET", bucket.clone()),
        ("SHARE_ROLE_PATH", path),
        ("ORGANIZATION_ID", ORG.to_string()),
        ("ADMIN_PRINCIPALS", ADMIN_ARN.to_string()),
    ]);
    let user = aws
        .user(A, &unique("provisioner"), &provisioner_policy())
        .await;
    let provisioner = Arc::new(
        Provisioner::new(IamRoles::from_sdk(&user), config, stand_in::share_key())
            .with_queue(trailshare::aws::SqsQueue::new(&user, &queue)),
    );
    let gateway = ApiGateway::start(
        vec![
            TestKey::new(ADMIN_ID, ADMIN_SECRET, ADMIN_ARN),
            TestKey::new(
                READER_ID,
                READER_SECRET,
                &format!("arn:aws:iam::{A}:user/reader"),
            ),
        ],
        handler(move |event| {
            let provisioner = provisioner.clone();
            async move { provisioner.handle_event(event).await }
        }),
    );
    World {
        aws,
        bucket,
        queue,
        gateway,
    }
}

impl World {
    /// `trailshare <args> --api <gateway>` signed with the admin's key.
    fn admin(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--api", &self.gateway.url]);
        run(
            &all,
            &[
                ("AWS_ACCESS_KEY_ID", ADMIN_ID),
                ("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET),
            ],
        )
    }

    fn create(&self, args: &[&str]) -> Value {
        let mut all = vec!["shares", "create", "--json"];
        all.extend_from_slice(args);
        let out = self.admin(&all);
        assert_eq!(out.code, 0, "{out:?}");
        out.json()
    }
}

// ---- pull: the trail bucket's files, and what pull made of them ------------

/// A log-file key under `root` (`AWSLogs/` plus `<org>/` for the
/// organization layout).
fn key(root: &str, account: &str, region: &str, day: &str, stamp: &str) -> String {
    let compact = day.replace('/', "");
    format!("{root}{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{compact}T{stamp}Z_Ab12.json.gz")
}

fn digest(account: &str, day: &str) -> String {
    let compact = day.replace('/', "");
    format!("AWSLogs/{account}/CloudTrail-Digest/us-east-1/{day}/{account}_CloudTrail-Digest_us-east-1_main_us-east-1_{compact}T120500Z.json.gz")
}

/// The trail bucket's files: B's in both layouts, regions and days, one
/// day outside the window, C's and A's, and B's digest with its signature.
struct Files {
    /// B's files in the window 2024-05-01..02, digest included.
    b: Vec<String>,
    b_outside: String,
    all: Vec<String>,
}

async fn put_files(aws: &StandIn, bucket: &str) -> Files {
    let org_root = format!("AWSLogs/{ORG}/");
    let b = vec![
        key("AWSLogs/", B, "us-east-1", "2024/05/01", "1200"),
        key("AWSLogs/", B, "us-east-1", "2024/05/01", "1205"),
        key("AWSLogs/", B, "eu-west-1", "2024/05/02", "0005"),
        key(&org_root, B, "us-east-1", "2024/05/02", "2355"),
        digest(B, "2024/05/01"),
    ];
    let b_outside = key("AWSLogs/", B, "us-east-1", "2024/04/30", "2355");
    let others = vec![
        key("AWSLogs/", C, "us-east-1", "2024/05/01", "1200"),
        key(&org_root, C, "us-east-1", "2024/05/01", "1200"),
        key("AWSLogs/", A, "us-east-1", "2024/05/01", "1200"),
    ];
    let client = s3(&aws.admin(A).await);
    let mut all = b.clone();
    all.push(b_outside.clone());
    all.extend(others);
    for (i, k) in all.iter().enumerate() {
        let mut put = client
            .put_object()
            .bucket(bucket)
            .key(k)
            .body(content(k, i).into_bytes().into());
        if k.contains("Digest") {
            put = put
                .metadata("signature", "9d0a4c3e8f")
                .metadata("signing-algorithm", "SHA256withRSA");
        }
        put.send().await.expect("put file");
    }
    Files { b, b_outside, all }
}

/// Each file's distinct bytes (sizes differ too).
fn content(key: &str, i: usize) -> String {
    format!("{key}\n{}", "x".repeat(i * 37))
}

/// A grantee user in `account` allowed to assume the share's role; its keys.
async fn grantee_keys(aws: &StandIn, account: &str, share: &Value) -> (String, String) {
    let config: SdkConfig = aws
        .user(
            account,
            &unique("grantee"),
            &share["grantee_setup"]["identity_policy"],
        )
        .await;
    let key = config
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    )
}

fn pull(keys: &(String, String), url: &str, args: &[&str]) -> Run {
    let mut all = vec!["pull"];
    all.extend_from_slice(args);
    run(
        &all,
        &[
            ("AWS_ACCESS_KEY_ID", &keys.0),
            ("AWS_SECRET_ACCESS_KEY", &keys.1),
            ("AWS_ENDPOINT_URL", url),
        ],
    )
}

/// Every file under `dir`, as keys relative to it, but pull's record of the
/// window it fetched (checked in `pull_takes_only_cloudtrails_keys…`).
fn local_files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.ends_with(trailshare::integrity::PULL_RECORD) {
                continue;
            }
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(
                    path.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

/// The S3 requests moto served for `bucket` (method, decoded target), from
/// its request log (`target/moto-<pid>/log`, written by scripts/moto.sh).
fn s3_requests(bucket: &str) -> Vec<(String, String)> {
    let log = repo_root()
        .join("target")
        .join(format!("moto-{}", std::process::id()))
        .join("log");
    let text = std::fs::read_to_string(log).expect("moto's log");
    let prefix = format!("/{bucket}");
    text.lines()
        .filter_map(|line| {
            let request = without_colours(line.split('"').nth(1)?);
            let mut parts = request.split(' ');
            let (method, target) = (parts.next()?, parts.next()?);
            (target == prefix
                || target.starts_with(&format!("{prefix}/"))
                || target.starts_with(&format!("{prefix}?")))
            .then(|| (method.to_string(), target.to_string()))
        })
        .collect()
}

/// werkzeug colours the lines of failed requests (ESC [ … m).
fn without_colours(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}
