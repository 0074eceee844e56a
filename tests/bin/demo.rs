//! `make demo`: the whole job on the local stand-in. Both functions run as
//! Lambda binaries behind the Lambda runtime interface (`cargo lambda
//! watch`); grantees act through the AWS SDK as they would with the CLI.
//! Prints what succeeded and what was denied; exits non-zero if anything
//! did not behave as expected.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use serde_json::{json, Value};
use stand_in::{
    digest_file, digest_key, log_key, put_log, s3, s3_status, stand_in, trail_file, unique,
    StandIn, A, B, C, Z,
};

/// The platform team's administrator: the one caller in ADMIN_PRINCIPALS.
const ADMIN: &str = "arn:aws:iam::111111111111:user/platform-admin";

/// Counts checks and prints each one.
struct Report {
    passed: usize,
    failed: usize,
}

impl Report {
    fn check(&mut self, ok: bool, what: &str) {
        if ok {
            self.passed += 1;
            println!("    ok    {what}");
        } else {
            self.failed += 1;
            println!("    FAIL  {what}");
        }
    }
}

fn step(title: &str) {
    println!("\n== {title}");
}

/// The Lambda runtime emulator with both functions, stopped on drop.
struct Lambdas {
    child: Child,
    port: u16,
}

impl Drop for Lambdas {
    fn drop(&mut self) {
        // cargo lambda watch leads its own process group: end all of it.
        // Signalled directly: here (procps-ng 4.0.2) `kill -TERM -<pgid>`
        // also ended processes outside the group, the calling shell's too.
        let group = -(self.child.id() as libc::pid_t);
        // SAFETY: kill(2) takes no pointers; a negative pid names our group.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Lambdas {
    /// Starts `cargo lambda watch` with `env`; its output goes to
    /// `target/<log>.log`.
    fn start(log: &str, env: &[(&str, String)]) -> Lambdas {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let log_path = stand_in::repo_root().join(format!("target/{log}.log"));
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut command = Command::new(stand_in::repo_root().join(".venv/bin/cargo-lambda"));
        command
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .current_dir(stand_in::repo_root())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command
            .spawn()
            .expect("start cargo lambda watch (make demo installs it)");
        let lambdas = Lambdas { child, port };
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not start; see {}",
                log_path.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        lambdas
    }

    /// Invokes `function` through the runtime interface with `event`.
    fn invoke(&self, function: &str, event: &Value) -> Value {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
            self.port
        );
        let mut curl = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "900",
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
                &url,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl");
        curl.stdin
            .take()
            .unwrap()
            .write_all(event.to_string().as_bytes())
            .unwrap();
        let out = curl.wait_with_output().expect("curl output");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&out.stdout)}))
    }

    /// Calls the provisioner with an HTTP API event; (status, body).
    fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u64, Value) {
        self.api_as(ADMIN, method, path, body)
    }

    /// The same, signed by `caller` (the request context's IAM identity).
    fn api_as(&self, caller: &str, method: &str, path: &str, body: Option<Value>) -> (u64, Value) {
        let mut event = fixture("apigw-v2-create.json");
        event["requestContext"]["authorizer"]["iam"]["userArn"] = json!(caller);
        event["routeKey"] = json!(format!(
            "{method} {}",
            if path.len() > 7 {
                "/shares/{name}"
            } else {
                "/shares"
            }
        ));
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["method"] = json!(method);
        event["requestContext"]["http"]["path"] = json!(path);
        event.as_object_mut().unwrap().remove("pathParameters");
        match body {
            Some(body) => event["body"] = json!(body.to_string()),
            None => {
                event.as_object_mut().unwrap().remove("body");
            }
        }
        let response = self.invoke("provisioner", &event);
        let status = response["statusCode"].as_u64().unwrap_or(0);
        let body: Value = response["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        if let Some(message) = body["error"]["message"].as_str() {
            println!("          {method} {path}: {status} {message}");
        }
        (status, body)
    }
}

fn fixture(name: &str) -> Value {
    let path = stand_in::repo_root()
        .join("tests/fixtures/events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture JSON")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An SQS batch of EventBridge `Object Created` events, one per key.
fn queue_batch(bucket: &str, keys: &[String]) -> Value {
    let mut batch = fixture("sqs-s3.json");
    let template = batch["Records"][0].clone();
    let mut bridge = fixture("eventbridge-object-created.json");
    batch["Records"] = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            bridge["detail"]["bucket"]["name"] = json!(bucket);
            bridge["detail"]["object"]["key"] = json!(key);
            // The fixture's ETag and size are not these files': the
            // forwarder reads the real ones.
            let object = bridge["detail"]["object"].as_object_mut().unwrap();
            object.remove("etag");
            object.remove("size");
            let mut record = template.clone();
            record["messageId"] = json!(format!("msg-{i}"));
            record["body"] = json!(bridge.to_string());
            record
        })
        .collect();
    batch
}

