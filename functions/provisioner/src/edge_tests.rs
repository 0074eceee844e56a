//! The provisioner's edges (issue 20): the deployment's copy lists set but
//! empty, and who counts as an administrator. The router answers before any
//! IAM call in these tests, so the store refuses everything.

use serde_json::json;
use trailshare::config::Config;
use trailshare::store::{RoleDraft, RoleStore, RoleSummary, StoreError, StoredRole};

use crate::{ApiRequest, Provisioner};

/// Every call fails: the router's answer is all these tests look at.
pub(crate) struct NoIam;

fn refused() -> StoreError {
    StoreError::Failed {
        call: "iam:none",
        message: "not reachable in this test".into(),
    }
}

impl RoleStore for NoIam {
    async fn create(&self, _: &RoleDraft) -> Result<StoredRole, StoreError> {
        Err(refused())
    }
    async fn get(&self, _: &str, _: &str) -> Result<Option<StoredRole>, StoreError> {
        Err(refused())
    }
    async fn list_summaries(&self, _: &str) -> Result<Vec<RoleSummary>, StoreError> {
        Err(refused())
    }
    async fn get_policy(&self, _: &str, _: &str) -> Result<Option<String>, StoreError> {
        Err(refused())
    }
    async fn put_policy(&self, _: &str, _: &str, _: &str) -> Result<(), StoreError> {
        Err(refused())
    }
    async fn update_trust(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Err(refused())
    }
    async fn update_role(&self, _: &str, _: &str, _: i32) -> Result<(), StoreError> {
        Err(refused())
    }
    async fn tag(&self, _: &str, _: &[(String, String)]) -> Result<(), StoreError> {
        Err(refused())
    }
    async fn untag(&self, _: &str, _: &[String]) -> Result<(), StoreError> {
        Err(refused())
    }
    async fn delete(&self, _: &str) -> Result<bool, StoreError> {
        Err(refused())
    }
}

const ADMIN: &str = "arn:aws:iam::111111111111:user/platform-admin";

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
    let provisioner = Provisioner::new(NoIam, empty);
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
    let unset = Provisioner::new(NoIam, unset);
    let response = unset
        .handle(&request(ADMIN, "PUT", "/shares/bu-b", &to_bucket))
        .await;
    assert_eq!(response.status, 502, "{:?}", response.body);
}
