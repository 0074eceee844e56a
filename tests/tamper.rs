//! Issue 20, item 2, on the stand-in with IAM enforcement on: a principal
//! of A holding only `iam:TagRole` and `iam:UpdateRole` on share roles
//! rewrites a share's record (tags) and route (description). Neither
//! carries the provisioner's seal any more, so the share is `damaged`: the
//! API says so, `revoke-sessions` writes nothing from it, the sweep leaves
//! it, the forwarder delivers nothing for it and fails (never acknowledges)
//! what it claims while other shares' deliveries go on; an admin's PUT
//! heals it. A sealed record put back later (a rollback) shows as `drift`.

use aws_config::SdkConfig;
use forwarder::Outcome;
use serde_json::json;
use stand_in::world::{World, ADMIN};
use stand_in::{iam_tags, log_file, log_key, put_log, s3, share_role, unique, StandIn, A, B, C, Z};

/// The attacker: a user of A allowed only to tag and update roles.
async fn tagger(aws: &StandIn) -> aws_sdk_iam::Client {
    let user = aws
        .user(
            A,
            &unique("tagger"),
            &json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["iam:TagRole", "iam:UpdateRole", "iam:UpdateRoleDescription"], "Resource": "*"}
            ]}),
        )
        .await;
    aws_sdk_iam::Client::new(&user)
}

/// The share role's inline policy as IAM holds it.
async fn read_policy(admin: &SdkConfig, role_name: &str) -> String {
    aws_sdk_iam::Client::new(admin)
        .get_role_policy()
        .role_name(role_name)
        .policy_name(trailshare::policy::READ_POLICY_NAME)
        .send()
        .await
        .unwrap()
        .policy_document
}

