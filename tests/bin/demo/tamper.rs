//! Issue 20: a share rewritten without the provisioner's seal is damaged
//! until an admin's PUT heals it.

use serde_json::json;
use stand_in::{log_key, put_log, s3, trail_file, unique, StandIn, A, B, C};

use super::lambdas::queue_batch;
use super::{step, Lambdas, Report, ADMIN};

/// Issue 20: someone in A with only iam:TagRole/UpdateRole rewrites C's
/// share to copy every account's files to C's bucket. Its seal no longer
/// fits: the share is damaged, nothing is delivered for it, the file it
/// claims is not acknowledged; an admin's PUT heals it.
pub(crate) async fn tamper_step(
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
