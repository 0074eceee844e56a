//! Who may change shares (administrators, matched by name and path), and
//! the audit line each change leaves.

use serde_json::{json, Value};
use trailshare::config::Config;
use trailshare::ports::{AwsError, RolePaths};
use trailshare::testkit::MemRoles;

use super::support::{api, config, key, request, ADMIN, B, C};
use crate::Provisioner;

#[tokio::test]
async fn only_administrators_change_shares() {
    let api = api(config(&[(
        "ADMIN_PRINCIPALS",
        "arn:aws:iam::111111111111:role/platform/Admin,arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*",
    )]));
    let power_user = "arn:aws:sts::111111111111:assumed-role/PowerUser/mallory";
    let body = json!({"grantee_account": "444444444444", "name": "exfil", "log_accounts": ["*"], "external_id": "xx"}).to_string();
    for (method, path, body) in [
        ("POST", "/shares", Some(body.as_str())),
        ("PUT", "/shares/exfil", Some(body.as_str())),
        ("DELETE", "/shares/exfil", None),
        ("POST", "/shares/exfil/revoke-sessions", None),
        ("POST", "/shares/exfil/backfill", Some("{}")),
        // Refused before the body is even read.
        ("POST", "/shares", Some("{not json")),
    ] {
        let (status, response) = api.call_as(power_user, method, path, body).await;
        assert_eq!(
            (status, response["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}"
        );
    }
    assert!(api.store.writes().is_empty());
    assert!(api.audit.lock().unwrap().is_empty());
    // Reads stay open.
    assert_eq!(api.call_as(power_user, "GET", "/shares", None).await.0, 200);
    for admin in [
        "arn:aws:sts::111111111111:assumed-role/Admin/alice",
        "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_5f1e2d/alice@example.com",
    ] {
        let name = format!("b{}", admin.len());
        let body = json!({"grantee_account": B, "name": name}).to_string();
        let (status, share) = api.call_as(admin, "POST", "/shares", Some(&body)).await;
        assert_eq!(status, 201, "{admin}: {share}");
        assert_eq!(share["created_by"], admin);
    }
    // Unset: nobody may change anything.
    let locked = self::api(
        Config::from_lookup(|n| (n == "TRAIL_BUCKET").then(|| "trail-bucket".to_string())).unwrap(),
    );
    let (status, _) = locked
        .call("POST", "/shares", Some(json!({"grantee_account": B})))
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn every_change_writes_one_audit_line() {
    let api = api(config(&[]));
    api.call(
        "POST",
        "/shares",
        Some(json!({"grantee_account": B, "name": "b"})),
    )
    .await;
    api.call(
        "PUT",
        "/shares/b",
        Some(json!({"grantee_account": B, "log_accounts": [B, C], "external_id": "e1"})),
    )
    .await;
    api.call("POST", "/shares/b/revoke-sessions", None).await;
    api.call("GET", "/shares/b", None).await;
    api.call("DELETE", "/shares/b", None).await;
    let lines = api.audit.lock().unwrap().clone();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "replace", "revoke-sessions", "delete"]);
    for line in &lines {
        assert_eq!(
            (line["caller"].as_str(), line["share"].as_str()),
            (Some(ADMIN), Some("b"))
        );
    }
    assert_eq!(lines[0]["before"], Value::Null);
    assert_eq!(lines[1]["before"]["spec"]["log_accounts"], json!([B]));
    assert_eq!(lines[1]["after"]["spec"]["log_accounts"], json!([B, C]));
    assert_eq!(lines[3]["after"], Value::Null);
}

const SSO_ENTRY: &str =
    "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*";

fn session(role: &str) -> String {
    format!("arn:aws:sts::111111111111:assumed-role/{role}/alice@example.com")
}

/// A change by `caller`: an empty body, so an admitted caller gets the
/// validator's 400 and a refused one 403/503, all before any IAM write.
async fn change_as<P: RolePaths>(
    provisioner: &Provisioner<MemRoles, trailshare::ports::NoQueue, P>,
    caller: &str,
) -> (u16, String) {
    let response = provisioner
        .handle(&request(caller, "POST", "/shares", Some("{}")))
        .await;
    let body = response.body.unwrap_or_default();
    (
        response.status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// An entry's `*` stays within the name and its path must be the role's:
/// an Identity Center admin role is admitted (one GetRole, then cached), a
/// role of the same name at another path is not, nor is a user one level
/// deeper than a `user/ops/a*` entry. Failed before the fix: both
/// look-alikes were admitted.
#[tokio::test]
async fn admin_wildcards_match_within_the_name_at_the_entrys_path_only() {
    let entries = format!("{SSO_ENTRY},arn:aws:iam::111111111111:user/ops/a*");
    let paths = MemRoles::default().with_paths(&[
        (
            "AWSReservedSSO_Admin_0a1b",
            "/aws-reserved/sso.amazonaws.com/",
        ),
        ("AWSReservedSSO_Admin_evil", "/evil/"),
    ]);
    let provisioner = Provisioner::new(
        MemRoles::unreachable(),
        config(&[("ADMIN_PRINCIPALS", &entries)]),
        key(),
    )
    .with_role_paths(&paths);
    let admin = session("AWSReservedSSO_Admin_0a1b");
    assert_eq!(
        change_as(&provisioner, &admin).await,
        (400, "missing_field".into())
    );
    assert_eq!(
        change_as(&provisioner, &admin).await,
        (400, "missing_field".into())
    );
    assert_eq!(paths.lookups(), 1, "cached per process");
    for (caller, why) in [
        (
            session("AWSReservedSSO_Admin_evil"),
            "same name, another path",
        ),
        (session("AWSReservedSSO_Admin_gone"), "no such role"),
        (session("PowerUser"), "not named"),
        (
            "arn:aws:iam::111111111111:user/ops/ab/x".to_string(),
            "a user one level deeper",
        ),
        (
            "arn:aws:iam::111111111111:user/alice".to_string(),
            "a user at another path",
        ),
    ] {
        assert_eq!(
            change_as(&provisioner, &caller).await,
            (403, "forbidden".into()),
            "{why}"
        );
    }
    assert_eq!(
        change_as(&provisioner, "arn:aws:iam::111111111111:user/ops/alice").await,
        (400, "missing_field".into())
    );
    // Reads need no administrator, hence no lookup.
    let before = paths.lookups();
    let read = provisioner
        .handle(&request(
            &session("AWSReservedSSO_Admin_evil"),
            "GET",
            "/shares",
            Some("{}"),
        ))
        .await;
    assert_eq!(read.status, 502, "the read reached IAM (refused here)");
    assert_eq!(paths.lookups(), before);
}

/// When the caller's role path cannot be looked up, the change is refused
/// with a 503 naming the call, never admitted; without an IAM client at
/// all, the same.
#[tokio::test]
async fn a_failed_role_path_lookup_is_a_503_naming_the_call() {
    let entries = "arn:aws:iam::111111111111:role/ops/throttled";
    let paths = MemRoles::default();
    paths.fail_lookup(
        "throttled",
        AwsError::Throttled {
            call: "iam:GetRole",
            message: "Throttling: Rate exceeded".into(),
        },
    );
    let provisioner = Provisioner::new(
        MemRoles::unreachable(),
        config(&[("ADMIN_PRINCIPALS", entries)]),
        key(),
    )
    .with_role_paths(&paths);
    let response = provisioner
        .handle(&request(
            &session("throttled"),
            "POST",
            "/shares",
            Some("{}"),
        ))
        .await;
    let body = response.body.expect("an error body");
    assert_eq!(
        (response.status, body["error"]["code"].as_str()),
        (503, Some("admin_check_failed"))
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("iam:GetRole") && message.contains("Throttling"),
        "{message}"
    );
    // Not cached: the next request asks again.
    change_as(&provisioner, &session("throttled")).await;
    assert_eq!(paths.lookups(), 2);
    let unwired = Provisioner::new(
        MemRoles::unreachable(),
        config(&[("ADMIN_PRINCIPALS", SSO_ENTRY)]),
        key(),
    );
    assert_eq!(
        change_as(&unwired, &session("AWSReservedSSO_Admin_0a1b")).await,
        (503, "admin_check_failed".into())
    );
    // A role entry of another account than the stack's cannot be checked.
    let foreign = Provisioner::new(
        MemRoles::unreachable(),
        config(&[("ADMIN_PRINCIPALS", "arn:aws:iam::999999999999:role/Admin")]),
        key(),
    )
    .with_role_paths(MemRoles::default().with_paths(&[("Admin", "/")]));
    assert_eq!(
        change_as(&foreign, "arn:aws:sts::999999999999:assumed-role/Admin/x").await,
        (403, "forbidden".into())
    );
}
