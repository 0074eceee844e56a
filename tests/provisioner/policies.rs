//! The share role's policies under the independent evaluator: trust,
//! external id, boundary, revoked sessions, KMS, and CloudTrail's folders
//! only.

use serde_json::{json, Value};
use stand_in::{unique, A, B, C, Z};
use trailshare::config::Config;

use super::documents::expect_decisions;
use super::{world_env, world_with, ADMIN, ROLE_ACTIONS};

/// What moto does not evaluate (trust policies across accounts, external
/// ids, `s3:prefix` conditions, permissions boundaries), judged by
/// @cloud-copilot/iam-simulate on the documents IAM actually holds.
#[tokio::test]
async fn trust_conditions_and_boundary_hold_under_an_independent_evaluator() {
    let w = world_with(ROLE_ACTIONS, true).await;
    let b_name = unique("bu-b");
    w.create(json!({"grantee_account": B, "name": b_name}))
        .await;
    let z_name = unique("auditor-z");
    w.create(json!({"grantee_account": Z, "name": z_name, "log_accounts": ["*"], "external_id": "z-issued-7f3a",
                    "grantee_principals": [format!("arn:aws:iam::{Z}:role/Auditors")]}))
        .await;
    let b = w.documents(&b_name).await;
    let z = w.documents(&z_name).await;
    let bucket = format!("arn:aws:s3:::{}", w.bucket);
    let object = |account: &str| w.object_arn(account);
    let list = |prefix: Option<&str>| match prefix {
        Some(prefix) => json!({"s3:prefix": prefix}),
        None => json!({}),
    };
    // As if someone later attached `*` on `*` to the role.
    let broad = [
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    ];
    let allowed = "Allowed";
    let denied = "ImplicitlyDenied";

    expect_decisions(vec![
        // Scenario 1 trust: B's principals, nobody else's.
        (
            b.assume(&format!("arn:aws:iam::{B}:user/analyst"), None),
            allowed,
        ),
        (
            b.assume(&format!("arn:aws:iam::{C}:user/analyst"), None),
            denied,
        ),
        (
            b.assume(&format!("arn:aws:iam::{Z}:user/auditor"), None),
            denied,
        ),
        (
            b.assume(&format!("arn:aws:iam::{A}:user/someone"), None),
            denied,
        ),
        // Scenario 2 trust: only Z's named role, only with the external id.
        (
            z.assume(
                &format!("arn:aws:iam::{Z}:role/Auditors"),
                Some("z-issued-7f3a"),
            ),
            allowed,
        ),
        (
            z.assume(
                &format!("arn:aws:iam::{Z}:role/Auditors"),
                Some("z-issued-7f3b"),
            ),
            denied,
        ),
        (
            z.assume(&format!("arn:aws:iam::{Z}:role/Auditors"), None),
            denied,
        ),
        (
            z.assume(
                &format!("arn:aws:iam::{Z}:user/intern"),
                Some("z-issued-7f3a"),
            ),
            denied,
        ),
        (
            z.assume(
                &format!("arn:aws:iam::{C}:role/Auditors"),
                Some("z-issued-7f3a"),
            ),
            denied,
        ),
        // Scenario 1 reads: B's files and B's listing only.
        (
            b.call("s3:GetObject", &object(B), json!({}), &[], true),
            allowed,
        ),
        (
            b.call("s3:GetObject", &object(C), json!({}), &[], true),
            denied,
        ),
        (
            b.call("s3:GetObject", &object(A), json!({}), &[], true),
            denied,
        ),
        (
            b.call(
                "s3:ListBucket",
                &bucket,
                list(Some(&format!("AWSLogs/{B}/CloudTrail/"))),
                &[],
                true,
            ),
            allowed,
        ),
        (
            b.call(
                "s3:ListBucket",
                &bucket,
                list(Some(&format!("AWSLogs/{C}/"))),
                &[],
                true,
            ),
            denied,
        ),
        (
            b.call("s3:ListBucket", &bucket, list(Some("AWSLogs/")), &[], true),
            denied,
        ),
        (
            b.call("s3:ListBucket", &bucket, list(Some("")), &[], true),
            denied,
        ),
        (
            b.call("s3:ListBucket", &bucket, list(None), &[], true),
            denied,
        ),
        (
            b.call("s3:GetBucketLocation", &bucket, json!({}), &[], true),
            allowed,
        ),
        (
            b.call("s3:PutObject", &object(B), json!({}), &[], true),
            denied,
        ),
        // Scenario 2 reads every account's files, nothing outside AWSLogs/.
        (
            z.call("s3:GetObject", &object(C), json!({}), &[], true),
            allowed,
        ),
        (
            z.call("s3:ListBucket", &bucket, list(Some("AWSLogs/")), &[], true),
            allowed,
        ),
        (
            z.call("s3:ListBucket", &bucket, list(Some("private/")), &[], true),
            denied,
        ),
        (
            z.call(
                "s3:GetObject",
                &format!("{bucket}/private/notes.txt"),
                json!({}),
                &[],
                true,
            ),
            // Outside CloudTrail's folders: the inline policy denies it.
            "ExplicitlyDenied",
        ),
        // The boundary: even a role given `*` on `*` stays a trail reader.
        (
            b.call("s3:PutObject", &object(B), json!({}), &broad, false),
            allowed,
        ),
        (
            b.call("s3:PutObject", &object(B), json!({}), &broad, true),
            denied,
        ),
        (
            b.call("s3:DeleteObject", &object(B), json!({}), &broad, true),
            denied,
        ),
        (
            b.call(
                "s3:GetObject",
                "arn:aws:s3:::another-bucket/secret",
                json!({}),
                &broad,
                true,
            ),
            // Denied by the boundary, and explicitly by the inline policy's
            // CloudTrail-folder limit.
            "ExplicitlyDenied",
        ),
        (
            b.call(
                "iam:CreateUser",
                &format!("arn:aws:iam::{A}:user/backdoor"),
                json!({}),
                &broad,
                true,
            ),
            denied,
        ),
        (
            b.call(
                "sts:AssumeRole",
                &format!("arn:aws:iam::{A}:role/Admin"),
                json!({}),
                &broad,
                true,
            ),
            denied,
        ),
        (
            b.call("s3:GetObject", &object(C), json!({}), &broad, true),
            allowed,
        ),
    ]);
}

