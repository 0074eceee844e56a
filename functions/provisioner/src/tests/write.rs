//! What a create or a replace writes, and what it refuses: no-op PUTs,
//! expiry changes, IAM's limits and refusals, revocation.

use serde_json::json;
use trailshare::ports::AwsError;
use trailshare::record::ShareRecord;
use trailshare::testkit::MemRoles;

use super::support::{
    api, config, describe, failed, from_now, key, principal, request, session_reads, spec,
    throttled, ADMIN, B,
};
use crate::Provisioner;

#[tokio::test]
async fn identical_puts_write_nothing_and_revoke_sessions_denies_older_ones() {
    let api = api(config(&[]));
    let body = json!({"grantee_account": B, "delivery": {"mode": "tag"}});
    api.put_new("b", body.clone()).await;
    api.store.clear_writes();
    let (status, same) = api.call("PUT", "/shares/b", Some(body.clone())).await;
    assert_eq!(status, 200);
    assert!(api.store.writes().is_empty());
    assert!(same.get("sessions_valid_after").is_none());
    // A delivery change revokes nothing: who and what are unchanged. The
    // route in the description changes with it.
    let (_, tagged) = api
        .call("PUT", "/shares/b", Some(json!({"grantee_account": B})))
        .await;
    assert!(tagged.get("sessions_valid_after").is_none());
    assert_eq!(api.store.writes(), ["iam:UpdateRole", "iam:TagRole"]);
    assert_eq!(
        api.store.role("b").description,
        describe(
            &spec(&json!({"name": "b", "grantee_account": B})),
            &api.store.role("b")
        )
    );

    let (status, revoked) = api.call("POST", "/shares/b/revoke-sessions", None).await;
    assert_eq!(status, 200, "{revoked}");
    let moment = revoked["sessions_valid_after"]
        .as_str()
        .unwrap()
        .to_string();
    let role = api.store.role("b");
    assert!(!session_reads(&role, "2000-01-01T00:00:00Z", B));
    assert!(session_reads(&role, "2999-01-01T00:00:00Z", B));
    // A later replace keeps the deny.
    let (_, replaced) = api
        .call(
            "PUT",
            "/shares/b",
            Some(json!({"grantee_account": B, "max_session_seconds": 7200})),
        )
        .await;
    assert_eq!(replaced["sessions_valid_after"], json!(moment));
    assert!(!session_reads(
        &api.store.role("b"),
        "2000-01-01T00:00:00Z",
        B
    ));
    assert_eq!(api.store.role("b").max_session_seconds, 7200);
}

#[tokio::test]
async fn changing_the_expiry_moves_trust_policy_and_route_and_revokes_older_sessions() {
    let api = api(config(&[]));
    let (soon, later) = (from_now(3_600), from_now(86_400));
    let body = |at: &str| json!({"grantee_account": B, "expires_at": at});
    api.put_new("b", body(&soon)).await;
    let role = api.store.role("b");
    assert_eq!(
        role.trust["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"],
        json!(soon)
    );
    assert!(role.description.contains(&soon), "{}", role.description);
    let (status, extended) = api.call("PUT", "/shares/b", Some(body(&later))).await;
    assert_eq!(status, 200, "{extended}");
    assert_eq!(extended["expires_at"], json!(later));
    assert!(extended["sessions_valid_after"].is_string());
    let role = api.store.role("b");
    assert_eq!(
        role.trust["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"],
        json!(later)
    );
    assert!(role.policies["trailshare-read"]
        .to_string()
        .contains(&later));
    assert!(!role.policies["trailshare-read"].to_string().contains(&soon));
    // The forwarder and the sweep read the route from the description.
    assert!(role.description.contains(&later), "{}", role.description);
    assert!(!session_reads(&role, "2000-01-01T00:00:00Z", B));
    assert!(session_reads(&role, "2999-01-01T00:00:00Z", B));
    // Dropping the expiry: no date condition left.
    let (status, _) = api
        .call("PUT", "/shares/b", Some(json!({"grantee_account": B})))
        .await;
    assert_eq!(status, 200);
    let role = api.store.role("b");
    assert!(role.trust["Statement"][0].get("Condition").is_none());
    assert!(!role.policies["trailshare-read"]
        .to_string()
        .contains("CurrentTime"));
    assert!(!role.description.contains(&later));
}

