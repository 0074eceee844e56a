//! What a deployment restricts: who may change shares and for which
//! grantees, where copies may go and where notifications may be sent.

use serde_json::{json, Value};
use stand_in::{unique, A, B, C, Z};

use super::documents::expect_decisions;
use super::{http_event, world_env, ADMIN, ROLE_ACTIONS};

/// The same event with another caller in the request context.
fn as_caller(mut event: Value, caller: &str) -> Value {
    event["requestContext"]["authorizer"]["iam"]["userArn"] = json!(caller);
    event
}

#[tokio::test]
async fn only_administrators_change_shares_and_only_for_allowed_grantees() {
    let w = world_env(
        ROLE_ACTIONS,
        false,
        &[
            (
                "ADMIN_PRINCIPALS",
                "arn:aws:iam::111111111111:role/platform/ShareAdmin*",
            ),
            ("GRANTEE_ACCOUNTS", B),
        ],
    )
    .await;
    // The administrators' role, and one named like it at another path: a
    // session ARN carries no path, so the provisioner asks IAM (GetRole).
    let iam = aws_sdk_iam::Client::new(&w.admin);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{A}:root")}, "Action": "sts:AssumeRole"}]});
    let share_admin = unique("ShareAdmin");
    let look_alike = unique("ShareAdminEvil");
    for (role, path) in [(&share_admin, "/platform/"), (&look_alike, "/evil/")] {
        iam.create_role()
            .role_name(role)
            .path(path)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .expect("create role");
    }
    let name = unique("exfil");
    let body = json!({"grantee_account": Z, "name": name, "log_accounts": ["*"], "external_id": "z-ext-01"}).to_string();
    // PowerUserAccess allows execute-api:Invoke: that alone changes nothing.
    let power_user = "arn:aws:sts::111111111111:assumed-role/PowerUser/mallory";
    for (method, path, body) in [
        ("POST", "/shares".to_string(), Some(body.as_str())),
        ("PUT", format!("/shares/{name}"), Some(body.as_str())),
        ("DELETE", format!("/shares/{name}"), None),
        ("POST", format!("/shares/{name}/revoke-sessions"), None),
    ] {
        // The fixture's caller (a user of A) is not an administrator either.
        for caller in [power_user, ADMIN] {
            let (status, response) = w
                .raw(as_caller(http_event(method, &path, body), caller))
                .await;
            assert_eq!(
                (status, response["error"]["code"].as_str()),
                (403, Some("forbidden")),
                "{caller} {method} {path}: {response}"
            );
        }
    }
    assert!(w.roles().await.is_empty());
    let evil = format!("arn:aws:sts::{A}:assumed-role/{look_alike}/mallory");
    let (status, response) = w
        .raw(as_caller(http_event("POST", "/shares", Some(&body)), &evil))
        .await;
    assert_eq!(status, 403, "a look-alike role at another path: {response}");
    let admin = format!("arn:aws:sts::{A}:assumed-role/{share_admin}/alice");
    let admin = admin.as_str();
    let (status, response) = w
        .raw(as_caller(http_event("POST", "/shares", Some(&body)), admin))
        .await;
    assert_eq!(
        (
            status,
            response["error"]["code"].as_str(),
            response["error"]["field"].as_str()
        ),
        (403, Some("forbidden"), Some("grantee_account")),
        "Z is not in GRANTEE_ACCOUNTS"
    );
    let ok = json!({"grantee_account": B, "name": name}).to_string();
    let (status, share) = w
        .raw(as_caller(http_event("POST", "/shares", Some(&ok)), admin))
        .await;
    assert_eq!(status, 201, "{share}");
    assert_eq!(share["created_by"], admin);
    assert_eq!(w.roles().await, [format!("trailshare-{name}")]);
    // Reads stay open to every caller the API lets in.
    let (status, _) = w
        .raw(as_caller(http_event("GET", "/shares", None), power_user))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn copies_go_to_the_grantee_only() {
    let w = world_env(
        ROLE_ACTIONS,
        false,
        &[
            ("COPY_DESTINATION_BUCKETS", "b-central-logs"),
            (
                "COPY_WRITER_ROLE_ARNS",
                &format!("arn:aws:iam::{B}:role/trailshare-writer"),
            ),
        ],
    )
    .await;
    let (status, body) = w
        .call("POST", "/shares", Some(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "elsewhere-logs"}})))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("delivery.bucket")),
        "{body}"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("redeploy"));
    let (status, body) = w
        .call("POST", "/shares", Some(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "elsewhere-logs",
            "role_arn": format!("arn:aws:iam::{B}:role/other-writer")}})))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("delivery.role_arn")),
        "{body}"
    );
    assert!(w.roles().await.is_empty());

    let name = unique("bu-b");
    let share = w
        .create(json!({"grantee_account": B, "name": name, "delivery": {"mode": "copy", "bucket": "b-central-logs", "prefix": "central/",
            "role_arn": format!("arn:aws:iam::{B}:role/trailshare-writer")}}))
        .await;
    let writer = &share["grantee_setup"]["writer_role"]["identity_policy"];
    let bucket_policy = &share["grantee_setup"]["destination_bucket_policy"];
    let put = |bucket_account: &str, policy: Option<&Value>| {
        let mut case = json!({"name": format!("writer puts into a bucket of {bucket_account}"),
            "identityPolicies": [writer],
            "request": {"principal": format!("arn:aws:sts::{B}:assumed-role/trailshare-writer/forwarder"),
                "action": "s3:PutObject", "resource": "arn:aws:s3:::b-central-logs/central/AWSLogs/x.json.gz",
                "resourceAccount": bucket_account, "context": {"s3:x-amz-acl": "bucket-owner-full-control",
                    "s3:ResourceAccount": bucket_account, "aws:ResourceAccount": bucket_account}}});
        if let Some(policy) = policy {
            case["resourcePolicy"] = policy.clone();
        }
        case
    };
    expect_decisions(vec![
        (put(B, None), "Allowed"),
        // A bucket of that name in another account: the writer may not write.
        (put(C, None), "ImplicitlyDenied"),
        (put(A, None), "ImplicitlyDenied"),
    ]);
    // The bucket policy handed to the grantee grants nothing on anyone else's bucket.
    let from_a = |bucket_account: &str| {
        json!({"name": format!("forwarder puts into {bucket_account}'s bucket"),
            "identityPolicies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}],
            "resourcePolicy": bucket_policy,
            "request": {"principal": format!("arn:aws:sts::{B}:assumed-role/trailshare-writer/forwarder"),
                "action": "s3:PutObject", "resource": "arn:aws:s3:::b-central-logs/central/AWSLogs/x.json.gz",
                "resourceAccount": bucket_account, "context": {"s3:x-amz-acl": "bucket-owner-full-control",
                    "s3:ResourceAccount": bucket_account, "aws:ResourceAccount": bucket_account}}})
    };
    expect_decisions(vec![
        (from_a(B), "Allowed"),
        (from_a(C), "ImplicitlyDenied"),
    ]);
}

