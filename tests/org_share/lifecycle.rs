//! An organization share through the API on the stand-in: one role (one
//! trust, one inline policy, the boundary), a field that cannot go with it
//! refused by name with nothing made, replace / revoke / delete with their
//! audit lines, the seals, and `tag` delivery to members' files of the
//! organization layout only.

use std::sync::{Arc, Mutex};

use forwarder::Outcome;
use serde_json::{json, Value};
use stand_in::{log_file, put_log, s3, B, C};

use super::*;

/// `account`'s log file in the organization layout, or its own trail's.
pub(super) fn key(account: &str, org: bool) -> String {
    let layout = if org {
        format!("{ORG}/")
    } else {
        String::new()
    };
    format!("AWSLogs/{layout}{account}/CloudTrail/us-east-1/2024/05/01/{account}_CloudTrail_us-east-1_20240501T1300Z_OrgSh4re.json.gz")
}

#[tokio::test]
async fn an_organization_share_is_one_role_one_trust_one_inline_policy() {
    let w = org_world(&[]).await;
    let (name, share) = org_share(
        &w,
        json!({"principal_name": "LogReader", "org_paths": [OU]}),
    )
    .await;
    assert_eq!(
        share["organization"],
        json!({"id": ORG, "org_paths": [OU], "principal_name": "LogReader"})
    );
    let listed = roles(&w).await;
    assert_eq!(listed.len(), 1);
    let role_name = &listed[0].role_name;
    let iam = aws_sdk_iam::Client::new(&w.admin);
    let inline = iam
        .list_role_policies()
        .role_name(role_name)
        .send()
        .await
        .unwrap()
        .policy_names;
    assert_eq!(inline, [trailshare::policy::READ_POLICY_NAME]);
    let attached = iam
        .list_attached_role_policies()
        .role_name(role_name)
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies.unwrap_or_default().is_empty());
    let docs = documents(&w, &name).await;
    let statement = &docs.trust["Statement"][0];
    assert_eq!(docs.trust["Statement"].as_array().unwrap().len(), 1);
    assert_eq!(statement["Principal"], json!({"AWS": "*"}));
    assert_eq!(
        statement["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        ORG
    );
    let (status, read) = w.call("GET", &format!("/shares/{name}"), None).await;
    assert_eq!((status, &read["status"]), (200, &json!("active")), "{read}");
}

#[tokio::test]
async fn what_cannot_go_with_organization_is_named_and_nothing_is_made() {
    let w = org_world(&[]).await;
    for (field, extra) in [
        ("grantee_account", json!({"grantee_account": B})),
        ("log_accounts", json!({"log_accounts": [B]})),
        ("external_id", json!({"external_id": "x-1234"})),
        (
            "grantee_principals",
            json!({"grantee_principals": [format!("arn:aws:iam::{B}:root")]}),
        ),
        (
            "notify",
            json!({"notify": {"queue_arn": format!("arn:aws:sqs:us-east-1:{B}:q")}}),
        ),
        (
            "delivery.mode",
            json!({"delivery": {"mode": "copy", "bucket": "b-logs"}}),
        ),
        (
            "organization.org_paths[0]",
            json!({"organization": {"org_paths": ["o-zzzzzzzzzz/r-ab12/"]}}),
        ),
        ("organization.typo", json!({"organization": {"typo": true}})),
    ] {
        let mut body = json!({"name": unique("refused"), "organization": {}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, error) = w.call("POST", "/shares", Some(body)).await;
        assert_eq!(
            (status, &error["error"]["field"]),
            (400, &json!(field)),
            "{error}"
        );
    }
    assert!(roles(&w).await.is_empty());
    // A stack without ORGANIZATION_ID has no organization share to make.
    let plain = World::new(&[]).await;
    let (status, error) = plain
        .call(
            "POST",
            "/shares",
            Some(json!({"name": "m", "organization": {}})),
        )
        .await;
    assert_eq!(
        (status, &error["error"]["field"]),
        (400, &json!("organization"))
    );
    assert!(roles(&plain).await.is_empty());
}

#[tokio::test]
async fn replace_revoke_delete_and_every_change_audited() {
    let mut w = org_world(&[]).await;
    let lines = Arc::new(Mutex::new(Vec::<Value>::new()));
    let sink = lines.clone();
    w.provisioner = provisioner::Provisioner::new(
        IamRoles::from_sdk(&w.admin),
        w.config.clone(),
        stand_in::share_key(),
    )
    .with_audit(Box::new(move |line| {
        sink.lock().unwrap().push(line.clone())
    }));
    let (name, _) = org_share(&w, json!({})).await;
    let path = format!("/shares/{name}");
    let put =
        |organization: Value| json!({"delivery": {"mode": "tag"}, "organization": organization});
    let (status, share) = w
        .call("PUT", &path, Some(put(json!({"exclude_accounts": [C]}))))
        .await;
    assert_eq!(status, 200, "{share}");
    assert!(share.get("sessions_valid_after").is_none(), "{share}");
    let (status, share) = w
        .call(
            "PUT",
            &path,
            Some(put(json!({"exclude_accounts": [C], "org_paths": [OU]}))),
        )
        .await;
    assert_eq!(status, 200, "{share}");
    assert!(share["sessions_valid_after"].is_string(), "{share}");
    let (status, share) = w
        .call("POST", &format!("{path}/revoke-sessions"), None)
        .await;
    assert_eq!(status, 200, "{share}");
    // A share keeps its kind.
    let (status, error) = w
        .call("PUT", &path, Some(json!({"grantee_account": B})))
        .await;
    assert_eq!(
        (status, &error["error"]["field"]),
        (409, &json!("organization")),
        "{error}"
    );
    let (status, _) = w.call("DELETE", &path, None).await;
    assert_eq!(status, 204);
    assert!(roles(&w).await.is_empty());
    let lines = lines.lock().unwrap();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["create", "replace", "replace", "revoke-sessions", "delete"]
    );
    assert_eq!(
        lines[1]["before"]["spec"]["organization"],
        json!({"id": ORG})
    );
    assert_eq!(
        lines[1]["after"]["spec"]["organization"]["exclude_accounts"],
        json!([C])
    );
}

