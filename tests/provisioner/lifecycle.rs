//! A share's life in IAM: created (once, and wholly or not at all),
//! replaced in place, listed, healed when damaged, deleted.

use serde_json::{json, Value};
use stand_in::{iam_tags, share_role, unique, B, C};

use super::{http_event, world, world_with, ADMIN, ROLE_ACTIONS};

#[tokio::test]
async fn put_creates_then_replaces_in_place_and_repeats_change_nothing() {
    let w = world().await;
    let name = unique("bu-b");
    let path = format!("/shares/{name}");
    let role = format!("trailshare-{name}");
    let body = json!({"grantee_account": B, "delivery": {"mode": "tag"}});
    let (status, first) = w.call("PUT", &path, Some(body.clone())).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = w.call("PUT", &path, Some(body)).await;
    assert_eq!(
        (status, &again),
        (200, &first),
        "the same body twice changes nothing"
    );

    let wider = json!({"grantee_account": B, "log_accounts": [B, C], "external_id": "b-ext-01", "max_session_seconds": 3600});
    let (status, replaced) = w.call("PUT", &path, Some(wider.clone())).await;
    assert_eq!(status, 200, "{replaced}");
    // IAM (GetRole) gives back the description and session length the
    // replace wrote, so a repeat finds nothing to repair.
    assert_eq!(
        w.call("PUT", &path, Some(wider)).await,
        (200, replaced.clone()),
        "the new body twice changes nothing"
    );
    assert_eq!(replaced["created_at"], first["created_at"]);
    assert_eq!(replaced["log_accounts"], json!([B, C]));
    assert_eq!(replaced["delivery"], json!({"mode": "none"}));
    let iam = aws_sdk_iam::Client::new(&w.admin);
    let policy = iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("trailshare-read")
        .send()
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&urlencoding_decode(&policy.policy_document)).unwrap();
    assert_eq!(
        doc["Statement"][0]["Resource"],
        json!([
            format!("arn:aws:s3:::{}/AWSLogs/{B}/*", w.bucket),
            format!("arn:aws:s3:::{}/AWSLogs/{C}/*", w.bucket)
        ])
    );
    let (_, mut got) = w.call("GET", &path, None).await;
    assert_eq!(got["last_used"], Value::Null, "never assumed");
    got.as_object_mut().unwrap().remove("last_used");
    assert_eq!(got, replaced);
    assert_eq!(w.roles().await, [role]);
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[tokio::test]
async fn concurrent_creates_of_one_name_give_one_201_and_one_409() {
    let w = world().await;
    let name = unique("race");
    let body = json!({"grantee_account": B, "name": name});
    let (one, two) = tokio::join!(
        w.call("POST", "/shares", Some(body.clone())),
        w.call("POST", "/shares", Some(body))
    );
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{one:?} {two:?}");
    let conflict = if one.0 == 409 { one.1 } else { two.1 };
    assert_eq!(conflict["error"]["code"], "conflict");
    assert_eq!(conflict["error"]["field"], "name");
    assert_eq!(w.roles().await, [format!("trailshare-{name}")]);
}

#[tokio::test]
async fn a_create_that_fails_half_way_leaves_no_role() {
    let without_put_policy: Vec<&str> = ROLE_ACTIONS
        .iter()
        .copied()
        .filter(|a| *a != "iam:PutRolePolicy")
        .collect();
    let w = world_with(&without_put_policy, false).await;
    let (status, body) = w
        .call(
            "POST",
            "/shares",
            Some(json!({"grantee_account": B, "name": unique("half")})),
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "aws_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("iam:PutRolePolicy"),
        "{body}"
    );
    assert!(
        w.roles().await.is_empty(),
        "the half-made role must be removed"
    );
}