#[tokio::test]
async fn a_share_rewritten_with_tag_role_is_damaged_delivers_nothing_and_a_put_heals_it() {
    let w = World::new(&[]).await;
    let b_bucket = w.aws.bucket(B, "b-logs").await;
    let z_bucket = w.aws.bucket(Z, "z-logs").await;
    let b = unique("b");
    let c = unique("c");
    for (name, grantee, bucket) in [(&b, B, &b_bucket), (&c, C, &String::new())] {
        let delivery = if bucket.is_empty() {
            json!({"mode": "tag"})
        } else {
            json!({"mode": "copy", "bucket": bucket})
        };
        let body = json!({"name": name, "grantee_account": grantee, "delivery": delivery});
        let (status, share) = w.call("POST", "/shares", Some(body)).await;
        assert_eq!(status, 201, "{share}");
        assert_eq!(
            w.call("GET", &format!("/shares/{name}"), None).await.1["status"],
            "active"
        );
    }
    let a_s3 = s3(&w.admin);
    let b_key = log_key(None, B, "1300");
    let c_key = log_key(None, C, "1300");
    put_log(&a_s3, &w.bucket, &b_key, log_file(B, "GetObject")).await;
    put_log(&a_s3, &w.bucket, &c_key, log_file(C, "GetObject")).await;

    // The attacker widens b to every account's files, copied to Z's bucket:
    // a record and a route the validator would accept, but not sealed.
    let wide = json!({"name": b, "grantee_account": B, "log_accounts": ["*"], "external_id": "stolen",
                      "delivery": {"mode": "copy", "bucket": z_bucket}});
    let spec = trailshare::share::validate(&wide, None, &w.bucket).unwrap();
    let record = trailshare::record::ShareRecord {
        spec: spec.clone(),
        created_by: ADMIN.into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_by: None,
        updated_at: None,
        sessions_valid_after: None,
    };
    let route = serde_json::to_string(&trailshare::route::Route::from(&spec)).unwrap();
    let attacker = tagger(w.aws).await;
    let b_role = format!("trailshare-{b}");
    attacker
        .tag_role()
        .role_name(&b_role)
        .set_tags(Some(iam_tags(&record.to_tags().unwrap())))
        .send()
        .await
        .expect("the attacker may tag");
    let forged_seal = "A".repeat(43) + "=";
    attacker
        .update_role()
        .role_name(&b_role)
        .description(format!("trailshare route v2 {forged_seal} {route}"))
        .send()
        .await
        .expect("the attacker may update the description");

    let (_, got) = w.call("GET", &format!("/shares/{b}"), None).await;
    assert_eq!(
        (got["status"].as_str(), got["reason"].as_str()),
        (Some("damaged"), Some("unauthenticated")),
        "{got}"
    );
    let (_, list) = w.call("GET", "/shares", None).await;
    assert!(
        list["shares"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == b.as_str() && s["reason"] == "unauthenticated"),
        "{list}"
    );
    // Nothing writes a policy from a record it cannot believe.
    let policy_before = read_policy(&w.admin, &b_role).await;
    let (status, body) = w
        .call("POST", &format!("/shares/{b}/revoke-sessions"), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("damaged"))
    );
    let policy_after = read_policy(&w.admin, &b_role).await;
    assert_eq!(policy_before, policy_after);

    // The forwarder: nothing for b, and both files it claims fail; c's own
    // delivery of C's file is done all the same.
    let forwarder = w.forwarder(&[&b_bucket, &z_bucket], &[]).await;
    for key in [&b_key, &c_key] {
        match forwarder.process(&w.created(key)).await {
            Outcome::Failed { error } => {
                assert!(error.contains("is damaged (unauthenticated)"), "{error}")
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    let listed = |bucket: String| {
        let client = s3(&w.admin);
        async move {
            client
                .list_objects_v2()
                .bucket(bucket)
                .send()
                .await
                .unwrap()
                .contents
                .unwrap_or_default()
                .len()
        }
    };
    assert_eq!(
        listed(z_bucket.clone()).await,
        0,
        "nothing reaches Z's bucket"
    );
    assert_eq!(listed(b_bucket.clone()).await, 0, "nothing is copied for b");
    let c_tags = a_s3
        .get_object_tagging()
        .bucket(&w.bucket)
        .key(&c_key)
        .send()
        .await
        .unwrap()
        .tag_set;
    assert!(c_tags
        .iter()
        .any(|t| t.key == "trailshare:account" && t.value == C));

    // The sweep leaves a damaged share alone, whatever its record says.
    let sweep =
        json!({"source": "aws.events", "detail-type": "Scheduled Event", "resources": ["rule"]});
    w.provisioner.handle_invocation(sweep).await.unwrap();
    assert_eq!(share_role(&w.admin, &b).await.role_name, b_role);

    // An admin's PUT heals it: B's file goes to B's bucket again, Z's gets nothing.
    let body = json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": b_bucket}});
    let (status, healed) = w.call("PUT", &format!("/shares/{b}"), Some(body)).await;
    assert_eq!(
        (status, healed["status"].as_str()),
        (200, Some("active")),
        "{healed}"
    );
    assert!(healed["sessions_valid_after"].is_string(), "{healed}");
    assert!(matches!(
        forwarder.process(&w.created(&b_key)).await,
        Outcome::Processed { .. }
    ));
    assert_eq!(listed(b_bucket.clone()).await, 1);
    assert_eq!(listed(z_bucket.clone()).await, 0);
}

#[tokio::test]
async fn a_sealed_record_rolled_back_with_tag_role_shows_as_drift() {
    let w = World::new(&[]).await;
    let b = unique("b");
    let body =
        json!({"name": b, "grantee_account": B, "log_accounts": [B, C], "external_id": "ext-1"});
    assert_eq!(w.call("POST", "/shares", Some(body)).await.0, 201);
    let old_tags: Vec<(String, String)> = share_role(&w.admin, &b)
        .await
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    // The admin narrows the share to B's own files.
    let (status, narrowed) = w
        .call(
            "PUT",
            &format!("/shares/{b}"),
            Some(json!({"grantee_account": B})),
        )
        .await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(
        w.call("GET", &format!("/shares/{b}"), None).await.1["status"],
        "active"
    );
    // The attacker puts back the record the provisioner sealed before.
    tagger(w.aws)
        .await
        .tag_role()
        .role_name(format!("trailshare-{b}"))
        .set_tags(Some(iam_tags(&old_tags)))
        .send()
        .await
        .unwrap();
    let (_, got) = w.call("GET", &format!("/shares/{b}"), None).await;
    assert_eq!(
        (got["status"].as_str(), got["reason"].as_str()),
        (Some("damaged"), Some("drift")),
        "{got}"
    );
    // The forwarder acts on the sealed route, which is the narrowed one.
    let forwarder = w.forwarder(&["nothing-to-copy"], &[]).await;
    let c_key = log_key(None, C, "1400");
    put_log(&s3(&w.admin), &w.bucket, &c_key, log_file(C, "GetObject")).await;
    assert!(matches!(
        forwarder.process(&w.created(&c_key)).await,
        Outcome::Skipped { .. }
    ));
}
