//! The trail key's side (`trailshare setup key-policy`): the one statement
//! in the key's policy lets every share role decrypt the trail's files
//! through S3, and nobody else, judged by the independent evaluator on the
//! share role's policy as IAM holds it and a key in another account.

use super::documents::expect_decisions;
use super::*;
use trailshare::key_policy::{key_policy_statement, KeyGrant};

/// Control Tower's management account, where the trail and its key live.
const M: &str = "999999999999";

#[tokio::test]
async fn one_key_policy_statement_lets_share_roles_decrypt_and_nobody_else() {
    let key = format!("arn:aws:kms:us-east-1:{M}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let trail =
        format!("arn:aws:cloudtrail:us-east-1:{M}:trail/aws-controltower-BaselineCloudTrail");
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
    let trails = [trail.clone()];
    let statement = key_policy_statement(&KeyGrant {
        account: A,
        share_role_path: &w.path,
        key_arn: &key,
        trail_arns: &trails,
    })
    .unwrap();
    // The key's own account administers it; that statement grants A nothing.
    let admin = json!({"Sid": "KeyAdministration", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{M}:root")}, "Action": "kms:*", "Resource": "*"});
    let with_statement = json!({"Version": "2012-10-17", "Statement": [admin, statement]});
    let without = json!({"Version": "2012-10-17", "Statement": [admin]});
    let via = "s3.us-east-1.amazonaws.com";
    let context = |principal_arn: &str, trail: &str| {
        json!({"kms:ViaService": via, "kms:EncryptionContext:aws:cloudtrail:arn": trail,
               "aws:PrincipalArn": principal_arn})
    };
    // Every decision is the key policy's: the caller's own policies allow
    // any decrypt on top of what they hold.
    let any_decrypt = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]});
    let on_key = |mut case: Value, key_policy: &Value| {
        case["resourcePolicy"] = key_policy.clone();
        case["request"]["resourceAccount"] = json!(M);
        case
    };
    let share_role = |trail: &str, key_policy: &Value| {
        let case = docs.call(
            "kms:Decrypt",
            &key,
            context(&docs.arn, trail),
            std::slice::from_ref(&any_decrypt),
            true,
        );
        on_key(case, key_policy)
    };
    let other_role = |role: &str, key_policy: &Value| {
        let case = json!({"name": format!("{role} decrypts"), "identityPolicies": [any_decrypt.clone()],
            "request": {"principal": format!("arn:aws:sts::{A}:assumed-role/{}/s", role.rsplit('/').next().unwrap()),
                        "action": "kms:Decrypt", "resource": key, "resourceAccount": A,
                        "context": context(role, &trail)}});
        on_key(case, key_policy)
    };
    let other_trail = format!("arn:aws:cloudtrail:us-east-1:{C}:trail/own");
    let mut no_via = share_role(&trail, &with_statement);
    no_via["request"]["context"]
        .as_object_mut()
        .unwrap()
        .remove("kms:ViaService");
    expect_decisions(vec![
        // The share role, through S3, a file of the named trail.
        (share_role(&trail, &with_statement), "Allowed"),
        // Without the statement the key refuses every share role.
        (share_role(&trail, &without), "ImplicitlyDenied"),
        // Another trail's files, or a direct call not through S3.
        (
            share_role(&other_trail, &with_statement),
            "ImplicitlyDenied",
        ),
        (no_via, "ImplicitlyDenied"),
        // Another role of A, even one allowed every decrypt by its own policy.
        (
            other_role(&format!("arn:aws:iam::{A}:role/ops"), &with_statement),
            "ImplicitlyDenied",
        ),
        (
            other_role(
                &format!("arn:aws:iam::{A}:role/other-path/trailshare-x"),
                &with_statement,
            ),
            "ImplicitlyDenied",
        ),
    ]);
}
