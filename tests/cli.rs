//! The real `trailshare` binary, end to end: admin commands signed with
//! SigV4 through a local API Gateway stand-in (which checks every
//! signature) to the real provisioner on moto; `pull` against moto's S3 and
//! STS with IAM enforcement on, its S3 requests read back from moto's log.

use std::path::Path;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::api_gateway::{handler, ApiGateway, TestKey};
use stand_in::binary::{run, trailshare as trailshare_binary, Run};
use stand_in::{repo_root, s3, stand_in, unique, StandIn, A, B, C, Z};
use trailshare::aws::IamRoles;
use trailshare::config::Config;

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
    let vars = [
        ("FORWARDER_QUEUE_URL", queue.clone()),
        ("TRAIL_BUCKET", bucket.clone()),
        ("SHARE_ROLE_PATH", path),
        ("ORGANIZATION_ID", ORG.to_string()),
        ("ADMIN_PRINCIPALS", ADMIN_ARN.to_string()),
    ];
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("config");
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

/// The `next` token of a paged request's target, as sent (encoded).
fn page_token(target: &str) -> &str {
    target
        .split_once("&next=")
        .map(|(_, token)| token)
        .unwrap_or("<none>")
}

/// A failed command: non-zero, one line with status, code and field.
fn assert_api_error(out: &Run, status: u16, code: &str, field: Option<&str>) {
    assert_ne!(out.code, 0, "{out:?}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(
        line.starts_with(&format!("error: {status} {code}")),
        "{out:?}"
    );
    if let Some(field) = field {
        assert!(line.contains(&format!(" (field {field}): ")), "{out:?}");
    }
}

#[tokio::test]
async fn admin_commands_create_read_list_replace_and_delete_shares() {
    let w = world().await;

    // Role names are unique per account: every test names its shares.
    let (bu_b, auditor, bu_c) = (unique("bu-b"), unique("auditor-z"), unique("bu-c"));
    // Scenario 1 from flags: a table with the role and the grantee's command.
    let out = w.admin(&["shares", "create", "--name", &bu_b, "--grantee", B]);
    assert_eq!(out.code, 0, "{out:?}");
    let b_role = format!("trailshare-{bu_b}");
    assert!(out.stdout.contains(&b_role), "{out:?}");
    assert!(
        out.stdout.contains("aws sts assume-role --role-arn"),
        "{out:?}"
    );

    // Scenario 2 from flags, JSON out: every flag reached the API.
    let z = w.create(&[
        "--name",
        &auditor,
        "--grantee",
        Z,
        "--log-accounts",
        "*",
        "--external-id",
        "z-7f3a9c",
        "--principal",
        &format!("arn:aws:iam::{Z}:root"),
        "--max-session",
        "7200",
        "--delivery",
        "tag",
    ]);
    assert_eq!(z["name"], auditor.as_str());
    assert_eq!(z["log_accounts"], json!(["*"]));
    assert_eq!(z["external_id"], "z-7f3a9c");
    assert_eq!(z["max_session_seconds"], 7200);
    assert_eq!(
        z["grantee_principals"],
        json!([format!("arn:aws:iam::{Z}:root")])
    );
    assert_eq!(z["delivery"]["mode"], "tag");

    // get: table and JSON.
    let out = w.admin(&["shares", "get", &auditor]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("z-7f3a9c") && out.stdout.contains("mode=tag"),
        "{out:?}"
    );
    let out = w.admin(&["shares", "get", &auditor, "--json"]);
    assert_eq!(out.json()["role_arn"], z["role_arn"]);

    // list: both, sorted by name, as a table and as JSON.
    let out = w.admin(&["shares", "list"]);
    assert_eq!(out.code, 0, "{out:?}");
    let (first, second) = (
        out.stdout.find(&auditor).expect("Z listed"),
        out.stdout.find(&bu_b).expect("B listed"),
    );
    assert!(first < second, "{out:?}");
    let out = w.admin(&["shares", "list", "--json"]);
    let names: Vec<String> = out.json()["shares"]
        .as_array()
        .expect("shares")
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, [auditor.clone(), bu_b.clone()]);

    // Two pages of one: the provisioner's own next token is followed.
    let out = w.admin(&["shares", "list", "--page-size", "1", "--json"]);
    let paged: Vec<Value> = out.json()["shares"].as_array().expect("shares").clone();
    assert_eq!(paged.len(), 2, "{out:?}");
    assert_eq!(paged[0]["name"], auditor.as_str());
    assert_eq!(paged[1]["name"], bu_b.as_str());

    // put from flags replaces the whole share: the delivery is gone.
    let out = w.admin(&[
        "shares",
        "put",
        &auditor,
        "--json",
        "--grantee",
        Z,
        "--log-accounts",
        "*",
        "--external-id",
        "z-7f3a9c",
        "--max-session",
        "3600",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let replaced = out.json();
    assert_eq!(replaced["max_session_seconds"], 3600);
    assert!(
        replaced["delivery"].is_null() || replaced["delivery"]["mode"] == "none",
        "{replaced}"
    );

    // put from a file creates (201) a share of that name.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("share.json");
    std::fs::write(&file, json!({"grantee_account": C}).to_string()).unwrap();
    let out = w.admin(&[
        "shares",
        "put",
        &bu_c,
        "--json",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["grantee_account"], C);

    // delete, then the share is a 404.
    let out = w.admin(&["shares", "delete", &bu_c]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!("deleted share {bu_c}")),
        "{out:?}"
    );
    let out = w.admin(&["shares", "get", &bu_c]);
    assert_api_error(&out, 404, "not_found", Some("name"));

    // Every request was signed by the admin, JSON bodies typed as JSON, and
    // only the flags given were sent.
    let seen = w.gateway.seen();
    assert!(
        seen.iter().all(|s| s.caller.as_deref() == Some(ADMIN_ARN)),
        "{seen:?}"
    );
    let targets: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.target))
        .collect();
    assert_eq!(
        targets,
        [
            "POST /shares".to_string(),
            "POST /shares".to_string(),
            format!("GET /shares/{auditor}"),
            format!("GET /shares/{auditor}"),
            "GET /shares?limit=100".to_string(),
            "GET /shares?limit=100".to_string(),
            "GET /shares?limit=1".to_string(),
            format!("GET /shares?limit=1&next={}", page_token(&seen[7].target)),
            format!("PUT /shares/{auditor}"),
            format!("PUT /shares/{bu_c}"),
            format!("DELETE /shares/{bu_c}"),
            format!("GET /shares/{bu_c}"),
        ]
    );
    assert_eq!(
        serde_json::from_str::<Value>(&seen[0].body).unwrap(),
        json!({"name": bu_b, "grantee_account": B})
    );
    assert_eq!(
        serde_json::from_str::<Value>(&seen[9].body).unwrap(),
        json!({"grantee_account": C})
    );
    assert!(seen
        .iter()
        .filter(|s| !s.body.is_empty())
        .all(|s| s.content_type.as_deref() == Some("application/json")));
}