#[tokio::test]
async fn tag_delivery_tags_members_files_of_the_organization_layout_and_a_forged_route_fails_them()
{
    let w = org_world(&[]).await;
    let (name, _) = org_share(&w, json!({"exclude_accounts": [C]})).await;
    let a_s3 = s3(&w.admin);
    let config_key = format!("AWSLogs/{ORG}/{B}/Config/us-east-1/2024/5/1/ConfigHistory/{B}_Config_us-east-1_ConfigHistory_AWS::S3::Bucket_20240501T130000Z_20240501T130000Z_1.json.gz");
    let keys = [
        key(B, true),
        key(C, true),
        key(B, false),
        config_key.clone(),
    ];
    for (k, account) in keys.iter().zip([B, C, B, B]) {
        put_log(&a_s3, &w.bucket, k, log_file(account, "GetObject")).await;
    }
    let forwarder = w.forwarder(&[], &[]).await;
    for k in &keys {
        let outcome = forwarder.process(&w.created(k)).await;
        assert!(
            !matches!(outcome, Outcome::Failed { .. }),
            "{k}: {outcome:?}"
        );
    }
    let tag = vec![("trailshare:account".to_string(), B.to_string())];
    assert_eq!(w.tags(&keys[0]).await, tag);
    for k in &keys[1..] {
        assert!(w.tags(k).await.is_empty(), "{k}");
    }
    // Someone with iam:UpdateRole drops the exclusion from the route.
    let role = share_role(&w.admin, &name).await;
    let forged = role.description.unwrap().replace(
        &format!("\"exclude_accounts\":[\"{C}\"]"),
        "\"exclude_accounts\":[\"999999999999\"]",
    );
    aws_sdk_iam::Client::new(&w.admin)
        .update_role()
        .role_name(&role.role_name)
        .description(forged)
        .send()
        .await
        .unwrap();
    assert!(matches!(
        forwarder.process(&w.created(&keys[1])).await,
        Outcome::Failed { .. }
    ));
    assert!(w.tags(&keys[1]).await.is_empty());
    let (_, share) = w.call("GET", &format!("/shares/{name}"), None).await;
    assert_eq!(share["reason"], "unauthenticated", "{share}");
    // An admin's PUT heals it; C stays excluded.
    let body = json!({"delivery": {"mode": "tag"}, "organization": {"exclude_accounts": [C]}});
    let (status, _) = w.call("PUT", &format!("/shares/{name}"), Some(body)).await;
    assert_eq!(status, 200);
    assert!(matches!(
        forwarder.process(&w.created(&keys[1])).await,
        Outcome::Skipped { .. }
    ));
    assert!(w.tags(&keys[1]).await.is_empty());
}