#[tokio::test]
async fn notifications_go_to_the_grantee_only() {
    let listed = format!("arn:aws:sqs:us-east-1:{B}:b-new-logs");
    let forwarder = format!("arn:aws:iam::{A}:role/trailshare-ForwarderRole-X");
    let w = world_env(
        ROLE_ACTIONS,
        false,
        &[
            ("NOTIFICATION_TARGET_ARNS", listed.as_str()),
            ("FORWARDER_ROLE_ARN", forwarder.as_str()),
        ],
    )
    .await;
    for (notify, field) in [
        // Not in the stack's list: the forwarder could never send to it.
        (
            json!({"queue_arn": format!("arn:aws:sqs:us-east-1:{B}:elsewhere")}),
            "notify.queue_arn",
        ),
        // Someone else's topic: never, list or not.
        (
            json!({"topic_arn": format!("arn:aws:sns:us-east-1:{C}:t")}),
            "notify.topic_arn",
        ),
        (
            json!({"queue_arn": listed, "topic_arn": format!("arn:aws:sns:us-east-1:{B}:t")}),
            "notify",
        ),
    ] {
        let (status, body) = w
            .call(
                "POST",
                "/shares",
                Some(json!({"grantee_account": B, "notify": notify})),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some(field)),
            "{body}"
        );
    }
    assert!(w.roles().await.is_empty(), "a refused share left a role");

    let share = w
        .create(
            json!({"grantee_account": B, "name": unique("bu-b"), "notify": {"queue_arn": listed}}),
        )
        .await;
    assert_eq!(share["notify"], json!({"queue_arn": listed}));
    let (_, got) = w
        .call(
            "GET",
            &format!("/shares/{}", share["name"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        got["notify"],
        json!({"queue_arn": listed}),
        "GET rebuilds notify from IAM"
    );
    // The statement the queue's owner adds lets the forwarder send, and
    // nobody else, and nothing else.
    let policy = &share["grantee_setup"]["queue_policy"];
    let case = |principal: &str, action: &str| {
        json!({"name": format!("{principal} {action}"), "identityPolicies": [
                   {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}],
               "resourcePolicy": policy,
               "request": {"principal": principal, "action": action, "resource": listed, "resourceAccount": B, "context": {}}})
    };
    let session = format!("arn:aws:sts::{A}:assumed-role/trailshare-ForwarderRole-X/forwarder");
    expect_decisions(vec![
        (case(&session, "sqs:SendMessage"), "Allowed"),
        (case(&session, "sqs:ReceiveMessage"), "ImplicitlyDenied"),
        (
            case(
                &format!("arn:aws:sts::{A}:assumed-role/other/s"),
                "sqs:SendMessage",
            ),
            "ImplicitlyDenied",
        ),
        (
            case(
                &format!("arn:aws:sts::{Z}:assumed-role/trailshare-ForwarderRole-X/s"),
                "sqs:SendMessage",
            ),
            "ImplicitlyDenied",
        ),
    ]);
}