#[tokio::test]
async fn admin_errors_show_the_apis_code_message_and_field_and_fail() {
    let w = world().await;
    let taken = unique("bu-b");
    w.create(&["--name", &taken, "--grantee", B]);

    // Invalid: another account's logs without an external id.
    let out = w.admin(&[
        "shares",
        "create",
        "--name",
        "x",
        "--grantee",
        B,
        "--log-accounts",
        &format!("{B},{C}"),
    ]);
    assert_api_error(&out, 400, "", Some("external_id"));
    // A typo in a file is refused by the API, not dropped by the CLI.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("share.json");
    std::fs::write(
        &file,
        r#"{"grantee_account": "222222222222", "log_acounts": ["*"]}"#,
    )
    .unwrap();
    let out = w.admin(&["shares", "create", "--file", file.to_str().unwrap()]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("error: 400") && out.stderr.contains("log_acounts"),
        "{out:?}"
    );
    // The name is taken.
    let out = w.admin(&["shares", "create", "--name", &taken, "--grantee", B]);
    assert_api_error(&out, 409, "conflict", Some("name"));
    // With --json the API's error body is printed as it is.
    let out = w.admin(&["shares", "delete", "nobody", "--json"]);
    assert_api_error(&out, 404, "not_found", Some("name"));
    assert_eq!(out.json()["error"]["code"], "not_found");
    // A bad share name is the API's 400, path-encoded on the way.
    let out = w.admin(&["shares", "get", "Upper Case"]);
    assert_api_error(&out, 400, "", Some("name"));
    assert_eq!(
        w.gateway.seen().last().unwrap().target,
        "/shares/Upper%20Case"
    );

    let later = unique("later");
    // expires_at and notify go to the API as given; the exit status follows
    // the API's answer, whatever this version of it accepts.
    let out = w.admin(&[
        "shares",
        "create",
        "--name",
        &later,
        "--grantee",
        C,
        "--expires-at",
        "2030-01-01T00:00:00Z",
        "--notify-queue",
        &format!("arn:aws:sqs:us-east-1:{C}:new-logs"),
    ]);
    let seen = w.gateway.seen();
    let last = seen.last().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&last.body).unwrap(),
        json!({"name": later, "grantee_account": C, "expires_at": "2030-01-01T00:00:00Z",
               "notify": {"queue_arn": format!("arn:aws:sqs:us-east-1:{C}:new-logs")}})
    );
    assert_eq!(out.code == 0, (200..300).contains(&last.status), "{out:?}");
    if out.code != 0 {
        assert!(
            out.stderr.contains(&format!("error: {}", last.status)),
            "{out:?}"
        );
    }

    // A wrong secret or an unknown key: the gateway's 403, nothing reaches
    // the provisioner.
    let before = w.gateway.seen().len();
    for (id, secret) in [
        (ADMIN_ID, "not-the-secret"),
        ("AKIAUNKNOWNKEY000000", ADMIN_SECRET),
    ] {
        let out = run(
            &["shares", "list", "--api", &w.gateway.url],
            &[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)],
        );
        assert_ne!(out.code, 0, "{out:?}");
        assert!(out.stderr.contains("error: 403"), "{out:?}");
    }
    let seen = w.gateway.seen();
    assert!(seen[before..]
        .iter()
        .all(|s| s.caller.is_none() && s.status == 403));

    // Someone the API lets in but who is not an admin: reads, no changes.
    let reader = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--api", &w.gateway.url]);
        run(
            &all,
            &[
                ("AWS_ACCESS_KEY_ID", READER_ID),
                ("AWS_SECRET_ACCESS_KEY", READER_SECRET),
            ],
        )
    };
    let out = reader(&[
        "shares",
        "create",
        "--name",
        &unique("sneaky"),
        "--grantee",
        B,
    ]);
    assert_api_error(&out, 403, "forbidden", None);
    let out = reader(&["shares", "delete", &taken]);
    assert_api_error(&out, 403, "forbidden", None);
    let out = reader(&["shares", "get", &taken, "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["name"], taken.as_str());

    // No API: a usage error naming the flag and the variable.
    let out = run(&["shares", "list"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--api"), "{out:?}");
    // TRAILSHARE_API works in its place.
    let out = run(
        &["shares", "list", "--json"],
        &[
            ("TRAILSHARE_API", &w.gateway.url),
            ("AWS_ACCESS_KEY_ID", ADMIN_ID),
            ("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    // No credentials at all: a clear error, no request.
    let before = w.gateway.seen().len();
    let out = run(&["shares", "list", "--api", &w.gateway.url], &[]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("credentials"), "{out:?}");
    assert_eq!(w.gateway.seen().len(), before);
}

#[tokio::test]
async fn revoke_sessions_and_backfill_send_signed_posts_and_render_the_answer() {
    let w = world().await;
    let share = w.create(&["--name", &unique("bu-b"), "--grantee", B]);
    let name = share["name"].as_str().unwrap();

    let out = w.admin(&["shares", "revoke-sessions", name, "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let revoked = out.json();
    assert_eq!(revoked["name"], name);
    assert!(revoked["sessions_valid_after"].is_string(), "{revoked}");
    let seen = w.gateway.seen();
    let revoke = seen.last().unwrap();
    assert_eq!(
        (
            revoke.method.as_str(),
            revoke.target.as_str(),
            revoke.status
        ),
        (
            "POST",
            format!("/shares/{name}/revoke-sessions").as_str(),
            200
        )
    );
    assert_eq!(revoke.caller.as_deref(), Some(ADMIN_ARN));
    let out = w.admin(&["shares", "revoke-sessions", "nobody"]);
    assert_api_error(&out, 404, "not_found", Some("name"));

    // Backfill: 202, the answer as a table, the work on the forwarder queue.
    let out = w.admin(&[
        "shares",
        "backfill",
        name,
        "--from",
        "2024-05-01",
        "--until",
        "2024-05-02",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("queued") && out.stdout.contains(B),
        "{out:?}"
    );
    let seen = w.gateway.seen();
    let backfill = seen.last().unwrap();
    assert_eq!(
        (
            backfill.method.as_str(),
            backfill.target.as_str(),
            backfill.status
        ),
        ("POST", format!("/shares/{name}/backfill").as_str(), 202)
    );
    assert_eq!(
        serde_json::from_str::<Value>(&backfill.body).unwrap(),
        json!({"from": "2024-05-01", "until": "2024-05-02"})
    );
    let messages = aws_sdk_sqs::Client::new(&w.aws.admin(A).await)
        .receive_message()
        .queue_url(&w.queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert!(
        messages
            .iter()
            .any(|m| m.body().unwrap_or_default().contains(name)),
        "{messages:?}"
    );
    // --until is the API's default (today) when not given: not sent.
    let recent = time::OffsetDateTime::now_utc().date() - time::Duration::days(3);
    let recent = format!(
        "{}-{:02}-{:02}",
        recent.year(),
        u8::from(recent.month()),
        recent.day()
    );
    let out = w.admin(&["shares", "backfill", name, "--from", &recent, "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["backfill"]["from"], recent.as_str());
    assert_eq!(
        serde_json::from_str::<Value>(&w.gateway.seen().last().unwrap().body).unwrap(),
        json!({ "from": recent })
    );
    // A bad date is the API's 400 naming the field.
    let out = w.admin(&["shares", "backfill", name, "--from", "2024-13-01"]);
    assert_api_error(&out, 400, "", Some("from"));
}

#[tokio::test]
async fn list_follows_the_apis_pages() {
    // The provisioner does not page yet; this gateway answers as the
    // contract says a paging API does (limit and an opaque next token).
    let pages = handler(|event: Value| async move {
        let next = event["queryStringParameters"]["next"]
            .as_str()
            .map(str::to_string);
        let body = match next.as_deref() {
            None => json!({"shares": [{"name": "a-1"}, {"name": "a-2"}], "next": "tok/1+="}),
            Some("tok/1+=") => {
                json!({"shares": [{"name": "b-1", "status": "damaged", "error": "tags"}]})
            }
            Some(other) => {
                json!({"error": {"code": "invalid", "message": format!("bad token {other}"), "field": "next"}})
            }
        };
        let status = if body.get("error").is_some() {
            400
        } else {
            200
        };
        json!({"statusCode": status, "body": body.to_string()})
    });
    let gateway = ApiGateway::start(vec![TestKey::new(ADMIN_ID, ADMIN_SECRET, ADMIN_ARN)], pages);
    let env = [
        ("AWS_ACCESS_KEY_ID", ADMIN_ID),
        ("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET),
        ("TRAILSHARE_API", gateway.url.as_str()),
    ];
    let out = run(&["shares", "list", "--json"], &env);
    assert_eq!(out.code, 0, "{out:?}");
    let names: Vec<String> = out.json()["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a-1", "a-2", "b-1"]);
    let out = run(&["shares", "list"], &env);
    assert!(
        out.stdout.contains("b-1") && out.stdout.contains("damaged"),
        "{out:?}"
    );
    let targets: Vec<String> = gateway.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(
        targets[..2],
        ["/shares?limit=100", "/shares?limit=100&next=tok%2F1%2B%3D"]
    );
}

// ---- pull ------------------------------------------------------------------

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

#[tokio::test]
async fn pull_scenario_one_brings_only_own_files_and_never_asks_for_others() {
    let w = world().await;
    let files = put_files(w.aws, &w.bucket).await;
    let share = w.create(&["--name", &unique("bu-b"), "--grantee", B]);
    let role = share["role_arn"].as_str().unwrap();
    let keys = grantee_keys(w.aws, B, &share).await;
    let dir = tempfile::tempdir().unwrap();
    let before = s3_requests(&w.bucket).len();

    // No --accounts: the caller's own account (B); both layouts with --org.
    let out = pull(
        &keys,
        &w.aws.url,
        &[
            "--role-arn",
            role,
            "--bucket",
            &w.bucket,
            "--org",
            ORG,
            "--since",
            "2024-05-01",
            "--until",
            "2024-05-02",
            "--digests",
            "--to",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("pulled 5 files"), "{out:?}");
    let digest_file = files.b.iter().find(|k| k.contains("Digest")).unwrap();
    let mut want = files.b.clone();
    want.push(format!("{digest_file}.sig"));
    assert_eq!(local_files(dir.path()), sorted(want));
    for (i, k) in files.all.iter().enumerate() {
        if files.b.contains(k) {
            assert_eq!(
                std::fs::read_to_string(dir.path().join(k)).unwrap(),
                content(k, i)
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join(format!("{digest_file}.sig"))).unwrap(),
        "9d0a4c3e8f"
    );
    assert!(!dir.path().join(&files.b_outside).exists());

    // What was asked of S3: lists only under B's account prefixes, never the
    // root or another account's prefix; GETs only of B's files in the window.
    let requests = &s3_requests(&w.bucket)[before..];
    assert!(!requests.is_empty());
    let b_roots = [format!("AWSLogs/{B}/"), format!("AWSLogs/{ORG}/{B}/")];
    for (method, target) in requests {
        assert_eq!(method, "GET", "{target}");
        assert!(
            !target.contains(C) && !target.contains(&format!("AWSLogs/{A}")),
            "{target}"
        );
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        match query.contains("list-type=") {
            true => {
                let prefix = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("prefix="))
                    .unwrap_or_else(|| panic!("a listing without a prefix: {target}"));
                assert!(
                    b_roots.iter().any(|r| prefix.starts_with(r.as_str())),
                    "{target}"
                );
            }
            false => {
                let key = path.trim_start_matches(&format!("/{}/", w.bucket));
                assert!(files.b.iter().any(|k| k == key), "{target}");
            }
        }
    }
    let gets = requests
        .iter()
        .filter(|(_, t)| !t.contains("list-type="))
        .count();
    assert_eq!(gets, files.b.len());

    // Asking for C's files with B's role: denied per file (moto judges the
    // resource; AWS would already deny the listing), named, non-zero.
    let other = tempfile::tempdir().unwrap();
    let out = pull(
        &keys,
        &w.aws.url,
        &[
            "--role-arn",
            role,
            "--bucket",
            &w.bucket,
            "--accounts",
            C,
            "--regions",
            "us-east-1",
            "--since",
            "2024-05-01",
            "--until",
            "2024-05-01",
            "--to",
            other.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let c_key = key("AWSLogs/", C, "us-east-1", "2024/05/01", "1200");
    assert!(
        out.stderr
            .contains(&format!("failed: s3://{}/{c_key}: AccessDenied", w.bucket)),
        "{out:?}"
    );
    assert_eq!(local_files(other.path()), Vec::<String>::new());
}

#[tokio::test]
async fn pull_scenario_two_discovers_every_account_with_the_external_id() {
    let w = world().await;
    let files = put_files(w.aws, &w.bucket).await;
    let share = w.create(&[
        "--name",
        &unique("auditor"),
        "--grantee",
        Z,
        "--log-accounts",
        "*",
        "--external-id",
        "z-7f3a9c",
    ]);
    let keys = grantee_keys(w.aws, Z, &share).await;
    let dir = tempfile::tempdir().unwrap();
    let out = pull(
        &keys,
        &w.aws.url,
        &[
            "--role-arn",
            share["role_arn"].as_str().unwrap(),
            "--external-id",
            "z-7f3a9c",
            "--bucket",
            &w.bucket,
            "--accounts",
            "*",
            "--since",
            "2024-04-30",
            "--until",
            "2024-05-02",
            "--concurrency",
            "4",
            "--json",
            "--to",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    // Every log file of every account and layout; digests only on request.
    let want: Vec<String> = files
        .all
        .iter()
        .filter(|k| !k.contains("Digest"))
        .cloned()
        .collect();
    assert_eq!(local_files(dir.path()), sorted(want.clone()));
    let summary = out.json();
    assert_eq!(summary["downloaded"], want.len());
    assert_eq!(summary["failed"], json!([]));
}

#[tokio::test]
async fn an_interrupted_pull_resumes_and_a_missing_bucket_fails() {
    let w = world().await;
    let files = put_files(w.aws, &w.bucket).await;
    let share = w.create(&["--name", &unique("bu-b"), "--grantee", B]);
    let role = share["role_arn"].as_str().unwrap();
    let keys = grantee_keys(w.aws, B, &share).await;
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().to_str().unwrap();
    let args = [
        "--role-arn",
        role,
        "--bucket",
        &w.bucket,
        "--org",
        ORG,
        "--since",
        "2024-05-01",
        "--until",
        "2024-05-02",
        "--json",
        "--to",
        to,
    ];
    let first = pull(&keys, &w.aws.url, &args);
    assert_eq!(first.code, 0, "{first:?}");
    let logs: Vec<&String> = files.b.iter().filter(|k| !k.contains("Digest")).collect();
    assert_eq!(first.json()["downloaded"], logs.len());

    // An interrupted run: one file half-written (a .part, never renamed),
    // one missing, one cut short by something else.
    let (half, gone, short) = (logs[0], logs[1], logs[2]);
    std::fs::rename(
        dir.path().join(half),
        dir.path().join(format!("{half}.part")),
    )
    .unwrap();
    std::fs::write(dir.path().join(format!("{half}.part")), "partial").unwrap();
    std::fs::remove_file(dir.path().join(gone)).unwrap();
    std::fs::write(dir.path().join(short), "short").unwrap();
    let before = s3_requests(&w.bucket).len();
    let second = pull(&keys, &w.aws.url, &args);
    assert_eq!(second.code, 0, "{second:?}");
    let summary = second.json();
    assert_eq!(summary["downloaded"], 3, "{summary}");
    assert_eq!(summary["skipped"], logs.len() - 3, "{summary}");
    for (i, k) in files.all.iter().enumerate() {
        if logs.contains(&k) {
            assert_eq!(
                std::fs::read_to_string(dir.path().join(k)).unwrap(),
                content(k, i)
            );
        }
    }
    let gets: Vec<String> = s3_requests(&w.bucket)[before..]
        .iter()
        .filter(|(_, t)| !t.contains("list-type="))
        .map(|(_, t)| {
            let path = t.split('?').next().unwrap_or_default();
            path.trim_start_matches(&format!("/{}/", w.bucket))
                .to_string()
        })
        .collect();
    assert_eq!(
        sorted(gets),
        sorted(vec![half.clone(), gone.clone(), short.clone()])
    );
    assert!(local_files(dir.path())
        .iter()
        .all(|f| !f.ends_with(".part")));

    // A bucket that is not there: the listing fails, named, non-zero.
    let out = pull(
        &keys,
        &w.aws.url,
        &[
            "--role-arn",
            role,
            "--bucket",
            "no-such-bucket-trailshare",
            "--regions",
            "us-east-1",
            "--since",
            "2024-05-01",
            "--until",
            "2024-05-01",
            "--to",
            to,
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("failed: listing s3://no-such-bucket-trailshare/AWSLogs/"),
        "{out:?}"
    );

    // A role that cannot be assumed: a clear error naming it, no files.
    let out = pull(
        &keys,
        &w.aws.url,
        &[
            "--role-arn",
            &format!("arn:aws:iam::{A}:role/no-such-role"),
            "--bucket",
            &w.bucket,
            "--to",
            to,
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("assuming arn:aws:iam::111111111111:role/no-such-role"),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_named_profile_from_the_standard_chain_signs_the_request() {
    let gateway = ApiGateway::start(
        vec![TestKey::new(ADMIN_ID, ADMIN_SECRET, ADMIN_ARN)],
        handler(|_event: Value| async {
            json!({"statusCode": 200, "body": json!({"shares": []}).to_string()})
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let (config, credentials) = (dir.path().join("config"), dir.path().join("credentials"));
    std::fs::write(&config, "[profile platform]\nregion = eu-west-1\n").unwrap();
    std::fs::write(
        &credentials,
        format!(
            "[platform]\naws_access_key_id = {ADMIN_ID}\naws_secret_access_key = {ADMIN_SECRET}\n"
        ),
    )
    .unwrap();
    let files = [
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
        ("TRAILSHARE_API", gateway.url.as_str()),
    ];
    let out = run(&["shares", "list", "--profile", "platform"], &files);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("NAME"), "{out:?}");
    // Another profile's name: no credentials, no request.
    let out = run(&["shares", "list", "--profile", "nobody"], &files);
    assert_ne!(out.code, 0, "{out:?}");
    let seen = gateway.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].caller.as_deref(), Some(ADMIN_ARN));
}

#[tokio::test]
async fn a_killed_pull_leaves_no_file_that_looks_complete_and_a_rerun_finishes() {
    let w = world().await;
    let client = s3(&w.aws.admin(A).await);
    let mut keys = Vec::new();
    for i in 0..300 {
        let k = key("AWSLogs/", B, "us-east-1", "2024/05/01", &format!("{i:04}"));
        client
            .put_object()
            .bucket(&w.bucket)
            .key(&k)
            .body(content(&k, i).into_bytes().into())
            .send()
            .await
            .expect("put");
        keys.push(k);
    }
    let share = w.create(&["--name", &unique("bu-b"), "--grantee", B]);
    let creds = grantee_keys(w.aws, B, &share).await;
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "pull",
        "--role-arn",
        share["role_arn"].as_str().unwrap(),
        "--bucket",
        &w.bucket,
        "--since",
        "2024-05-01",
        "--until",
        "2024-05-01",
        "--regions",
        "us-east-1",
        "--concurrency",
        "2",
        "--to",
        dir.path().to_str().unwrap(),
    ];
    let mut child = std::process::Command::new(trailshare_binary())
        .args(args)
        .env_clear()
        .env("HOME", dir.path())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &w.aws.url)
        .env("AWS_ACCESS_KEY_ID", &creds.0)
        .env("AWS_SECRET_ACCESS_KEY", &creds.1)
        .spawn()
        .expect("start pull");
    let started = std::time::Instant::now();
    while local_files(dir.path()).len() < 10 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().expect("kill pull");
    child.wait().unwrap();

    // Whatever has its final name is whole; the rest is missing or .part.
    let landed: Vec<String> = local_files(dir.path())
        .into_iter()
        .filter(|f| !f.ends_with(".part"))
        .collect();
    assert!(
        !landed.is_empty() && landed.len() < keys.len(),
        "{}",
        landed.len()
    );
    for (i, k) in keys.iter().enumerate() {
        if landed.contains(k) {
            assert_eq!(
                std::fs::read_to_string(dir.path().join(k)).unwrap(),
                content(k, i)
            );
        }
    }

    let out = run(
        &[&args[..], &["--json"]].concat(),
        &[
            ("AWS_ACCESS_KEY_ID", &creds.0),
            ("AWS_SECRET_ACCESS_KEY", &creds.1),
            ("AWS_ENDPOINT_URL", &w.aws.url),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let summary = out.json();
    assert_eq!(summary["skipped"], landed.len(), "{summary}");
    assert_eq!(
        summary["downloaded"],
        keys.len() - landed.len(),
        "{summary}"
    );
    assert_eq!(local_files(dir.path()), sorted(keys.clone()));
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(k)).unwrap(),
            content(k, i)
        );
    }
}

/// Every file under `dir` as (relative path, bytes).
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((relative, std::fs::read(&path).expect("read file")));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_forwarded_copy_pulled_with_digests_verifies_and_a_changed_byte_does_not() {
    use trailshare::events::CreatedObject;
    use trailshare::integrity::testkit::{list_public_keys_json, TestKey as Signer, Trail};

    let aws = stand_in();
    let admin_a = aws.admin(A).await;
    let trail_bucket = aws.bucket(A, "signed-trail").await;
    // CloudTrail's files of B for three hours, each hour sealed by a signed
    // digest chained to the one before.
    let signer = Signer::generate();
    let written = tempfile::tempdir().unwrap();
    let mut trail = Trail::new(written.path(), &signer);
    trail.bucket = trail_bucket.clone();
    trail.account = B.to_string();
    trail.region = "us-east-1".to_string();
    // The window pulled ends 2026-03-04T00:00Z; the last digest in it ends
    // an hour before, so the chain is whole (the next lies on 03/04).
    trail.start = time::macros::datetime!(2026-03-03 21:01:31 UTC);
    for hour in 0..3 {
        trail.log_file(hour, 5).unwrap();
        trail.log_file(hour, 2).unwrap();
        trail.seal(hour).unwrap();
    }
    // Delivered as CloudTrail delivers: digests carry their signature in
    // the object's metadata.
    let files = files_under(written.path());
    let signatures: std::collections::HashMap<String, String> = files
        .iter()
        .filter_map(|(path, bytes)| {
            path.strip_suffix(".sig").map(|digest| {
                (
                    digest.to_string(),
                    String::from_utf8_lossy(bytes).trim().to_string(),
                )
            })
        })
        .collect();
    let a_s3 = s3(&admin_a);
    let mut keys = Vec::new();
    for (key, bytes) in files.iter().filter(|(p, _)| !p.ends_with(".sig")) {
        a_s3.put_object()
            .bucket(&trail_bucket)
            .key(key)
            .body(bytes.clone().into())
            .content_type("application/json")
            .content_encoding("gzip")
            .set_metadata(signatures.get(key).map(|sig| {
                [
                    ("signature".to_string(), sig.clone()),
                    ("signing-algorithm".to_string(), "SHA256withRSA".to_string()),
                ]
                .into()
            }))
            .send()
            .await
            .unwrap();
        keys.push(key.clone());
    }
    assert!(keys.len() >= 9, "{keys:?}");

    // A copy share for B, and the real forwarder delivering every file.
    let dest = aws.bucket(B, "b-copies").await;
    let vars = [
        ("TRAIL_BUCKET", trail_bucket.clone()),
        ("SHARE_ROLE_PATH", format!("/{}/", unique("verify"))),
        ("ADMIN_PRINCIPALS", ADMIN_ARN.to_string()),
    ];
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let api = Provisioner::new(
        IamRoles::from_sdk(&admin_a),
        config.clone(),
        stand_in::share_key(),
    );
    let body = json!({"name": unique("b-copy"), "grantee_account": B,
        "delivery": {"mode": "copy", "bucket": dest, "prefix": "central/"}});
    let response = api
        .handle_event(stand_in::api_event("POST", "/shares", &body, ADMIN_ARN))
        .await;
    assert_eq!(response["statusCode"], 201, "{response}");
    let share: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let admin_b = aws.admin(B).await;
    s3(&admin_b)
        .put_bucket_policy()
        .bucket(&dest)
        .policy(share["grantee_setup"]["destination_bucket_policy"].to_string())
        .send()
        .await
        .unwrap();
    let forwarder = forwarder::Forwarder::new(
        IamRoles::from_sdk(&admin_a),
        trailshare::aws::S3Objects::new(&admin_a),
        config,
        stand_in::share_key(),
    );
    for key in &keys {
        let outcome = forwarder
            .process(&CreatedObject {
                bucket: trail_bucket.clone(),
                key: key.clone(),
                etag: None,
                size: None,
            })
            .await;
        assert!(
            matches!(outcome, forwarder::Outcome::Processed { .. }),
            "{key}: {outcome:?}"
        );
    }

    // B pulls its forwarded copies with its own credentials, digests and all.
    let b_keys = admin_b
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    let b_keys = (
        b_keys.access_key_id().to_string(),
        b_keys.secret_access_key().to_string(),
    );
    let pulled = tempfile::tempdir().unwrap();
    let out = pull(
        &b_keys,
        &aws.url,
        &[
            "--bucket",
            &dest,
            "--prefix",
            "central",
            "--accounts",
            B,
            "--regions",
            "us-east-1",
            "--since",
            "2026-03-01",
            "--until",
            "2026-03-03",
            "--digests",
            "--to",
            pulled.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");

    // The copy verifies, in-process and through the binary.
    let keys_json = list_public_keys_json(&[&signer]);
    let public_keys =
        trailshare::integrity::PublicKeys::from_list_public_keys_json(&keys_json).unwrap();
    let report = trailshare::integrity::verify_tree(
        pulled.path(),
        &public_keys,
        trailshare::integrity::VerifyOptions::default(),
    )
    .unwrap();
    assert!(report.passed(), "{report:?}");
    let keys_file = pulled.path().join("public-keys.json");
    std::fs::write(&keys_file, &keys_json).unwrap();
    let verify = |dir: &Path| {
        run(
            &[
                "verify",
                dir.to_str().unwrap(),
                "--public-keys",
                keys_file.to_str().unwrap(),
            ],
            &[],
        )
    };
    let ok = verify(pulled.path());
    assert_eq!(ok.code, 0, "{ok:?}");

    // One changed byte in one pulled log file is found.
    let (log, _) = files_under(pulled.path())
        .into_iter()
        .find(|(p, _)| p.contains("/CloudTrail/") && p.ends_with(".json.gz"))
        .expect("a pulled log file");
    let path = pulled.path().join(&log);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 9; // inside the deflate stream, before the gzip trailer
    bytes[last] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let bad = verify(pulled.path());
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(
        bad.stdout.contains(&log) || bad.stderr.contains(&log),
        "{bad:?}"
    );
}

/// Signed calls never go over plain HTTP to a non-loopback host: anyone on
/// the path would read the signed request and could forge the answer. A
/// usage error (exit 2) naming https://, before any request or credential
/// lookup; loopback stays allowed for the local stand-in. Failed before
/// the fix: `http://` was accepted (exit 1 on the connection error).
#[test]
fn the_cli_refuses_plain_http_api_urls_except_loopback() {
    let creds = [
        ("AWS_ACCESS_KEY_ID", ADMIN_ID),
        ("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET),
    ];
    let plain = "http://abc123.execute-api.us-east-1.amazonaws.com/prod";
    for args in [
        vec!["shares", "list", "--api", plain],
        vec!["shares", "delete", "bu-b", "--api", plain],
        vec![
            "shares",
            "revoke-sessions",
            "bu-b",
            "--api",
            "http://10.1.2.3",
        ],
    ] {
        let out = run(&args, &creds);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains("https://"), "{out:?}");
        assert!(out.stderr.contains("--api"), "{out:?}");
    }
    let mut env = creds.to_vec();
    env.push(("TRAILSHARE_API", plain));
    let out = run(&["shares", "list"], &env);
    assert_eq!(out.code, 2, "TRAILSHARE_API: {out:?}");
    // Loopback over http passes the check (and then finds no server there).
    let out = run(&["shares", "list", "--api", "http://127.0.0.1:9"], &creds);
    assert_ne!(out.code, 2, "{out:?}");
    assert!(!out.stderr.contains("https://"), "{out:?}");
}
