//! The provisioner's edges (issue 20): the deployment's copy lists set but
//! empty, and who counts as an administrator. The router answers before any
//! IAM call in these tests, so the store refuses everything.

use serde_json::json;
use trailshare::config::Config;
use trailshare::ports::{AwsError, RolePaths};
use trailshare::seal::ShareKey;
use trailshare::testkit::MemRoles;

use crate::{ApiRequest, Provisioner};

const ADMIN: &str = "arn:aws:iam::111111111111:user/platform-admin";

pub(crate) fn key() -> ShareKey {
    ShareKey::new(*b"edge tests' share key of 32 B!!!").unwrap()
}

fn config(vars: &[(&str, &str)]) -> Config {
    let mut all = vec![
        ("TRAIL_BUCKET", "trail-bucket"),
        ("ADMIN_PRINCIPALS", ADMIN),
        (
            "PERMISSIONS_BOUNDARY_ARN",
            "arn:aws:iam::111111111111:policy/boundary",
        ),
    ];
    all.extend_from_slice(vars);
    Config::from_lookup(|name| {
        all.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .expect("config")
}

fn request(caller: &str, method: &str, path: &str, body: &serde_json::Value) -> ApiRequest {
    ApiRequest {
        method: method.into(),
        path: path.into(),
        path_name: None,
        content_type: Some("application/json".into()),
        body: Some(body.to_string().into_bytes()),
        caller: caller.into(),
        stage: None,
        query: Vec::new(),
    }
}

/// The template passes `COPY_DESTINATION_BUCKETS` and `COPY_WRITER_ROLE_ARNS`
/// as "" when the deployer lists none, and then grants the forwarder no
/// write: a copy share would dead-letter every file, so it is refused (400
/// naming the field) before any IAM call. Unset still means "not checked".
/// Failed before the fix: "" read as unset, and the PUT went on to IAM.
#[tokio::test]
async fn copy_lists_set_but_empty_allow_no_copy() {
    let to_bucket = json!({"grantee_account": "222222222222",
                           "delivery": {"mode": "copy", "bucket": "b-logs"}});
    let via_writer = json!({"grantee_account": "222222222222",
                            "delivery": {"mode": "copy", "bucket": "b-logs",
                                         "role_arn": "arn:aws:iam::222222222222:role/writer"}});
    let empty = config(&[
        ("COPY_DESTINATION_BUCKETS", ""),
        ("COPY_WRITER_ROLE_ARNS", " , "),
    ]);
    assert_eq!(empty.copy_destination_buckets, Some(Vec::new()));
    assert_eq!(empty.copy_writer_role_arns, Some(Vec::new()));
    let provisioner = Provisioner::new(MemRoles::unreachable(), empty, key());
    for (body, field) in [
        (&to_bucket, "delivery.bucket"),
        (&via_writer, "delivery.role_arn"),
    ] {
        let response = provisioner
            .handle(&request(ADMIN, "PUT", "/shares/bu-b", body))
            .await;
        let error = &response.body.expect("an error body")["error"];
        assert_eq!(
            (response.status, error["field"].as_str()),
            (400, Some(field)),
            "{error}"
        );
    }
    // Unset: not checked, so the request reaches IAM (here: refused, 502).
    let unset = config(&[]);
    assert_eq!(unset.copy_destination_buckets, None);
    let unset = Provisioner::new(MemRoles::unreachable(), unset, key());
    let response = unset
        .handle(&request(ADMIN, "PUT", "/shares/bu-b", &to_bucket))
        .await;
    assert_eq!(response.status, 502, "{:?}", response.body);
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
        .handle(&request(caller, "POST", "/shares", &json!({})))
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
            &json!({}),
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
            &json!({}),
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
