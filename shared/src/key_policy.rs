//! The trail key's side, once for all shares: the one key-policy statement
//! that lets every share role — present and future, anything under the
//! share path of account A — decrypt the trail's log files, and nothing
//! else with that key.
//!
//! A key policy must allow a principal before IAM policies count at all
//! (the key often lives in another account: Control Tower's log archive is
//! encrypted with a key of the management account). Naming account A's
//! root with `aws:PrincipalArn` on the share path needs no edit per share,
//! and each share role's own policy (see [`crate::policy`]) still narrows
//! what it may decrypt. `kms:ViaService` limits it to S3 reads in the
//! bucket's Region; the encryption context to the trails' files.
//! ([Configure AWS KMS key policies for CloudTrail](https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html),
//! "Enable CloudTrail log decrypt permissions for users in another account".)

use serde_json::{json, Value};

use crate::ids::{is_account_id, is_iam_path, is_kms_key_arn, is_trail_arn};
use crate::share::Invalid;

/// The statement's `Sid`, so it can be found and replaced in a key policy.
pub const KEY_POLICY_SID: &str = "TrailshareShareRolesDecryptTrailFiles";

/// What the statement is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant<'a> {
    /// Account A: where the share roles are.
    pub account: &'a str,
    /// The IAM path of every share role (`SHARE_ROLE_PATH`).
    pub share_role_path: &'a str,
    /// The trail bucket's key; its Region is the bucket's.
    pub key_arn: &'a str,
    /// The trails whose files the bucket holds (their ARNs are the files'
    /// encryption context; an organization trail's is the management
    /// account's trail).
    pub trail_arns: &'a [String],
}

/// The key-policy statement for `grant`, or the field that is wrong.
pub fn key_policy_statement(grant: &KeyGrant) -> Result<Value, Invalid> {
    if !is_account_id(grant.account) {
        return Err(Invalid::value("account", "must be a 12-digit account id"));
    }
    if !is_iam_path(grant.share_role_path) || grant.share_role_path == "/" {
        return Err(Invalid::value(
            "share_role_path",
            "must be an IAM path like /trailshare/ (not /)",
        ));
    }
    if !is_kms_key_arn(grant.key_arn) {
        return Err(Invalid::value(
            "key_arn",
            "must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
        ));
    }
    if grant.trail_arns.is_empty() {
        return Err(Invalid::missing("trail_arn", "name at least one trail"));
    }
    if let Some(bad) = grant.trail_arns.iter().find(|arn| !is_trail_arn(arn)) {
        return Err(Invalid::value(
            "trail_arn",
            format!(
                "{bad} is not a trail ARN (arn:aws:cloudtrail:<region>:<account>:trail/<name>)"
            ),
        ));
    }
    let region = grant.key_arn.split(':').nth(3).expect("a checked key ARN");
    let (account, path) = (grant.account, grant.share_role_path);
    Ok(json!({
        "Sid": KEY_POLICY_SID,
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {
            "ArnLike": {"aws:PrincipalArn": format!("arn:aws:iam::{account}:role{path}*")},
            "StringEquals": {
                "kms:ViaService": format!("s3.{region}.amazonaws.com"),
                "kms:EncryptionContext:aws:cloudtrail:arn": grant.trail_arns,
            },
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:eu-west-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn grant<'a>(trails: &'a [String]) -> KeyGrant<'a> {
        KeyGrant {
            account: "111111111111",
            share_role_path: "/trailshare/",
            key_arn: KEY,
            trail_arns: trails,
        }
    }

    #[test]
    fn one_statement_names_the_path_the_region_and_the_trails() {
        let trails = ["arn:aws:cloudtrail:eu-west-1:999999999999:trail/org".to_string()];
        let statement = key_policy_statement(&grant(&trails)).unwrap();
        assert_eq!(
            statement["Condition"]["ArnLike"]["aws:PrincipalArn"],
            "arn:aws:iam::111111111111:role/trailshare/*"
        );
        assert_eq!(
            statement["Condition"]["StringEquals"]["kms:ViaService"],
            "s3.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            statement["Condition"]["StringEquals"]["kms:EncryptionContext:aws:cloudtrail:arn"],
            json!(trails)
        );
        assert_eq!(statement["Action"], "kms:Decrypt");
    }

    #[test]
    fn each_bad_input_names_its_field() {
        let trails = ["arn:aws:cloudtrail:eu-west-1:999999999999:trail/org".to_string()];
        let wildcard = ["arn:aws:cloudtrail:*:*:trail/*".to_string()];
        let cases: [(KeyGrant, &str); 6] = [
            (
                KeyGrant {
                    account: "1111",
                    ..grant(&trails)
                },
                "account",
            ),
            (
                KeyGrant {
                    share_role_path: "/",
                    ..grant(&trails)
                },
                "share_role_path",
            ),
            (
                KeyGrant {
                    share_role_path: "trailshare",
                    ..grant(&trails)
                },
                "share_role_path",
            ),
            (
                KeyGrant {
                    key_arn: "alias/trail",
                    ..grant(&trails)
                },
                "key_arn",
            ),
            (grant(&[]), "trail_arn"),
            (grant(&wildcard), "trail_arn"),
        ];
        for (bad, field) in cases {
            assert_eq!(
                key_policy_statement(&bad).unwrap_err().field,
                field,
                "{bad:?}"
            );
        }
    }
}