#[tokio::test]
async fn damaged_legacy_and_unmanaged_roles_are_listed_healed_and_deletable() {
    let w = world_with(ROLE_ACTIONS, true).await;
    let iam = aws_sdk_iam::Client::new(&w.admin);
    let torn = unique("torn");
    let loose = unique("loose");
    for name in [&torn, &loose] {
        w.create(json!({"grantee_account": B, "name": name})).await;
    }
    // A hand edit (or a half-finished replace) leaves an unreadable record.
    iam.untag_role()
        .role_name(format!("trailshare-{torn}"))
        .tag_keys("trailshare:record:00")
        .send()
        .await
        .unwrap();
    // Someone removes a boundary outside trailshare: the fence forbids touching it.
    iam.delete_role_permissions_boundary()
        .role_name(format!("trailshare-{loose}"))
        .send()
        .await
        .unwrap();
    // A role of the first version: uppercase name, record without chunk count.
    let legacy = format!("Legacy-{}", std::process::id());
    let record: trailshare::record::ShareRecord = serde_json::from_value(json!({"spec": {"name": legacy, "grantee_account": B,
        "grantee_principals": [format!("arn:aws:iam::{B}:root")], "log_accounts": [B], "max_session_seconds": 3600,
        "delivery": {"mode": "none"}}, "created_by": ADMIN, "created_at": "2026-11-01T00:00:00Z"}))
    .unwrap();
    let v1_record: Vec<(String, String)> = record
        .to_tags()
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k != "trailshare:record-chunks")
        .collect();
    let boundary_arn = share_role(&w.admin, &torn)
        .await
        .permissions_boundary
        .unwrap()
        .permissions_boundary_arn
        .unwrap();
    iam.create_role()
        .role_name(format!("trailshare-{legacy}"))
        .path(&w.path)
        .permissions_boundary(&boundary_arn)
        .assume_role_policy_document(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{B}:root")}, "Action": "sts:AssumeRole"}]}).to_string())
        .set_tags(Some(iam_tags(&v1_record)))
        .send()
        .await
        .unwrap();

    let (status, list) = w.call("GET", "/shares", None).await;
    assert_eq!(status, 200);
    let by_name = |name: &str| {
        list["shares"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not listed: {list}"))
    };
    assert_eq!(by_name(&torn)["status"], "damaged");
    assert!(by_name(&loose)["error"]
        .as_str()
        .unwrap()
        .starts_with("not_managed"));
    // Issue 20: a record without the provisioner's seal steers nothing.
    assert_eq!(
        (
            by_name(&legacy)["status"].as_str(),
            by_name(&legacy)["reason"].as_str()
        ),
        (Some("damaged"), Some("unsigned"))
    );
    assert_eq!(
        w.call("GET", &format!("/shares/{legacy}"), None).await.1["reason"],
        "unsigned"
    );

    // An admin's PUT heals a damaged share: sealed, and whole again.
    let (status, body) = w
        .call(
            "PUT",
            &format!("/shares/{torn}"),
            Some(json!({"grantee_account": B})),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    assert_eq!(
        w.call("GET", &format!("/shares/{torn}"), None).await.1["status"],
        "active"
    );
    let (status, body) = w.call("DELETE", &format!("/shares/{loose}"), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_managed"))
    );
    for name in [&torn, &legacy] {
        assert_eq!(
            w.call("DELETE", &format!("/shares/{name}"), None).await.0,
            204,
            "{name}"
        );
    }
    assert_eq!(w.roles().await, [format!("trailshare-{loose}")]);
}

#[tokio::test]
async fn a_share_named_shares_is_a_share() {
    let w = world().await;
    // Role names are account-wide: only one test process may hold it.
    let (status, body) = w
        .call("PUT", "/shares/shares", Some(json!({"grantee_account": B})))
        .await;
    if status == 409 {
        return assert_eq!(body["error"]["code"], "conflict", "{body}");
    }
    assert_eq!(status, 201, "{body}");
    let (status, got) = w.call("GET", "/shares/shares", None).await;
    assert_eq!((status, got["name"].as_str()), (200, Some("shares")));
    let mut staged = http_event("GET", "/prod/shares/shares", None);
    staged["requestContext"]["stage"] = json!("prod");
    assert_eq!(w.raw(staged).await.1["name"], "shares");
    assert_eq!(w.call("DELETE", "/shares/shares", None).await.0, 204);
    assert!(w.roles().await.is_empty());
}
