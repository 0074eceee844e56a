//! Who used each share: B's analyst reads two files, Z tries a wrong
//! external id; account A's own CloudTrail log file records both; the
//! forwarder keeps what concerns share roles; `trailshare shares activity`
//! names both, the denied attempt included.
//!
//! The stand-in has no CloudTrail, so the demo writes A's log file itself:
//! each record in the shape AWS documents (tests/fixtures/activity, sources
//! in its README) with the values of the requests it just made — the
//! callers' real principal ids, the session's name, the keys and sizes
//! read. moto judges no external id across accounts: the independent
//! evaluator judges Z's attempt on the trust IAM holds.

use aws_credential_types::Credentials;
use serde_json::{json, Value};
use stand_in::api_gateway::ApiGateway;
use stand_in::{activity_record, iam_eval, put_log, records_file, s3, ActivityPlace, A, B, Z};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::cli::{Trailshare, ADMIN_KEY};
use super::lambdas::queue_batch;
use super::organization::trust;
use super::setup::Deployment;
use super::{analyst, step, Demo, Lambdas, Report};

/// Who did what, as the demo saw it: what A's CloudTrail would record.
struct Seen {
    /// B's analyst: `principalId` (the user's id), the session's name and
    /// its access key id.
    b_principal: String,
    b_session: String,
    b_key: String,
    /// B's two files read, with their sizes.
    b_reads: Vec<(String, i64)>,
    /// Z's auditor: `principalId` and ARN.
    z_principal: String,
    z_arn: String,
}

/// `eventTime` as CloudTrail writes it (RFC 3339, UTC, whole seconds).
fn event_time() -> String {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    now.format(&Rfc3339).unwrap_or_default()
}

/// B's analyst assumes B's share role and reads B's log and digest file.
async fn b_reads(
    report: &mut Report,
    demo: &Demo,
    b_share: &Value,
) -> Result<(String, String, String, Vec<(String, i64)>), String> {
    let analyst = analyst(demo.aws, B, b_share).await;
    let sts = aws_sdk_sts::Client::new(&analyst);
    let me = sts.get_caller_identity().send().await;
    let me = me.map_err(|e| format!("GetCallerIdentity: {:?}", e.into_service_error()))?;
    let session_name = "b-analyst".to_string();
    let out = sts
        .assume_role()
        .role_arn(b_share["role_arn"].as_str().unwrap_or_default())
        .role_session_name(&session_name)
        .send()
        .await
        .map_err(|e| format!("AssumeRole: {:?}", e.into_service_error()))?;
    let c = out.credentials().ok_or("AssumeRole: no credentials")?;
    let keys = Credentials::new(
        &c.access_key_id,
        &c.secret_access_key,
        Some(c.session_token.clone()),
        None,
        "demo",
    );
    let session = stand_in::sdk_config(&demo.aws.url, keys).await;
    let mut reads = Vec::new();
    for key in [&demo.keys[1], &demo.digest] {
        let got = s3(&session)
            .get_object()
            .bucket(&demo.trail)
            .key(key)
            .send()
            .await;
        let size = got.ok().and_then(|o| o.content_length);
        report.check(
            size.is_some(),
            &format!("B's analyst (session {session_name}) reads {key}"),
        );
        reads.push((key.clone(), size.ok_or(format!("GetObject {key}"))?));
    }
    let key = c.access_key_id.clone();
    Ok((me.user_id.unwrap_or_default(), session_name, key, reads))
}

