//! Demo step: redrive that explains. C's share copies to a bucket that does
//! not exist yet; the file fails on every receive, and on its last the
//! forwarder (a Lambda binary) dead-letters it with the share, target and
//! error that failed. A's admin sees that with `trailshare dlq list`,
//! creates the bucket, moves the file back with `trailshare dlq redrive
//! --share`, and the forwarder delivers it.

use std::path::Path;
use std::process::Command;

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{json, Value};
use stand_in::{log_key, put_log, s3, trail_file, unique, StandIn, A, C};

use super::lambdas::queue_batch;
use super::{step, Lambdas, Report, ADMIN};
use stand_in::fixture;

/// The queue's maxReceiveCount here (the template's default is 5).
const MAX_RECEIVES: u32 = 3;

pub(crate) async fn redrive_step(report: &mut Report, aws: &StandIn) {
    step("Redrive: a file that failed while its destination was missing is dead-lettered, explained, then redriven");
    let admin = aws.admin(A).await;
    let trail = aws.bucket(A, "trail-dlq").await;
    let key = log_key(None, C, "1205");
    put_log(&s3(&admin), &trail, &key, trail_file(C)).await;
    let late = unique("c-late-logs");
    let sqs = aws_sdk_sqs::Client::new(&admin);
    let (queue, dlq) = queues(&sqs).await;
    println!(
        "    forwarder queue {queue}\n    dead-letter queue {dlq} (maxReceiveCount {MAX_RECEIVES})"
    );
    let lambdas = start(aws, &trail, &late, &queue, &dlq).await;

    let share = json!({"grantee_account": C, "delivery": {"mode": "copy", "bucket": late}});
    let (status, _) = lambdas.api("PUT", "/shares/c-late", Some(share));
    report.check(
        status == 201,
        &format!("PUT /shares/c-late (copy to s3://{late}, not created yet) -> {status}"),
    );
    let body = queue_batch(&trail, std::slice::from_ref(&key))["Records"][0]["body"].clone();
    sqs.send_message()
        .queue_url(&queue)
        .message_body(body.as_str().unwrap_or_default())
        .send()
        .await
        .ok();
    let replies = drain(&sqs, &queue, &lambdas).await;
    for (i, reply) in replies.iter().enumerate() {
        println!("    receive {}: {reply}", i + 1);
    }
    report.check(
        replies.len() == MAX_RECEIVES as usize
            && replies.last() == Some(&json!({"batchItemFailures": []})),
        &format!(
            "failed on receives 1-{}, dead-lettered and acknowledged on the last",
            MAX_RECEIVES - 1
        ),
    );

    let env = admin_env(aws).await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Some(bin) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("trailshare")))
    else {
        report.check(false, "trailshare binary beside demo");
        return;
    };
    trailshare(&bin, &["dlq", "list", "--queue-url", &queue], &env);
    let listed = json_of(
        &bin,
        &["--json", "dlq", "list", "--queue-url", &queue],
        &env,
    );
    let group = &listed["groups"][0];
    report.check(
        group["shares"] == json!(["c-late"])
            && group["targets"] == json!([format!("copy to s3://{late}")])
            && group["error"]
                .as_str()
                .is_some_and(|e| e.contains("NoSuchBucket"))
            && group["messages"] == 1,
        "dlq list: 1 message, share c-late, target the missing bucket, last error NoSuchBucket",
    );

    s3(&aws.admin(C).await)
        .create_bucket()
        .bucket(&late)
        .send()
        .await
        .ok();
    println!("    C creates s3://{late}");
    let moved = trailshare(
        &bin,
        &["dlq", "redrive", "--share", "c-late", "--queue-url", &queue],
        &env,
    );
    report.check(
        moved.contains("moved 1 of share c-late's messages"),
        "dlq redrive --share c-late moved the file back",
    );
    let replies = drain(&sqs, &queue, &lambdas).await;
    println!("    receive: {}", replies.first().unwrap_or(&Value::Null));
    let copy = s3(&aws.admin(C).await)
        .get_object()
        .bucket(&late)
        .key(&key)
        .send()
        .await;
    let delivered = match copy {
        Ok(copy) => copy
            .body
            .collect()
            .await
            .map(|b| b.into_bytes().to_vec() == trail_file(C))
            .unwrap_or(false),
        Err(_) => false,
    };
    report.check(
        delivered && replies == [json!({"batchItemFailures": []})],
        &format!("the redriven file is delivered: s3://{late}/{key} has identical bytes"),
    );
}

/// The forwarder's queue and its dead-letter queue (visibility 0, so a
/// failed message is visible again at once).
async fn queues(sqs: &aws_sdk_sqs::Client) -> (String, String) {
    let dlq = create(sqs, &unique("forwarder-dlq"), &[]).await;
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await;
    let dlq_arn = attributes
        .ok()
        .and_then(|a| a.attributes?.remove(&QueueAttributeName::QueueArn))
        .unwrap_or_default();
    let redrive =
        json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES.to_string()})
            .to_string();
    let queue = create(
        sqs,
        &unique("forwarder"),
        &[
            (QueueAttributeName::RedrivePolicy, redrive),
            (QueueAttributeName::VisibilityTimeout, "0".into()),
        ],
    )
    .await;
    (queue, dlq)
}