#[tokio::test]
async fn a_replace_revokes_older_sessions_under_an_independent_evaluator() {
    let w = world_with(ROLE_ACTIONS, true).await;
    let name = unique("bu-b");
    let path = format!("/shares/{name}");
    let readers = format!("arn:aws:iam::{B}:role/Readers");
    let auditors = format!("arn:aws:iam::{B}:role/Auditors");
    w.create(json!({"grantee_account": B, "name": name, "grantee_principals": [readers]}))
        .await;
    let (status, body) = w
        .call("PUT", &path, Some(json!({"grantee_account": B, "grantee_principals": [auditors], "log_accounts": [B, C], "external_id": "b-ext-02"})))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = w
        .call("PUT", &path, Some(json!({"grantee_account": Z})))
        .await;
    assert_eq!(status, 409, "grantee_account is immutable");
    let moment = body["sessions_valid_after"].as_str().unwrap().to_string();
    assert_eq!(body["updated_by"], ADMIN);
    let docs = w.documents(&name).await;
    let object = |account: &str| w.object_arn(account);
    let issued = |at: &str| json!({"aws:TokenIssueTime": at});
    let before = "2020-01-01T00:00:00Z";
    let after = "2999-01-01T00:00:00Z";
    let mut cases = vec![
        (docs.assume(&readers, Some("b-ext-02")), "ImplicitlyDenied"),
        (docs.assume(&auditors, Some("b-ext-02")), "Allowed"),
        (docs.assume(&auditors, None), "ImplicitlyDenied"),
        (
            docs.call("s3:GetObject", &object(C), issued(before), &[], true),
            "ExplicitlyDenied",
        ),
        (
            docs.call("s3:GetObject", &object(B), issued(before), &[], true),
            "ExplicitlyDenied",
        ),
        (
            docs.call("s3:GetObject", &object(C), issued(after), &[], true),
            "Allowed",
        ),
        (
            docs.call("s3:GetObject", &object(C), issued(&moment), &[], true),
            "Allowed",
        ),
        (
            docs.call("s3:GetObject", &object(A), issued(after), &[], true),
            "ImplicitlyDenied",
        ),
    ];
    // revoke-sessions on demand: a later moment, the same deny.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, revoked) = w
        .call("POST", &format!("{path}/revoke-sessions"), None)
        .await;
    assert_eq!(status, 200, "{revoked}");
    let later = revoked["sessions_valid_after"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(later > moment, "{later} > {moment}");
    let docs = w.documents(&name).await;
    cases.extend([
        (
            docs.call("s3:GetObject", &object(C), issued(&moment), &[], true),
            "ExplicitlyDenied",
        ),
        (
            docs.call("s3:GetObject", &object(C), issued(&later), &[], true),
            "Allowed",
        ),
    ]);
    expect_decisions(cases);
    let (_, got) = w.call("GET", &path, None).await;
    assert_eq!(got["sessions_valid_after"], json!(later));
}

#[tokio::test]
async fn kms_decrypt_only_through_s3_for_the_organization_trail() {
    let key = format!("arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let trail = format!("arn:aws:cloudtrail:us-east-1:{A}:trail/org-trail");
    let w = world_env(
        ROLE_ACTIONS,
        true,
        &[
            ("KMS_KEY_ARN", &key),
            ("ORGANIZATION_ID", "o-a1b2c3d4e5"),
            ("TRAIL_ARN", &trail),
        ],
    )
    .await;
    let name = unique("bu-b");
    w.create(json!({"grantee_account": B, "name": name})).await;
    let docs = w.documents(&name).await;
    let key_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")}, "Action": "kms:*", "Resource": "*"}]});
    let decrypt = |context: Value| {
        let mut case = docs.call("kms:Decrypt", &key, context, &[], true);
        case["resourcePolicy"] = key_policy.clone();
        case
    };
    let via = "s3.us-east-1.amazonaws.com";
    let ctx = "kms:EncryptionContext:aws:cloudtrail:arn";
    expect_decisions(vec![
        // B's files of an organization trail carry the management trail's ARN.
        (
            decrypt(json!({"kms:ViaService": via, ctx: trail})),
            "Allowed",
        ),
        (decrypt(json!({ctx: trail})), "ImplicitlyDenied"),
        (
            decrypt(json!({"kms:ViaService": "ec2.us-east-1.amazonaws.com", ctx: trail})),
            "ImplicitlyDenied",
        ),
        (
            decrypt(
                json!({"kms:ViaService": via, ctx: format!("arn:aws:cloudtrail:us-east-1:{C}:trail/other")}),
            ),
            "ImplicitlyDenied",
        ),
        (decrypt(json!({"kms:ViaService": via})), "ImplicitlyDenied"),
    ]);
}

/// Grants stop at CloudTrail's own folders: a share role (of one account,
/// and of every account) reads the log, digest and Insight files of its
/// accounts, and no other service's object beside them: Control Tower's
/// log archive keeps AWS Config under `AWSLogs/<acct>/Config/` (key shapes
/// from the AWS Config developer guide, "Delivering configuration
/// snapshots/history to an S3 bucket"). Judged by the independent
/// evaluator on the documents the provisioner writes (inline policy and
/// the stack's boundary), in the account and the organization layouts,
/// with and without a prefix and KMS. Listing the account folder stays
/// allowed (`trailshare pull`, `aws s3 ls`). Failed before the fix: every
/// Config key was Allowed.
#[test]
fn share_roles_read_only_cloudtrail_folders_in_every_layout() {
    const ORG: &str = "o-a1b2c3d4e5";
    let kms_key = format!("arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let org_trail = format!("arn:aws:cloudtrail:us-east-1:{A}:trail/org-trail");
    let layouts: [&[(&str, &str)]; 4] = [
        &[],
        &[("TRAIL_PREFIX", "audit/central"), ("KMS_KEY_ARN", &kms_key)],
        &[("ORGANIZATION_ID", ORG)],
        &[
            ("TRAIL_PREFIX", ORG),
            ("ORGANIZATION_ID", ORG),
            ("KMS_KEY_ARN", &kms_key),
            ("TRAIL_ARN", &org_trail),
        ],
    ];
    let mut cases = Vec::new();
    for vars in layouts {
        let config = Config::from_lookup(|name| match name {
            "TRAIL_BUCKET" => Some("central-trail".into()),
            "PERMISSIONS_BOUNDARY_ARN" => Some(format!("arn:aws:iam::{A}:policy/boundary")),
            _ => vars
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string()),
        })
        .expect("config");
        let root = config.logs_root();
        let mut folders = vec![format!("{root}{B}/")];
        if let Some(org) = &config.organization_id {
            folders.push(format!("{root}{org}/{B}/"));
        }
        let boundary = trailshare::policy::boundary_policy(&config);
        for body in [
            json!({"name": "bu-b", "grantee_account": B}),
            json!({"name": "z", "grantee_account": Z, "log_accounts": ["*"], "external_id": "z-ext-01"}),
        ] {
            let spec = trailshare::share::validate(&body, None, "central-trail").expect("spec");
            let policy =
                trailshare::policy::role_policy(&spec, &config, Some("2026-01-01T00:00:00Z"));
            let call = |action: &str, resource: String, context: Value, want: &'static str| {
                let mut case = json!({"name": format!("{vars:?} {} {action} {resource} {context}", spec.name),
                    "identityPolicies": [policy.clone()],
                    "permissionBoundaryPolicies": [boundary.clone()],
                    "request": {"principal": format!("arn:aws:sts::{A}:assumed-role/trailshare-{}/s", spec.name),
                                "action": action, "resource": resource, "resourceAccount": A,
                                "context": context}});
                if action == "kms:Decrypt" {
                    // The key policy leaves the decision to A's IAM policies.
                    case["resourcePolicy"] = json!({"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")},
                         "Action": "kms:*", "Resource": "*"}]});
                }
                (case, want)
            };
            let object = |key: String| format!("arn:aws:s3:::central-trail/{key}");
            for folder in &folders {
                for file in [
                    format!("CloudTrail/us-east-1/2024/05/01/{B}_CloudTrail_us-east-1_20240501T1200Z_AbCd.json.gz"),
                    format!("CloudTrail-Digest/us-east-1/2024/05/01/{B}_CloudTrail-Digest_us-east-1_main_us-east-1_20240501T120000Z.json.gz"),
                    format!("CloudTrail-Insight/us-east-1/2024/05/01/{B}_CloudTrail-Insight_us-east-1_20240501T1200Z_AbCd.json.gz"),
                ] {
                    cases.push(call("s3:GetObject", object(format!("{folder}{file}")), json!({}), "Allowed"));
                }
                for file in [
                    format!("Config/us-east-1/2024/5/1/ConfigHistory/{B}_Config_us-east-1_ConfigHistory_AWS::S3::Bucket_20240501T120000Z_20240501T120000Z_1.json.gz"),
                    format!("Config/us-east-1/2024/5/1/ConfigSnapshot/{B}_Config_us-east-1_ConfigSnapshot_20240501T120000Z_a1b2c3d4.json.gz"),
                    "Config/ConfigWritabilityCheckFile".to_string(),
                ] {
                    cases.push(call("s3:GetObject", object(format!("{folder}{file}")), json!({}), "ExplicitlyDenied"));
                }
                cases.push(call(
                    "s3:ListBucket",
                    "arn:aws:s3:::central-trail".into(),
                    json!({"s3:prefix": folder, "s3:delimiter": "/"}),
                    "Allowed",
                ));
            }
            if let Some(key) = &config.kms_key_arn {
                // S3 decrypts a Config object with its own context
                // (aws:s3:arn), never CloudTrail's: refused.
                let via = "s3.us-east-1.amazonaws.com";
                let config_object = object(format!(
                    "{}Config/us-east-1/2024/5/1/ConfigHistory/x.json.gz",
                    folders[0]
                ));
                cases.push(call("kms:Decrypt", key.clone(),
                                json!({"kms:ViaService": via, "kms:EncryptionContext:aws:s3:arn": config_object}),
                                "ImplicitlyDenied"));
                cases.push(call("kms:Decrypt", key.clone(),
                                json!({"kms:ViaService": via, "kms:EncryptionContext:aws:cloudtrail:arn":
                                       config.trail_arn.clone().unwrap_or(format!("arn:aws:cloudtrail:us-east-1:{B}:trail/main"))}),
                                "Allowed"));
            }
        }
    }
    expect_decisions(cases);
}