/// Z's auditor asks for Z's share role with a wrong external id: the
/// evaluator's decision on the trust IAM holds.
async fn z_guesses(report: &mut Report, demo: &Demo, z_role: &str) -> Option<(String, String)> {
    let auditor = demo
        .aws
        .user(
            Z,
            "auditor-guessing",
            &json!({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": z_role}]}),
        )
        .await;
    let me = aws_sdk_sts::Client::new(&auditor)
        .get_caller_identity()
        .send()
        .await
        .ok()?;
    let arn = me.arn?;
    let case = json!([{"name": "Z with a wrong external id", "resourcePolicy": trust(demo.aws, z_role).await,
        "identityPolicies": [], "request": {"principal": arn, "action": "sts:AssumeRole", "resource": z_role,
        "resourceAccount": A, "context": {"sts:ExternalId": "z-guess-1", "aws:CurrentTime": event_time()}}}]);
    let decision = iam_eval(&case).pop().unwrap_or_default();
    report.check(
        decision.ends_with("Denied"),
        &format!(
            "Z's AssumeRole with external id z-guess-1 -> {decision} (judged by the evaluator)"
        ),
    );
    Some((me.user_id?, arn))
}

/// A's log file of what was seen: documented records, the demo's values.
fn a_log_file(seen: &Seen, path: &str, b_share: &str, trail: &str) -> Vec<u8> {
    let place = |share, key| ActivityPlace {
        path,
        share,
        bucket: trail,
        key,
    };
    let mut records = Vec::new();
    let mut assume = activity_record("assume-role-cross-account", &place(b_share, ""));
    assume["eventTime"] = json!(event_time());
    assume["userIdentity"] =
        json!({"type": "AWSAccount", "principalId": seen.b_principal, "accountId": B});
    assume["requestParameters"]["roleSessionName"] = json!(seen.b_session);
    assume["sourceIPAddress"] = json!("127.0.0.1");
    assume["responseElements"]["credentials"]["accessKeyId"] = json!(seen.b_key);
    records.push(assume);
    for (key, size) in &seen.b_reads {
        let mut read = activity_record("s3-getobject-by-share-session", &place(b_share, key));
        read["eventTime"] = json!(event_time());
        read["additionalEventData"]["bytesTransferredOut"] = json!(size);
        read["sourceIPAddress"] = json!("127.0.0.1");
        read["userIdentity"]["accessKeyId"] = json!(seen.b_key);
        let arn = format!(
            "arn:aws:sts::{A}:assumed-role/trailshare-{b_share}/{}",
            seen.b_session
        );
        read["userIdentity"]["arn"] = json!(arn);
        read["userIdentity"]["principalId"] = json!(format!("AROADEMO:{}", seen.b_session));
        records.push(read);
    }
    let mut denied = activity_record("assume-role-denied", &place("auditor-z", ""));
    denied["eventTime"] = json!(event_time());
    denied["userIdentity"] =
        json!({"type": "AWSAccount", "principalId": seen.z_principal, "accountId": Z});
    denied["requestParameters"]["roleSessionName"] = json!("z-auditor");
    denied["sourceIPAddress"] = json!("127.0.0.1");
    let role = format!("arn:aws:iam::{A}:role{path}trailshare-auditor-z");
    denied["errorMessage"] = json!(format!(
        "User: {} is not authorized to perform: sts:AssumeRole on resource: {role}",
        seen.z_arn
    ));
    records.push(denied);
    records_file(json!(records))
}

pub(crate) async fn activity_step(
    report: &mut Report,
    demo: &Demo,
    lambdas: &Lambdas,
    gateway: &ApiGateway,
    deployment: &Deployment,
    b_share: &Value,
) {
    step("Who used each share: B's analyst reads two files, Z tries a wrong external id");
    let b_name = b_share["name"].as_str().unwrap_or_default();
    let z_role = format!(
        "arn:aws:iam::{A}:role{}trailshare-auditor-z",
        deployment.share_path
    );
    let b = b_reads(report, demo, b_share).await;
    let z = z_guesses(report, demo, &z_role).await;
    let (b_principal, b_session, b_key, b_reads) = match b {
        Ok(b) => b,
        Err(error) => {
            report.check(false, &format!("B's analyst reads two files: {error}"));
            return;
        }
    };
    let Some((z_principal, z_arn)) = z else {
        report.check(false, "Z's auditor's identity");
        return;
    };
    let seen = Seen {
        b_principal,
        b_session,
        b_key,
        b_reads,
        z_principal,
        z_arn,
    };
    let file = a_log_file(&seen, &deployment.share_path, b_name, &demo.trail);
    forward_a_log_file(report, demo, lambdas, file).await;
    show_activity(report, gateway, &seen, b_name);
}

/// A's new log file arrives: the forwarder keeps its share activity and
/// logs the denied attempt for the alarm.
async fn forward_a_log_file(report: &mut Report, demo: &Demo, lambdas: &Lambdas, file: Vec<u8>) {
    println!("    the stand-in has no CloudTrail: A's log file is written here, record by record");
    println!("    in the shapes AWS documents (tests/fixtures/activity), with what was just done");
    let now = OffsetDateTime::now_utc();
    let day = now.date().to_string();
    let stamp = format!("{:02}{:02}", now.hour(), now.minute());
    let (folder, compact) = (day.replace('-', "/"), day.replace('-', ""));
    let key = format!("AWSLogs/{A}/CloudTrail/us-east-1/{folder}/{A}_CloudTrail_us-east-1_{compact}T{stamp}Z_Activity01.json.gz");
    let a_s3 = s3(&demo.aws.admin(A).await);
    put_log(&a_s3, &demo.trail, &key, file).await;
    let batch = queue_batch(&demo.trail, std::slice::from_ref(&key));
    let reply = lambdas.invoke("forwarder", &batch);
    report.check(
        reply == json!({"batchItemFailures": []}),
        &format!("forwarder on A's new log file -> {reply}"),
    );
    let log = stand_in::repo_root().join("target/demo-lambdas.log");
    let alerted = std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains("\"denied_assume\"") && l.contains("auditor-z"));
    report.check(
        alerted,
        "the forwarder logs {\"event\": \"denied_assume\", \"share\": \"auditor-z\", …} for the alarm",
    );
}

/// A's admin asks `trailshare shares activity` for both shares: B's reads
/// and Z's denied attempt, each under its caller's account.
fn show_activity(report: &mut Report, gateway: &ApiGateway, seen: &Seen, b_name: &str) {
    let Some(cli) = Trailshare::find() else {
        report.check(false, "trailshare binary beside demo");
        return;
    };
    let env = [
        ("AWS_ACCESS_KEY_ID", ADMIN_KEY.0),
        ("AWS_SECRET_ACCESS_KEY", ADMIN_KEY.1),
    ];
    let bytes: i64 = seen.b_reads.iter().map(|(_, size)| size).sum();
    let b_want = json!({"assumed": 1, "denied": 0, "files_read": 2, "bytes_read": bytes});
    let z_want = json!({"assumed": 0, "denied": 1, "files_read": 0});
    for (share, account, want) in [(b_name, B, b_want), ("auditor-z", Z, z_want)] {
        let api = ["shares", "activity", share, "--api", &gateway.url];
        cli.run(&api, &env);
        let (ok, out) = cli.run_quiet(&[&api[..], &["--json"]].concat(), &env);
        let answer: Value = serde_json::from_str(&out).unwrap_or_default();
        let row = answer["principals"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["account"] == account))
            .cloned()
            .unwrap_or_default();
        let matches = want
            .as_object()
            .is_some_and(|w| w.iter().all(|(k, v)| &row[k] == v));
        report.check(
            ok && matches,
            &format!("trailshare shares activity {share} names {account}'s principal: {want}"),
        );
    }
}