/// An object's tags, or None if they cannot be read.
async fn object_tags(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Option<Vec<aws_sdk_s3::types::Tag>> {
    let out = s3.get_object_tagging().bucket(bucket).key(key).send().await;
    out.ok().map(|t| t.tag_set)
}

/// A copy's ETag and last-modified time: a rewrite changes the latter.
async fn copy_state(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<(String, String)> {
    let head = s3.head_object().bucket(bucket).key(key).send().await.ok()?;
    Some((head.e_tag?, head.last_modified?.to_string()))
}

async fn read_status(session: &SdkConfig, bucket: &str, key: &str) -> u16 {
    s3_status(
        &s3(session)
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await,
    )
}

#[tokio::main]
async fn main() {
    let mut report = Report {
        passed: 0,
        failed: 0,
    };
    let started = Instant::now();
    step("Start the local AWS stand-in (moto, IAM enforcement on) with accounts A, B, C and Z");
    let aws: &StandIn = tokio::task::spawn_blocking(stand_in).await.unwrap();
    println!("    moto at {}", aws.url);

    step("Account A: the central trail bucket with CloudTrail log files of A, B and C");
    let trail = aws.bucket(A, "central-trail").await;
    let a_s3 = s3(&aws.admin(A).await);
    let mut keys = Vec::new();
    for (account, stamp) in [(A, "1205"), (B, "1205"), (C, "1205")] {
        let key = log_key(None, account, stamp);
        put_log(&a_s3, &trail, &key, trail_file(account)).await;
        println!("    s3://{trail}/{key}");
        keys.push(key);
    }
    let digest = digest_key(None, B);
    a_s3.put_object()
        .bucket(&trail)
        .key(&digest)
        .body(digest_file(B, &trail, &keys[1..2]).into())
        .content_type("application/json")
        .content_encoding("gzip")
        .metadata("signature", "9d0a4c3e8f")
        .metadata("signing-algorithm", "SHA256withRSA")
        .send()
        .await
        .unwrap();
    println!("    s3://{trail}/{digest}  (digest, signature in metadata)");
    let c_bucket = aws.bucket(C, "c-central-logs").await;

    step("Deploy: the share roles' permissions boundary, and the functions' identity in A");
    let share_path = "/trailshare/".to_string();
    let config =
        trailshare::config::Config::from_lookup(|n| (n == "TRAIL_BUCKET").then(|| trail.clone()))
            .unwrap();
    let boundary = aws_sdk_iam::Client::new(&aws.admin(A).await)
        .create_policy()
        .policy_name("trailshare-share-boundary")
        .policy_document(trailshare::policy::boundary_policy(&config).to_string())
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    println!("    boundary {boundary}");
    let secret = stand_in::create_share_secret(&aws.admin(A).await).await;
    println!("    share secret {secret} (keys the seal of every share's record and route)");
    // B's SIEM reads new log files from a queue in B (an "SQS-based S3" input).
    let b_sqs = aws_sdk_sqs::Client::new(&aws.admin(B).await);
    let b_queue_name = unique("b-new-logs");
    let b_queue_url = b_sqs
        .create_queue()
        .queue_name(&b_queue_name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let b_queue = format!("arn:aws:sqs:us-east-1:{B}:{b_queue_name}");
    println!("    B's queue {b_queue}");
    // moto authorizes IAM calls against resource `*`, so the template's
    // fence on the share path cannot be shown here (tests/policies.rs checks
    // it with the independent evaluator); the actions are the template's.
    let functions_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:TagRole", "iam:UntagRole",
            "iam:ListRoleTags", "iam:ListRoles"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"], "Resource": format!("arn:aws:s3:::{trail}/AWSLogs/*")},
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject"], "Resource": format!("arn:aws:s3:::{c_bucket}/*")},
        {"Effect": "Allow", "Action": ["sqs:SendMessage", "sns:Publish"], "Resource": b_queue},
        // moto authorizes Secrets Manager calls against resource "*" only (as
        // IAM's): the template's grant of this one secret is judged by the
        // evaluator (template.test.mjs).
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
    ]});
    // The functions sign as a user of A with that policy; its keys go to them.
    let functions = aws
        .user(A, &unique("trailshare-functions"), &functions_policy)
        .await;
    let key = functions
        .credentials_provider()
        .expect("the stand-in's config has credentials")
        .provide_credentials()
        .await
        .expect("the functions user's access key");

    step(
        "Run both functions as Lambda binaries (cargo lambda watch: the Lambda runtime interface)",
    );
    let lambdas = Lambdas::start(
        "demo-lambdas",
        &[
            ("TRAIL_BUCKET", trail.clone()),
            ("SHARE_SECRET_ARN", secret.clone()),
            ("SHARE_ROLE_PATH", share_path.clone()),
            ("PERMISSIONS_BOUNDARY_ARN", boundary.clone()),
            ("SHARE_CACHE_SECONDS", "0".into()),
            ("ADMIN_PRINCIPALS", ADMIN.into()),
            ("AWS_ENDPOINT_URL", aws.url.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", key.access_key_id().to_string()),
            ("AWS_SECRET_ACCESS_KEY", key.secret_access_key().to_string()),
            ("RUST_LOG", "warn".into()),
        ],
    );
    println!(
        "    runtime API on 127.0.0.1:{} (first call compiles the functions)",
        lambdas.port
    );

    step("Scenario 1: B and C each get a role that reads only their own account's log files");
    let (status, b_share) = lambdas.api(
        "POST",
        "/shares",
        Some(
            json!({"grantee_account": B, "delivery": {"mode": "tag"}, "notify": {"queue_arn": b_queue}}),
        ),
    );
    report.check(
        status == 201,
        &format!("POST /shares for B -> {status} {}", b_share["role_arn"]),
    );
    let (status, c_share) = lambdas.api(
        "POST",
        "/shares",
        Some(json!({"grantee_account": C,
        "delivery": {"mode": "copy", "bucket": c_bucket, "prefix": "from-central/"}})),
    );
    report.check(
        status == 201,
        &format!(
            "POST /shares for C (copy to s3://{c_bucket}/from-central/) -> {status} {}",
            c_share["role_arn"]
        ),
    );
    // The whole answer once: what B's administrator is told to do.
    let pretty = serde_json::to_string_pretty(&b_share).unwrap_or_default();
    println!("    B's share, as the API returned it:");
    for line in pretty.lines() {
        println!("      {line}");
    }
    let (status, again) = lambdas.api("POST", "/shares", Some(json!({"grantee_account": B})));
    report.check(
        status == 409,
        &format!(
            "POST /shares for B again -> {status} {}",
            again["error"]["code"]
        ),
    );
    let (status, bad) = lambdas.api(
        "POST",
        "/shares",
        Some(json!({"grantee_account": B, "log_accounts": [B, C]})),
    );
    report.check(
        status == 400 && bad["error"]["field"] == "external_id",
        &format!(
            "B asking for C's logs without an external id -> {status} field {}",
            bad["error"]["field"]
        ),
    );

    for (me, other, share, my_key, other_key) in [
        (B, C, &b_share, &keys[1], &keys[2]),
        (C, B, &c_share, &keys[2], &keys[1]),
    ] {
        if share["role_arn"].is_null() {
            report.check(
                false,
                &format!("{me}'s share was not created: nothing to assume"),
            );
            continue;
        }
        let analyst = aws
            .user(
                me,
                &unique("analyst"),
                &share["grantee_setup"]["identity_policy"],
            )
            .await;
        let role = share["role_arn"].as_str().unwrap_or_default();
        match aws.assume(&analyst, role, None).await {
            Ok(session) => {
                report.check(true, &format!("{me} analyst assumes {role}"));
                let own = read_status(&session, &trail, my_key).await;
                report.check(own == 200, &format!("{me} reads its own log file -> {own}"));
                let theirs = read_status(&session, &trail, other_key).await;
                report.check(
                    theirs == 403,
                    &format!("{me} reads {other}'s log file -> {theirs} (denied)"),
                );
                let a_file = read_status(&session, &trail, &keys[0]).await;
                report.check(
                    a_file == 403,
                    &format!("{me} reads A's log file -> {a_file} (denied)"),
                );
            }
            Err(error) => report.check(false, &format!("{me} analyst assumes {role}: {error}")),
        }
    }
    // Access reviews: IAM's RoleLastUsed, as GET shows it.
    let b_name = b_share["name"].as_str().unwrap_or_default();
    let (status, b_now) = lambdas.api("GET", &format!("/shares/{b_name}"), None);
    report.check(
        status == 200 && b_now["last_used"]["at"].is_string(),
        &format!(
            "GET /shares/{b_name} -> {status}, last_used {}",
            b_now["last_used"]
        ),
    );

    step("Scenario 2: third party Z reads every account's log files, with an external id");
    let (status, z_share) = lambdas.api(
        "PUT",
        "/shares/auditor-z",
        Some(json!({"grantee_account": Z, "log_accounts": ["*"],
        "external_id": "z-7f3a9c", "grantee_principals": [format!("arn:aws:iam::{Z}:root")]})),
    );
    report.check(status == 201, &format!("PUT /shares/auditor-z -> {status}"));
    println!(
        "    then: {}",
        z_share["grantee_setup"]["assume_role_command"]
            .as_str()
            .unwrap_or("?")
    );
    let assumed = match z_share["role_arn"].as_str() {
        None => Err("the share was not created".to_string()),
        Some(role) => {
            let auditor = aws
                .user(Z, "auditor", &z_share["grantee_setup"]["identity_policy"])
                .await;
            aws.assume(&auditor, role, Some("z-7f3a9c")).await
        }
    };
    match assumed {
        Ok(session) => {
            report.check(true, "Z assumes the share role with its external id");
            for (account, key) in [(A, &keys[0]), (B, &keys[1]), (C, &keys[2])] {
                let got = read_status(&session, &trail, key).await;
                report.check(
                    got == 200,
                    &format!("Z reads {account}'s log file -> {got}"),
                );
            }
        }
        Err(error) => report.check(false, &format!("Z assumes the share role: {error}")),
    }
    let (status, list) = lambdas.api("GET", "/shares", None);
    let names: Vec<&str> = list["shares"]
        .as_array()
        .map(|s| s.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    report.check(
        status == 200 && names.len() == 3,
        &format!("GET /shares -> {status} {names:?}"),
    );

    step("Who may grant: a PowerUser may call the API (execute-api:Invoke) but not change shares");
    let (status, denied) = lambdas.api_as(
        &format!("arn:aws:sts::{A}:assumed-role/PowerUser/mallory"),
        "POST",
        "/shares",
        Some(json!({"grantee_account": Z, "name": "exfil", "log_accounts": ["*"], "external_id": "mallory-01"})),
    );
    report.check(
        status == 403 && denied["error"]["code"] == "forbidden",
        &format!(
            "POST /shares by a PowerUser session -> {status} {}",
            denied["error"]["code"]
        ),
    );

    step("Replace: Z's share gets a new external id; sessions issued before it are denied");
    let (status, replaced) = lambdas.api(
        "PUT",
        "/shares/auditor-z",
        Some(json!({"grantee_account": Z, "log_accounts": ["*"],
        "external_id": "z-8b2d41", "grantee_principals": [format!("arn:aws:iam::{Z}:root")]})),
    );
    let moment = replaced["sessions_valid_after"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    report.check(
        status == 200 && moment.len() == 20,
        &format!(
            "PUT /shares/auditor-z (new external id) -> {status}, sessions_valid_after {moment}"
        ),
    );
    // moto does not evaluate aws:TokenIssueTime: the independent evaluator
    // judges the policy IAM now holds for a session from before and after.
    let iam_a = aws_sdk_iam::Client::new(&aws.admin(A).await);
    let held = iam_a
        .get_role_policy()
        .role_name("trailshare-auditor-z")
        .policy_name(trailshare::policy::READ_POLICY_NAME)
        .send()
        .await
        .map(|p| {
            let text = percent_encoding::percent_decode_str(&p.policy_document)
                .decode_utf8_lossy()
                .into_owned();
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)
        })
        .unwrap_or(Value::Null);
    let session = |issued: &str| {
        json!({"name": format!("Z's session issued {issued} reads B's log file"),
            "identityPolicies": [held],
            "request": {"principal": format!("arn:aws:sts::{A}:assumed-role/trailshare-auditor-z/z"),
                "action": "s3:GetObject", "resource": format!("arn:aws:s3:::{trail}/{}", keys[1]),
                "resourceAccount": A, "context": {"aws:TokenIssueTime": issued}}})
    };
    let decisions = if held.is_null() {
        vec![]
    } else {
        stand_in::iam_eval(&json!([
            session("2020-01-01T00:00:00Z"),
            session("2999-01-01T00:00:00Z")
        ]))
    };
    report.check(
        decisions == ["ExplicitlyDenied", "Allowed"],
        &format!("a session issued before the replace -> {:?}; one issued after -> {:?} (independent evaluator on IAM's policy)",
            decisions.first(), decisions.get(1)),
    );

    step("Forwarder: new log files arrive (EventBridge via SQS); B's are tagged, C's copied");
    let mut arrived = keys.clone();
    arrived.push(digest.clone());
    let reply = lambdas.invoke("forwarder", &queue_batch(&trail, &arrived));
    report.check(
        reply == json!({"batchItemFailures": []}),
        &format!("forwarder batch of {} -> {reply}", arrived.len()),
    );
    let tags = object_tags(&a_s3, &trail, &keys[1])
        .await
        .unwrap_or_default();
    let tagged = tags
        .iter()
        .any(|t| t.key == "trailshare:account" && t.value == B);
    report.check(
        tagged,
        &format!("B's log file is tagged trailshare:account={B}"),
    );
    let c_admin = s3(&aws.admin(C).await);
    let copy = c_admin
        .get_object()
        .bucket(&c_bucket)
        .key(format!("from-central/{}", keys[2]))
        .send()
        .await;
    let identical = match copy {
        Ok(copy) => copy
            .body
            .collect()
            .await
            .map(|b| b.into_bytes().to_vec() == trail_file(C))
            .unwrap_or(false),
        Err(_) => false,
    };
    report.check(
        identical,
        &format!("C's log file is in s3://{c_bucket}/from-central/… with identical bytes"),
    );
    let a_tags = object_tags(&a_s3, &trail, &keys[0]).await;
    report.check(
        a_tags == Some(Vec::new()),
        "A's own log file is left alone (no share delivers it)",
    );
    let digest_tags = object_tags(&a_s3, &trail, &digest)
        .await
        .unwrap_or_default();
    report.check(
        digest_tags.iter().any(|t| t.value == B),
        "B's digest file is tagged too",
    );
    // B's queue heard of both of B's files, as S3 event notifications.
    let heard: Vec<Value> = b_sqs
        .receive_message()
        .queue_url(&b_queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .map(|out| out.messages.unwrap_or_default())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| serde_json::from_str(m.body.as_deref()?).ok())
        .collect();
    if let Some(first) = heard.first() {
        let record = &first["Records"][0];
        println!(
            "    B's queue: {} {} s3://{}/{} ({} bytes)",
            record["eventSource"].as_str().unwrap_or_default(),
            record["eventName"].as_str().unwrap_or_default(),
            record["s3"]["bucket"]["name"].as_str().unwrap_or_default(),
            record["s3"]["object"]["key"].as_str().unwrap_or_default(),
            record["s3"]["object"]["size"]
        );
    }
    let announced: Vec<&str> = heard
        .iter()
        .filter_map(|m| m["Records"][0]["s3"]["object"]["key"].as_str())
        .collect();
    report.check(
        heard.len() == 2
            && announced.contains(&keys[1].as_str())
            && announced.contains(&digest.as_str())
            && heard
                .iter()
                .all(|m| m["Records"][0]["s3"]["bucket"]["name"] == trail.as_str()),
        &format!(
            "B's queue heard of B's log and digest file once each ({} messages, S3 event shape)",
            heard.len()
        ),
    );
    // S3 delivers at least once: the same events again must change nothing.
    let copy_key = format!("from-central/{}", keys[2]);
    let before = copy_state(&c_admin, &c_bucket, &copy_key).await;
    // Last-Modified has whole seconds: wait so that a rewrite would show.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = lambdas.invoke("forwarder", &queue_batch(&trail, &arrived));
    let after = copy_state(&c_admin, &c_bucket, &copy_key).await;
    let tags_after = object_tags(&a_s3, &trail, &keys[1])
        .await
        .unwrap_or_default();
    report.check(
        reply == json!({"batchItemFailures": []})
            && before.is_some()
            && before == after
            && tags_after == tags,
        "the same events again change nothing: C's copy not rewritten, B's tags as they were",
    );

    tamper_step(&mut report, aws, &lambdas, &trail, &c_bucket).await;

    step("Expiry: a share past its expires_at is listed expired; the daily Scheduled Event deletes its role");
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, contractor) = lambdas.api(
        "PUT",
        "/shares/contractor-b",
        Some(json!({"grantee_account": B, "expires_at": soon})),
    );
    report.check(
        status == 201 && contractor["expires_at"] == json!(soon),
        &format!("PUT /shares/contractor-b expiring at {soon} -> {status}"),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, got) = lambdas.api("GET", "/shares/contractor-b", None);
    report.check(
        got["status"] == "expired",
        &format!(
            "GET /shares/contractor-b -> status {} (IAM denies it from expires_at on)",
            got["status"]
        ),
    );
    let reply = lambdas.invoke("provisioner", &fixture("eventbridge-scheduled.json"));
    report.check(
        reply["swept"] == json!(["contractor-b"]),
        &format!("the Scheduled Event (aws.events) sweeps: {reply}"),
    );
    let (status, _) = lambdas.api("GET", "/shares/contractor-b", None);
    report.check(
        status == 404,
        &format!("GET /shares/contractor-b -> {status}: its role is gone"),
    );

    step("Revocation: DELETE B's share; B can no longer assume it");
    let (status, _) = lambdas.api(
        "DELETE",
        &format!("/shares/{}", b_share["name"].as_str().unwrap_or_default()),
        None,
    );
    report.check(
        status == 204,
        &format!(
            "DELETE /shares/{} -> {status}",
            b_share["name"].as_str().unwrap_or_default()
        ),
    );
    let after = match b_share["role_arn"].as_str() {
        None => Ok(()),
        Some(role) => {
            let analyst = aws
                .user(
                    B,
                    &unique("analyst"),
                    &b_share["grantee_setup"]["identity_policy"],
                )
                .await;
            aws.assume(&analyst, role, None).await.map(|_| ())
        }
    };
    report.check(
        after.is_err(),
        "B's AssumeRole now fails (the role is gone)",
    );

    cli_step(&mut report, aws, lambdas.port, &trail, &c_share, &keys[2]).await;
    drop(lambdas);

    for layout in LAYOUTS {
        layout_step(&mut report, aws, &layout, &c_bucket).await;
    }
    println!(
        "\n== Done in {:.0} s: {} passed, {} failed",
        started.elapsed().as_secs_f64(),
        report.passed,
        report.failed
    );
    println!("demo: {} passed, {} failed", report.passed, report.failed);
    std::process::exit(if report.failed == 0 { 0 } else { 1 });
}

/// The `trailshare` CLI on both sides: C's analyst pulls C's log files with
/// one command; A's admin lists the shares through a local API Gateway
/// stand-in (SigV4 checked) in front of the provisioner Lambda.
/// Issue 20: someone in A with only iam:TagRole/UpdateRole rewrites C's
/// share to copy every account's files to C's bucket. Its seal no longer
/// fits: the share is damaged, nothing is delivered for it, the file it
/// claims is not acknowledged; an admin's PUT heals it.
async fn tamper_step(
    report: &mut Report,
    aws: &StandIn,
    lambdas: &Lambdas,
    trail: &str,
    c_bucket: &str,
) {
    step("Tamper: a principal with only iam:UpdateRole widens a share of C's; it is damaged until a PUT heals it");
    let name = "c-archive";
    let body = json!({"grantee_account": C,
        "delivery": {"mode": "copy", "bucket": c_bucket, "prefix": "archive/"}});
    let (status, _) = lambdas.api("PUT", &format!("/shares/{name}"), Some(body.clone()));
    report.check(
        status == 201,
        &format!("PUT /shares/{name} (C's files, copied to s3://{c_bucket}/archive/) -> {status}"),
    );
    let role = format!("trailshare-{name}");
    let attacker = aws
        .user(
            A,
            &unique("tagger"),
            &json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["iam:TagRole", "iam:UpdateRole"], "Resource": "*"}]}),
        )
        .await;
    let iam_a = aws_sdk_iam::Client::new(&aws.admin(A).await);
    let description = iam_a
        .get_role()
        .role_name(&role)
        .send()
        .await
        .ok()
        .and_then(|r| r.role?.description)
        .unwrap_or_default();
    let forged = description.replace(&format!("\"l\":[\"{C}\"]"), "\"l\":[\"*\"]");
    let edited = aws_sdk_iam::Client::new(&attacker)
        .update_role()
        .role_name(&role)
        .description(&forged)
        .send()
        .await;
    // And its record (tags): every account's files, with an external id,
    // a record the validator accepts, but without the provisioner's seal.
    let wide = json!({"name": name, "grantee_account": C, "log_accounts": ["*"], "external_id": "forged",
        "delivery": {"mode": "copy", "bucket": c_bucket, "prefix": "archive/"}});
    let record = trailshare::record::ShareRecord {
        spec: trailshare::share::validate(&wide, None, trail).expect("a valid body"),
        created_by: ADMIN.into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_by: None,
        updated_at: None,
        sessions_valid_after: None,
    };
    let tags: Vec<aws_sdk_iam::types::Tag> = record
        .to_tags()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect();
    let tagged = aws_sdk_iam::Client::new(&attacker)
        .tag_role()
        .role_name(&role)
        .set_tags(Some(tags))
        .send()
        .await;
    report.check(
        edited.is_ok() && tagged.is_ok() && forged != description,
        &format!("the attacker rewrites {role}'s route (iam:UpdateRole) and record (iam:TagRole) to every account's files"),
    );
    let path = format!("/shares/{name}");
    let (_, got) = lambdas.api("GET", &path, None);
    report.check(
        got["status"] == "damaged" && got["reason"] == "unauthenticated",
        &format!(
            "GET {path} -> status {}, reason {}",
            got["status"], got["reason"]
        ),
    );
    let a_s3 = s3(&aws.admin(A).await);
    let new_b = log_key(None, B, "1310");
    put_log(&a_s3, trail, &new_b, trail_file(B)).await;
    let reply = lambdas.invoke(
        "forwarder",
        &queue_batch(trail, std::slice::from_ref(&new_b)),
    );
    let failed = reply["batchItemFailures"].as_array().map_or(0, Vec::len);
    let c_admin = s3(&aws.admin(C).await);
    let copied = |key: String| {
        let c_admin = c_admin.clone();
        let bucket = c_bucket.to_string();
        async move {
            c_admin
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .is_ok()
        }
    };
    let leaked = copied(format!("archive/{new_b}")).await;
    report.check(
        failed == 1 && !leaked,
        &format!("a new B log file: not acknowledged ({failed} batch item failure), nothing copied to C's bucket"),
    );
    let (status, healed) = lambdas.api("PUT", &path, Some(body));
    report.check(
        status == 200 && healed["status"] == "active",
        &format!(
            "PUT {path} (its body as created) heals it -> {status}, status {}, sessions valid after {}",
            healed["status"], healed["sessions_valid_after"]
        ),
    );
    let reply = lambdas.invoke(
        "forwarder",
        &queue_batch(trail, std::slice::from_ref(&new_b)),
    );
    let leaked = copied(format!("archive/{new_b}")).await;
    report.check(
        reply == json!({"batchItemFailures": []}) && !leaked,
        &format!("the redelivered B log file -> {reply}; still nothing of B's in C's bucket"),
    );
    let (status, _) = lambdas.api("DELETE", &path, None);
    report.check(status == 204, &format!("DELETE {path} -> {status}"));
}

async fn cli_step(
    report: &mut Report,
    aws: &StandIn,
    lambdas_port: u16,
    trail: &str,
    c_share: &Value,
    c_key: &str,
) {
    use stand_in::api_gateway::{handler, ApiGateway, TestKey};
    step("The trailshare CLI: C's analyst pulls C's logs; A's admin lists the shares");
    let bin = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("trailshare")))
        .filter(|bin| bin.is_file());
    let (Some(bin), Some(role)) = (bin, c_share["role_arn"].as_str()) else {
        report.check(false, "trailshare binary beside demo, and C's share");
        return;
    };
    let trailshare = |args: &[&str], env: &[(&str, &str)]| {
        println!("    $ trailshare {}", args.join(" "));
        let out = Command::new(&bin)
            .args(args)
            .env_remove("AWS_PROFILE")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .output()
            .expect("run trailshare");
        for line in String::from_utf8_lossy(&out.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
        {
            println!("      {line}");
        }
        out.status.success()
    };

    let analyst = aws
        .user(
            C,
            &unique("analyst"),
            &c_share["grantee_setup"]["identity_policy"],
        )
        .await;
    let key = analyst
        .credentials_provider()
        .expect("credentials")
        .provide_credentials()
        .await
        .expect("the analyst's key");
    let dir = stand_in::repo_root()
        .join("demo-out")
        .join(unique("pull-c"));
    let to = dir.to_string_lossy().into_owned();
    let ok = trailshare(
        &[
            "pull",
            "--role-arn",
            role,
            "--bucket",
            trail,
            "--since",
            "2024-05-01",
            "--until",
            "2024-05-01",
            "--to",
            &to,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", key.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", key.secret_access_key()),
            ("AWS_ENDPOINT_URL", &aws.url),
        ],
    );
    let own = dir.join(c_key).is_file();
    let others = std::fs::read_dir(dir.join("AWSLogs"))
        .map(|d| d.count())
        .unwrap_or(0);
    report.check(
        ok && own && others == 1,
        &format!("trailshare pull as C -> C's log file in {to}, no other account's"),
    );

    let (id, secret) = ("AKIADEMOPLATFORMADMN", "demo-admin-secret");
    let url =
        format!("http://127.0.0.1:{lambdas_port}/2015-03-31/functions/provisioner/invocations");
    let gateway = ApiGateway::start(
        vec![TestKey::new(
            id,
            secret,
            &format!("arn:aws:iam::{A}:user/platform-admin"),
        )],
        handler(move |event: Value| {
            let url = url.clone();
            async move {
                let mut curl = Command::new("curl")
                    .args(["-sS", "-X", "POST", "--data-binary", "@-", &url])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("curl");
                let _ = curl
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(event.to_string().as_bytes());
                let out = curl.wait_with_output().expect("curl output");
                serde_json::from_slice(&out.stdout)
                    .unwrap_or(json!({"statusCode": 502, "body": ""}))
            }
        }),
    );
    let ok = trailshare(
        &["shares", "list", "--api", &gateway.url],
        &[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)],
    );
    let signed = gateway
        .seen()
        .iter()
        .all(|s| s.caller.is_some() && s.status == 200);
    report.check(
        ok && signed,
        "trailshare shares list as A's admin, SigV4-signed through the gateway -> 200",
    );
}

/// The organization of the layouts below.
const ORG: &str = "o-a1b2c3d4e5";

/// Where a trail writes its files: `[<prefix>/]AWSLogs/[<org>/]<account>/…`.
struct Layout {
    title: &'static str,
    /// Names this layout's bucket, share path, shares and copy prefix.
    short: &'static str,
    prefix: Option<&'static str>,
    org: Option<&'static str>,
}

const LAYOUTS: [Layout; 3] = [
    Layout {
        title: "Control Tower (TRAIL_PREFIX=ORGANIZATION_ID=o-a1b2c3d4e5), CloudTrail's own SNS notification",
        short: "ct",
        prefix: Some(ORG),
        org: Some(ORG),
    },
    Layout {
        title: "organization trail without a prefix (ORGANIZATION_ID=o-a1b2c3d4e5), EventBridge via SQS",
        short: "org",
        prefix: None,
        org: Some(ORG),
    },
    Layout {
        title: "custom prefix (TRAIL_PREFIX=audit/central), S3 event notification",
        short: "custom",
        prefix: Some("audit/central"),
        org: None,
    },
];

impl Layout {
    /// A log file of `account` on 2024-05-`day` in this layout.
    fn key(&self, account: &str, day: u32) -> String {
        let prefix = self.prefix.map(|p| format!("{p}/")).unwrap_or_default();
        let org = self.org.map(|o| format!("{o}/")).unwrap_or_default();
        format!("{prefix}AWSLogs/{org}{account}/CloudTrail/us-east-1/2024/05/{day:02}/{account}_CloudTrail_us-east-1_202405{day:02}T1205Z_AbCdEf12.json.gz")
    }

    /// `<prefix>/AWSLogs/`: what the functions may read and tag.
    fn logs_root(&self) -> String {
        match self.prefix {
            Some(prefix) => format!("{prefix}/AWSLogs/"),
            None => "AWSLogs/".to_string(),
        }
    }

    /// How the trail announces `keys` in this layout: Control Tower's
    /// bucket notifications cannot change, so CloudTrail's SNS topic.
    fn arrival(&self, bucket: &str, keys: &[String]) -> Value {
        match self.short {
            "ct" => {
                let message = json!({"s3Bucket": bucket, "s3ObjectKey": keys}).to_string();
                json!({"Records": [{"EventVersion": "1.0", "EventSource": "aws:sns",
                    "EventSubscriptionArn": format!("arn:aws:sns:us-east-1:{A}:aws-controltower-AllConfigNotifications:1"),
                    "Sns": {"Type": "Notification", "MessageId": "1", "Message": message,
                        "TopicArn": format!("arn:aws:sns:us-east-1:{A}:aws-controltower-AllConfigNotifications"),
                        "Timestamp": "2024-05-03T12:05:00.000Z"}}]})
            }
            "org" => queue_batch(bucket, keys),
            _ => {
                json!({"Records": keys.iter().map(|key| json!({"eventVersion": "2.1", "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 100}}}))
                .collect::<Vec<_>>()})
            }
        }
    }
}

/// One trail layout end to end, with both real Lambda binaries run by their
/// own `cargo lambda watch` started with this layout's environment: a share
/// reads its own account's files there and not another's; new files are
/// tagged and copied; backfill delivers the files already there.
async fn layout_step(report: &mut Report, aws: &StandIn, layout: &Layout, c_bucket: &str) {
    step(&format!("Layout: {}", layout.title));
    let admin = aws.admin(A).await;
    let a_s3 = s3(&admin);
    let trail = aws.bucket(A, &format!("trail-{}", layout.short)).await;
    // Files from before the shares: B's on May 1 and 2, C's on May 1.
    let old = [
        (B, layout.key(B, 1)),
        (B, layout.key(B, 2)),
        (C, layout.key(C, 1)),
    ];
    for (account, key) in &old {
        put_log(&a_s3, &trail, key, trail_file(account)).await;
    }
    println!("    s3://{trail}/{}  (and 2 more)", old[0].1);
    let sqs = aws_sdk_sqs::Client::new(&admin);
    let queue_name = unique(&format!("forwarder-{}", layout.short));
    let queue = sqs
        .create_queue()
        .queue_name(&queue_name)
        .send()
        .await
        .ok()
        .and_then(|q| q.queue_url)
        .unwrap_or_default();
    let mut vars = vec![("TRAIL_BUCKET", trail.clone())];
    vars.extend(layout.prefix.map(|p| ("TRAIL_PREFIX", p.to_string())));
    vars.extend(layout.org.map(|o| ("ORGANIZATION_ID", o.to_string())));
    let config = trailshare::config::Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("layout config");
    let boundary = aws_sdk_iam::Client::new(&admin)
        .create_policy()
        .policy_name(format!("trailshare-share-boundary-{}", layout.short))
        .policy_document(trailshare::policy::boundary_policy(&config).to_string())
        .send()
        .await
        .ok()
        .and_then(|p| p.policy?.arn)
        .unwrap_or_default();
    // The template's grants for this layout (IAM as in the first step).
    // moto authorizes SendMessageBatch as its own action; AWS, as
    // sqs:SendMessage (the template's grant).
    let root = layout.logs_root();
    let secret = stand_in::create_share_secret(&admin).await;
    // Where backfill runs keep their counts (the template's BackfillBucket).
    let runs = aws.bucket(A, &format!("runs-{}", layout.short)).await;
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": format!("arn:aws:s3:::{runs}/runs/*")},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{runs}")},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
        {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:TagRole", "iam:UntagRole",
            "iam:ListRoles"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"], "Resource": format!("arn:aws:s3:::{trail}/{root}*")},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{trail}")},
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject"], "Resource": format!("arn:aws:s3:::{c_bucket}/*")},
        {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:SendMessageBatch"], "Resource": format!("arn:aws:sqs:us-east-1:{A}:{queue_name}")}
    ]});
    let functions = aws.user(A, &unique("trailshare-functions"), &policy).await;
    let key = functions
        .credentials_provider()
        .expect("the stand-in's config has credentials")
        .provide_credentials()
        .await
        .expect("the functions user's access key");
    let mut env = vars.clone();
    env.extend([
        ("SHARE_SECRET_ARN", secret),
        ("SHARE_ROLE_PATH", format!("/trailshare-{}/", layout.short)),
        ("PERMISSIONS_BOUNDARY_ARN", boundary),
        ("FORWARDER_QUEUE_URL", queue.clone()),
        ("BACKFILL_BUCKET", runs),
        ("SHARE_CACHE_SECONDS", "0".into()),
        ("ADMIN_PRINCIPALS", ADMIN.into()),
        ("AWS_ENDPOINT_URL", aws.url.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", key.access_key_id().to_string()),
        ("AWS_SECRET_ACCESS_KEY", key.secret_access_key().to_string()),
        ("RUST_LOG", "warn".into()),
    ]);
    let settings: Vec<String> = vars[1..].iter().map(|(k, v)| format!("{k}={v}")).collect();
    let lambdas = Lambdas::start(&format!("demo-lambdas-{}", layout.short), &env);
    println!(
        "    both functions under their own cargo lambda watch (127.0.0.1:{}), {}",
        lambdas.port,
        settings.join(" ")
    );

    let b_name = format!("{}-b", layout.short);
    let c_name = format!("{}-c", layout.short);
    let copy_prefix = format!("{}/", layout.short);
    let (status, b_share) = lambdas.api(
        "POST",
        "/shares",
        Some(json!({"name": b_name, "grantee_account": B, "delivery": {"mode": "tag"}})),
    );
    let (c_status, _) = lambdas.api(
        "POST",
        "/shares",
        Some(json!({"name": c_name, "grantee_account": C,
            "delivery": {"mode": "copy", "bucket": c_bucket, "prefix": copy_prefix}})),
    );
    report.check(
        status == 201 && c_status == 201,
        &format!("POST /shares {b_name} (B, tag) -> {status}, {c_name} (C, copy) -> {c_status}"),
    );
    let read = match b_share["role_arn"].as_str() {
        None => None,
        Some(role) => {
            let analyst = aws
                .user(
                    B,
                    &unique("analyst"),
                    &b_share["grantee_setup"]["identity_policy"],
                )
                .await;
            match aws.assume(&analyst, role, None).await {
                Ok(session) => Some((
                    read_status(&session, &trail, &old[0].1).await,
                    read_status(&session, &trail, &old[2].1).await,
                )),
                Err(_) => None,
            }
        }
    };
    report.check(
        read == Some((200, 403)),
        &format!(
            "B's role reads B's {}… -> {}, C's -> {} (denied)",
            root,
            read.map_or(0, |r| r.0),
            read.map_or(0, |r| r.1)
        ),
    );

    // New files arrive on May 3.
    let new = [layout.key(B, 3), layout.key(C, 3)];
    for (account, key) in [(B, &new[0]), (C, &new[1])] {
        put_log(&a_s3, &trail, key, trail_file(account)).await;
    }
    let reply = lambdas.invoke("forwarder", &layout.arrival(&trail, &new));
    let ok = reply == json!({"batchItemFailures": []})
        || (reply["processed"] == 2 && reply["failed"] == 0);
    let c_admin = s3(&aws.admin(C).await);
    let tagged = |tags: Option<Vec<aws_sdk_s3::types::Tag>>| {
        tags.unwrap_or_default()
            .iter()
            .any(|t| t.key == "trailshare:account" && t.value == B)
    };
    let copied = |key: &str| {
        c_admin
            .head_object()
            .bucket(c_bucket)
            .key(format!("{copy_prefix}{key}"))
            .send()
    };
    let b_tagged = tagged(object_tags(&a_s3, &trail, &new[0]).await);
    let c_copied = copied(&new[1]).await.is_ok();
    report.check(
        ok && b_tagged && c_copied,
        &format!(
            "new files forwarded ({reply}): B's tagged {b_tagged}, C's copied to s3://{c_bucket}/{copy_prefix}… {c_copied}"
        ),
    );

    // Backfill both shares over May 1-2: the files from before them.
    let mut accepted = Vec::new();
    let mut run_ids = Vec::new();
    for name in [&b_name, &c_name] {
        let (status, answer) = lambdas.api(
            "POST",
            &format!("/shares/{name}/backfill"),
            Some(json!({"from": "2024-05-01", "until": "2024-05-02"})),
        );
        accepted.push(format!(
            "{name} -> {status} {}",
            answer["backfill"]["queued"]
        ));
        if status != 202 {
            accepted.push("FAILED".into());
        }
        run_ids.push(
            answer["backfill"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let b_run = format!("/shares/{b_name}/backfill/{}", run_ids[0]);
    let progress = |lambdas: &Lambdas| {
        let (_, run) = lambdas.api("GET", &b_run, None);
        println!(
            "    {b_name} run {}: {} — items {}, files {}",
            run_ids[0], run["state"], run["items"], run["files"]
        );
        run
    };
    progress(&lambdas);
    let (invocations, failures) = drain_queue(&sqs, &queue, &queue_name, &lambdas, || {
        progress(&lambdas);
    })
    .await;
    let b_old = tagged(object_tags(&a_s3, &trail, &old[0].1).await)
        && tagged(object_tags(&a_s3, &trail, &old[1].1).await);
    let c_old = copied(&old[2].1).await.is_ok();
    let c_untagged = object_tags(&a_s3, &trail, &old[2].1).await == Some(Vec::new());
    report.check(
        !accepted.iter().any(|a| a == "FAILED")
            && failures == 0
            && b_old
            && c_old
            && c_untagged,
        &format!(
            "backfill May 1-2 ({}; {invocations} forwarder invocations): B's 2 old files tagged {b_old}, C's copied {c_old}, C's left untagged {c_untagged}",
            accepted.join(", ")
        ),
    );
    // The run says so: every item done, B's two files delivered; the same
    // window again finds them done, at one read each.
    let (_, run) = lambdas.api("GET", &b_run, None);
    let counted = run["state"] == "done"
        && run["items"]["done"] == run["items"]["queued"]
        && run["files"]["delivered"] == 2;
    report.check(
        counted,
        &format!(
            "GET {b_run} -> {}: items {}, files {}",
            run["state"], run["items"], run["files"]
        ),
    );
    let (_, again) = lambdas.api(
        "POST",
        &format!("/shares/{b_name}/backfill"),
        Some(json!({"from": "2024-05-01", "until": "2024-05-02"})),
    );
    drain_queue(&sqs, &queue, &queue_name, &lambdas, || {}).await;
    let again = again["backfill"]["id"].as_str().unwrap_or_default();
    let (_, run) = lambdas.api("GET", &format!("/shares/{b_name}/backfill/{again}"), None);
    report.check(
        run["state"] == "done"
            && run["files"]["already_done"] == 2
            && run["files"]["delivered"] == 0,
        &format!(
            "the same window again (run {again}) -> {}: files {}",
            run["state"], run["files"]
        ),
    );
    drop(lambdas);
}

/// Lambda's SQS poller: receive, invoke the forwarder, delete what it
/// acknowledged, until the fan-out (share -> account -> day -> folder) is
/// done; `after` runs after each invocation. (invocations, failed ones).
async fn drain_queue(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    queue_name: &str,
    lambdas: &Lambdas,
    mut after: impl FnMut(),
) -> (usize, usize) {
    let mut invocations = 0;
    let mut failures = 0;
    for _ in 0..20 {
        let messages = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .ok()
            .and_then(|r| r.messages)
            .unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                "eventSource": "aws:sqs", "eventSourceARN": format!("arn:aws:sqs:us-east-1:{A}:{queue_name}")}))
            .collect();
        let reply = lambdas.invoke("forwarder", &json!({ "Records": records }));
        invocations += 1;
        if reply != json!({"batchItemFailures": []}) {
            failures += 1;
            println!("          forwarder: {reply}");
        }
        for m in &messages {
            let _ = sqs
                .delete_message()
                .queue_url(queue)
                .set_receipt_handle(m.receipt_handle.clone())
                .send()
                .await;
        }
        after();
    }
    (invocations, failures)
}