/// Issue 20, item 4: IAM applies a trust change within seconds, so an old
/// principal may still assume through the stale trust just after it. The
/// `aws:TokenIssueTime` deny therefore lies a propagation margin (15 s)
/// after the change: sessions issued inside it are cut too.
#[tokio::test]
async fn revocation_outlasts_iam_propagation() {
    let api = api(config(&[]));
    let body = json!({"name": "b", "grantee_account": B, "grantee_principals": [principal("Old")]});
    assert_eq!(api.call("POST", "/shares", Some(body)).await.0, 201);
    let new = json!({"grantee_account": B, "grantee_principals": [principal("New")]});
    for (method, path, body) in [
        ("POST", "/shares/b/revoke-sessions", None),
        ("PUT", "/shares/b", Some(new)),
    ] {
        let (status, share) = api.call(method, path, body).await;
        assert_eq!(status, 200, "{share}");
        let valid_after = share["sessions_valid_after"].as_str().unwrap();
        assert!(
            valid_after >= from_now(15).as_str(),
            "{path}: {valid_after}"
        );
        assert!(
            valid_after <= from_now(17).as_str(),
            "{path}: {valid_after}"
        );
        let role = api.store.role("b");
        // A session the stale trust issued 10 s after the change: denied.
        assert!(!session_reads(&role, &from_now(10), B), "{path}");
        assert!(session_reads(&role, &from_now(20), B), "{path}");
    }
    assert_eq!(crate::PROPAGATION_MARGIN, time::Duration::seconds(15));
}

#[tokio::test]
async fn every_admitted_share_fits_iam_with_an_expiry_and_a_session_deny() {
    // Mid-replace, a share that drops its expiry keeps the old one: an
    // admitted share must fit IAM's limit with both denies, whatever it asks.
    let api = api(config(&[]));
    let body = |n: u64| {
        let accounts: Vec<String> = (0..n)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i))
            .collect();
        json!({"grantee_account": B, "log_accounts": accounts, "external_id": "e-1"})
    };
    let mut largest = 0;
    while api
        .call(
            "PUT",
            &format!("/shares/n{}", largest + 1),
            Some(body(largest + 1)),
        )
        .await
        .0
        == 201
    {
        largest += 1;
    }
    assert!(largest > 10, "{largest}");
    let mut widest = body(largest);
    widest["name"] = json!("w");
    widest["expires_at"] = json!("2999-01-01T00:00:00Z");
    let policy =
        trailshare::policy::role_policy(&spec(&widest), &config(&[]), Some("2999-01-01T00:00:00Z"));
    let size = trailshare::policy::iam_size(&policy);
    assert!(
        size <= trailshare::policy::MAX_INLINE_POLICY_CHARS,
        "{largest} accounts admitted, {size} characters with both denies"
    );
}

#[tokio::test]
async fn iam_refusing_a_principal_is_a_400_naming_it() {
    let api = api(config(&[]));
    let ghost = format!("arn:aws:iam::{B}:role/Ghost");
    api.store.fail_write(
        1,
        AwsError::Rejected {
            call: "",
            message: format!(
                "MalformedPolicyDocument: Invalid principal in policy: \"AWS\":\"{ghost}\""
            ),
        },
    );
    let (status, body) = api
        .call(
            "POST",
            "/shares",
            Some(json!({"grantee_account": B, "grantee_principals": [principal("Real"), ghost]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "grantee_principals[1]");
    // Throttling is a 503 naming the call and the code only.
    api.store
        .fail_write(1, throttled("Throttling: Rate exceeded for 111111111111"));
    let (status, body) = api
        .call("POST", "/shares", Some(json!({"grantee_account": B})))
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (503, Some("iam:CreateRole failed: Throttling"))
    );
}

#[tokio::test]
async fn records_with_a_stale_tail_stay_readable() {
    let api = api(config(&[]));
    let principals: Vec<String> = (0..20)
        .map(|i| principal(&format!("reader-{i:02}")))
        .collect();
    api.call(
        "PUT",
        "/shares/b",
        Some(json!({"grantee_account": B, "grantee_principals": principals})),
    )
    .await;
    // The replace's UntagRole (its last write) fails: the tail stays.
    api.store.fail_write(4, failed("ServiceFailure"));
    let (status, body) = api
        .call("PUT", "/shares/b", Some(json!({"grantee_account": B})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        api.store.writes(),
        [
            "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePolicy",
            "iam:TagRole",
            "iam:UntagRole"
        ]
    );
    let role = api.store.role("b");
    assert!(role
        .stored
        .tags
        .iter()
        .any(|(k, _)| k == "trailshare:record:03"));
    let record = ShareRecord::from_tags("trailshare-b", role.stored.tag_pairs()).unwrap();
    assert_eq!(
        record.spec.grantee_principals,
        [format!("arn:aws:iam::{B}:root")]
    );
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
            .handle(&request(
                ADMIN,
                "PUT",
                "/shares/bu-b",
                Some(&body.to_string()),
            ))
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
        .handle(&request(
            ADMIN,
            "PUT",
            "/shares/bu-b",
            Some(&to_bucket.to_string()),
        ))
        .await;
    assert_eq!(response.status, 502, "{:?}", response.body);
}
