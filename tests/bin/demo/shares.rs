//! Shares through the provisioner Lambda: scenario 1 and 2, who may grant,
//! a replace, expiry and revocation.

use std::time::Duration;

use serde_json::{json, Value};
use stand_in::{fixture, A, B, C, Z};

use super::{analyst, read_status, step, Demo, Lambdas, Report};

pub(crate) async fn scenario_one(
    report: &mut Report,
    demo: &Demo,
    lambdas: &Lambdas,
    b_queue: &str,
) -> (Value, Value) {
    let Demo {
        aws,
        trail,
        keys,
        c_bucket,
        ..
    } = demo;
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
        let analyst = analyst(aws, me, share).await;
        let role = share["role_arn"].as_str().unwrap_or_default();
        match aws.assume(&analyst, role, None).await {
            Ok(session) => {
                report.check(true, &format!("{me} analyst assumes {role}"));
                let own = read_status(&session, trail, my_key).await;
                report.check(own == 200, &format!("{me} reads its own log file -> {own}"));
                let theirs = read_status(&session, trail, other_key).await;
                report.check(
                    theirs == 403,
                    &format!("{me} reads {other}'s log file -> {theirs} (denied)"),
                );
                let a_file = read_status(&session, trail, &keys[0]).await;
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
    (b_share, c_share)
}

pub(crate) async fn scenario_two(report: &mut Report, demo: &Demo, lambdas: &Lambdas) {
    let Demo {
        aws, trail, keys, ..
    } = demo;
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
                let got = read_status(&session, trail, key).await;
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
}

pub(crate) fn who_may_grant(report: &mut Report, lambdas: &Lambdas) {
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
}

pub(crate) async fn replace(report: &mut Report, demo: &Demo, lambdas: &Lambdas) {
    let Demo {
        aws, trail, keys, ..
    } = demo;
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
}

pub(crate) async fn expiry(report: &mut Report, lambdas: &Lambdas) {
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
}

pub(crate) async fn revocation(
    report: &mut Report,
    demo: &Demo,
    lambdas: &Lambdas,
    b_share: &Value,
) {
    let aws = demo.aws;
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
            let analyst = analyst(aws, B, b_share).await;
            aws.assume(&analyst, role, None).await.map(|_| ())
        }
    };
    report.check(
        after.is_err(),
        "B's AssumeRole now fails (the role is gone)",
    );
}