async fn create(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> String {
    let mut request = sqs.create_queue().queue_name(name);
    for (attribute, value) in attributes {
        request = request.attributes(attribute.clone(), value);
    }
    request
        .send()
        .await
        .ok()
        .and_then(|q| q.queue_url)
        .unwrap_or_default()
}

/// Both functions under their own `cargo lambda watch`, with the
/// template's settings and grants for this step (the forwarder may send to
/// its dead-letter queue).
async fn start(aws: &StandIn, trail: &str, late: &str, queue: &str, dlq: &str) -> Lambdas {
    let admin = aws.admin(A).await;
    let secret = stand_in::create_share_secret(&admin).await;
    let config = trailshare::config::Config::from_lookup(|n| {
        (n == "TRAIL_BUCKET").then(|| trail.to_string())
    })
    .expect("config");
    let boundary = aws_sdk_iam::Client::new(&admin)
        .create_policy()
        .policy_name("trailshare-share-boundary-dlq")
        .policy_document(trailshare::policy::boundary_policy(&config).to_string())
        .send()
        .await
        .ok()
        .and_then(|p| p.policy?.arn)
        .unwrap_or_default();
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
        {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:TagRole", "iam:UntagRole",
            "iam:ListRoles"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"], "Resource": format!("arn:aws:s3:::{trail}/AWSLogs/*")},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{trail}")},
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject"], "Resource": format!("arn:aws:s3:::{late}/*")},
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}
    ]});
    let functions = aws.user(A, &unique("trailshare-functions"), &policy).await;
    let key = functions
        .credentials_provider()
        .expect("credentials")
        .provide_credentials()
        .await
        .expect("key");
    Lambdas::start(
        "demo-lambdas-dlq",
        &[
            ("TRAIL_BUCKET", trail.to_string()),
            ("SHARE_SECRET_ARN", secret),
            ("SHARE_ROLE_PATH", "/trailshare-dlq/".into()),
            ("PERMISSIONS_BOUNDARY_ARN", boundary),
            ("SHARE_CACHE_SECONDS", "0".into()),
            ("ADMIN_PRINCIPALS", ADMIN.into()),
            ("FORWARDER_QUEUE_URL", queue.to_string()),
            ("DEAD_LETTER_QUEUE_URL", dlq.to_string()),
            ("MAX_RECEIVES", MAX_RECEIVES.to_string()),
            ("AWS_ENDPOINT_URL", aws.url.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", key.access_key_id().to_string()),
            ("AWS_SECRET_ACCESS_KEY", key.secret_access_key().to_string()),
            ("RUST_LOG", "warn".into()),
        ],
    )
}

/// Lambda's SQS trigger: receive (with `ApproximateReceiveCount`), invoke
/// the forwarder with the batch, delete what it acknowledged; until empty.
async fn drain(sqs: &aws_sdk_sqs::Client, queue: &str, lambdas: &Lambdas) -> Vec<Value> {
    let template = fixture("sqs-s3.json")["Records"][0].clone();
    let mut replies = Vec::new();
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = out.ok().and_then(|o| o.messages).unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let mut record = template.clone();
                record["messageId"] = json!(m.message_id);
                record["receiptHandle"] = json!(m.receipt_handle);
                record["body"] = json!(m.body);
                let count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount));
                record["attributes"]["ApproximateReceiveCount"] = json!(count);
                record
            })
            .collect();
        let reply = lambdas.invoke("forwarder", &json!({"Records": records}));
        for m in &messages {
            let failed = reply["batchItemFailures"]
                .as_array()
                .is_none_or(|f| f.iter().any(|f| f["itemIdentifier"] == json!(m.message_id)));
            if !failed {
                sqs.delete_message()
                    .queue_url(queue)
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .send()
                    .await
                    .ok();
            }
        }
        replies.push(reply);
    }
    replies
}

/// A's administrator's key, for the CLI.
async fn admin_env(aws: &StandIn) -> Vec<(&'static str, String)> {
    let key = aws
        .admin(A)
        .await
        .credentials_provider()
        .expect("credentials")
        .provide_credentials()
        .await
        .expect("key");
    vec![
        ("AWS_ACCESS_KEY_ID", key.access_key_id().to_string()),
        ("AWS_SECRET_ACCESS_KEY", key.secret_access_key().to_string()),
        ("AWS_ENDPOINT_URL", aws.url.clone()),
    ]
}

/// Runs the CLI as A's admin, printing the command and what it printed.
fn trailshare(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    println!("    $ trailshare {}", args.join(" "));
    let out = output(bin, args, env);
    for line in out.lines() {
        println!("      {line}");
    }
    out
}

fn json_of(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    serde_json::from_str(&output(bin, args, env)).unwrap_or(Value::Null)
}

fn output(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(bin)
        .args(args)
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .expect("run trailshare");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}
