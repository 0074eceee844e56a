//! `expires_at`: held by IAM under the independent evaluator, swept by the
//! daily schedule, and applied by the stand-in to a live session.

use serde_json::{json, Value};
use stand_in::{unique, B, C};

use super::documents::expect_decisions;
use super::{world, world_with, ROLE_ACTIONS};

/// RFC 3339 in whole seconds, `seconds` from now.
fn from_now(seconds: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// `expires_at` as IAM holds it: nobody assumes the role from then on and
/// sessions already issued read nothing, judged by the independent
/// evaluator at moments before and after (`aws:CurrentTime`); and a replace
/// that stopped half-way ends at the earlier of the two expiries.
#[tokio::test]
async fn expiry_holds_under_an_independent_evaluator() {
    let w = world_with(ROLE_ACTIONS, true).await;
    let name = unique("bu-b");
    let expires = from_now(86_400);
    let share = w
        .create(json!({"grantee_account": B, "name": name, "expires_at": expires}))
        .await;
    assert_eq!(
        (share["expires_at"].as_str(), share["status"].as_str()),
        (Some(expires.as_str()), Some("active"))
    );
    let docs = w.documents(&name).await;
    let object = |account: &str| w.object_arn(account);
    let at = |moment: &str| json!({"aws:CurrentTime": moment});
    let assume_at = |moment: &str| {
        let mut case = docs.assume(&format!("arn:aws:iam::{B}:user/analyst"), None);
        case["request"]["context"] = at(moment);
        case
    };
    let (before, after) = (from_now(3_600), from_now(2 * 86_400));
    let mut cases = vec![
        (assume_at(&before), "Allowed"),
        (assume_at(&expires), "ImplicitlyDenied"),
        (assume_at(&after), "ImplicitlyDenied"),
        (
            docs.call("s3:GetObject", &object(B), at(&before), &[], true),
            "Allowed",
        ),
        // A session issued before the expiry reads nothing from then on.
        (
            docs.call("s3:GetObject", &object(B), at(&expires), &[], true),
            "ExplicitlyDenied",
        ),
        (
            docs.call("s3:GetObject", &object(B), at(&after), &[], true),
            "ExplicitlyDenied",
        ),
        (
            docs.call(
                "s3:ListBucket",
                &format!("arn:aws:s3:::{}", w.bucket),
                json!({"aws:CurrentTime": after, "s3:prefix": format!("AWSLogs/{B}/")}),
                &[],
                true,
            ),
            "ExplicitlyDenied",
        ),
    ];

    // A replace to new principals, fewer accounts and an earlier expiry,
    // stopped by IAM after the inline policy was narrowed (this provisioner
    // may not change trust): the old principals are still trusted until
    // the old, later expiry, but read nothing past the new, earlier one.
    let w = world_with(
        &ROLE_ACTIONS
            .iter()
            .copied()
            .filter(|a| *a != "iam:UpdateAssumeRolePolicy")
            .collect::<Vec<_>>(),
        true,
    )
    .await;
    let name = unique("bu-b");
    let (soon, late) = (from_now(86_400), from_now(3 * 86_400));
    let readers = format!("arn:aws:iam::{B}:role/Readers");
    w.create(
        json!({"grantee_account": B, "name": name, "grantee_principals": [readers],
                    "log_accounts": [B, C], "external_id": "b-ext-01", "expires_at": late}),
    )
    .await;
    let (status, body) = w
        .call(
            "PUT",
            &format!("/shares/{name}"),
            Some(json!({"grantee_account": B,
            "grantee_principals": [format!("arn:aws:iam::{B}:role/Auditors")], "log_accounts": [C],
            "external_id": "b-ext-02", "expires_at": soon})),
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("iam:UpdateAssumeRolePolicy failed"),
        "{body}"
    );
    let mid = w.documents(&name).await;
    let object = |account: &str| w.object_arn(account);
    let between = from_now(2 * 86_400);
    let mut assume_between = mid.assume(&readers, Some("b-ext-01"));
    assume_between["request"]["context"]["aws:CurrentTime"] = json!(between);
    cases.extend([
        (assume_between, "Allowed"),
        (
            mid.call("s3:GetObject", &object(C), at(&before), &[], true),
            "Allowed",
        ),
        (
            mid.call("s3:GetObject", &object(B), at(&before), &[], true),
            "ImplicitlyDenied",
        ),
        (
            mid.call("s3:GetObject", &object(C), at(&between), &[], true),
            "ExplicitlyDenied",
        ),
    ]);
    expect_decisions(cases);
}

/// The daily `Scheduled Event` deletes expired share roles from IAM and
/// nothing else; until then the share is listed as expired.
#[tokio::test]
async fn the_schedule_sweeps_expired_share_roles_from_iam() {
    let w = world().await;
    let (gone, live, forever) = (unique("gone"), unique("live"), unique("forever"));
    w.create(json!({"grantee_account": B, "name": gone, "expires_at": from_now(2)}))
        .await;
    w.create(json!({"grantee_account": C, "name": live, "expires_at": from_now(86_400)}))
        .await;
    w.create(json!({"grantee_account": B, "name": forever}))
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (status, share) = w.call("GET", &format!("/shares/{gone}"), None).await;
    assert_eq!((status, share["status"].as_str()), (200, Some("expired")));
    let (_, share) = w.call("GET", &format!("/shares/{live}"), None).await;
    assert_eq!(share["status"], "active");

    let event: Value = serde_json::from_str(include_str!(
        "../fixtures/events/eventbridge-scheduled.json"
    ))
    .unwrap();
    let outcome = w.provisioner.handle_invocation(event).await.unwrap();
    assert_eq!(outcome["swept"], json!([gone]));
    let mut roles = w.roles().await;
    roles.sort();
    assert_eq!(
        roles,
        [
            format!("trailshare-{forever}"),
            format!("trailshare-{live}")
        ]
    );
    assert_eq!(w.call("GET", &format!("/shares/{gone}"), None).await.0, 404);
}

/// The stand-in applies the expiry too (scripts/moto_server.py judges
/// `aws:CurrentTime`): a session reads until `expires_at` and nothing a
/// second after.
#[tokio::test]
async fn a_session_reads_until_the_expiry_and_not_after() {
    let w = world().await;
    let name = unique("temp");
    let expires = from_now(5);
    let share = w
        .create(json!({"grantee_account": B, "name": name, "expires_at": expires}))
        .await;
    let role = share["role_arn"].as_str().unwrap();
    let analyst = w.grantee(B, &share).await;
    let session = w.aws.assume(&analyst, role, None).await.unwrap();
    assert_eq!(w.read(&session, B).await, 200);
    assert_eq!(w.read(&session, C).await, 403);
    let end = time::OffsetDateTime::parse(&expires, &time::format_description::well_known::Rfc3339)
        .unwrap();
    let wait = end - time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    assert!(wait.is_positive(), "the set-up took longer than 5 s");
    tokio::time::sleep(wait.unsigned_abs()).await;
    assert_eq!(
        w.read(&session, B).await,
        403,
        "a session issued before expires_at reads nothing after it"
    );
    // No new session either: moto does not judge cross-account trust, so
    // `expiry_holds_under_an_independent_evaluator` proves that part.
}
