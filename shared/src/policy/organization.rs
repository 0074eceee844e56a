//! An organization share's documents: one trust that every member account
//! of the organization meets only with a session tag of its own account,
//! and one inline policy that reads the folders that tag names.
//!
//! The tag is the whole fence, so the trust pins it down: its value must
//! be the caller's own account (`${aws:PrincipalAccount}`, a policy
//! variable, allowed in a trust policy's condition values), it must be the
//! only key, in exactly that case (condition *keys* are case-insensitive,
//! so `aws:RequestTag/trailshare:account` also matches a key
//! `Trailshare:Account`; `aws:TagKeys` under `StringEquals` does not), and
//! it must not be transitive. `sts:AssumeRole` and `sts:TagSession` are in
//! the same statement, so neither is allowed without the other's
//! conditions.

use serde_json::{json, Value};

use super::{CLOUDTRAIL_FOLDERS, VERSION};
use crate::config::Config;
use crate::share::{Organization, ShareSpec, ACCOUNT_TAG};

/// The session's account, as its tag names it, in a policy.
pub const SESSION_ACCOUNT: &str = "${aws:PrincipalTag/trailshare:account}";
/// The caller's own account, in a trust policy's condition values.
const CALLER_ACCOUNT: &str = "${aws:PrincipalAccount}";

/// Who may assume an organization share's role: any principal of the
/// organization (of its `org_paths`, with its `principal_name`), only with
/// the one session tag `trailshare:account` = its own account, and only
/// before `expires_at` when set.
pub fn organization_trust(spec: &ShareSpec, organization: &Organization) -> Value {
    let mut equals = json!({
        "aws:PrincipalOrgID": organization.id,
        (format!("aws:RequestTag/{ACCOUNT_TAG}")): CALLER_ACCOUNT,
    });
    if let Some(name) = &organization.principal_name {
        equals["aws:PrincipalArn"] = json!(format!("arn:aws:iam::{CALLER_ACCOUNT}:role/{name}"));
    }
    let mut condition = json!({
        "StringEquals": equals,
        "ForAllValues:StringEquals": {"aws:TagKeys": [ACCOUNT_TAG]},
        "Null": {"sts:TransitiveTagKeys": "true"},
    });
    if !organization.org_paths.is_empty() {
        condition["ForAnyValue:StringLike"] =
            json!({"aws:PrincipalOrgPaths": organization.org_paths});
    }
    if let Some(expires_at) = &spec.expires_at {
        condition["DateLessThan"] = json!({"aws:CurrentTime": expires_at});
    }
    json!({"Version": VERSION, "Statement": [{
        "Sid": "MembersAssumeWithTheirOwnAccountTag",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": condition,
    }]})
}

/// The inline policy's grants for an organization share: CloudTrail's
/// folders of the session's account in every layout (read, and list only
/// there; nothing else of the account's folder, such as AWS Config's),
/// the bucket's location, the trail's key as any share has it; then the
/// deny of excluded accounts' sessions, issued before or after.
pub fn organization_read_policy(organization: &Organization, config: &Config) -> Value {
    let bucket_arn = format!("arn:aws:s3:::{}", config.trail_bucket);
    let folders: Vec<String> = config
        .layout()
        .account_roots(SESSION_ACCOUNT)
        .iter()
        .flat_map(|root| {
            CLOUDTRAIL_FOLDERS
                .iter()
                .map(move |folder| format!("{root}{folder}/*"))
        })
        .collect();
    let objects: Vec<String> = folders
        .iter()
        .map(|folder| format!("{bucket_arn}/{folder}"))
        .collect();
    let mut statements = vec![
        json!({"Sid": "ReadOwnLogFiles", "Effect": "Allow", "Action": "s3:GetObject", "Resource": objects}),
        json!({"Sid": "ListOwnLogFiles", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
               "Condition": {"StringLike": {"s3:prefix": folders}}}),
        json!({"Sid": "LocateBucket", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": bucket_arn}),
    ];
    if let Some(key_arn) = &config.kms_key_arn {
        // An organization trail encrypts every member's files with the
        // management account's trail ARN (`TRAIL_ARN`, required with
        // both KMS_KEY_ARN and ORGANIZATION_ID).
        let trail = config
            .trail_arn
            .clone()
            .unwrap_or_else(|| format!("arn:aws:cloudtrail:*:{SESSION_ACCOUNT}:trail/*"));
        statements.push(json!({"Sid": "DecryptLogFiles", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn,
            "Condition": {
                "StringEquals": {"kms:ViaService": super::via_s3(config)},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": [trail]}}}));
    }
    // No `OnlyCloudTrailFolders` deny as other shares have: the grants
    // above name CloudTrail's folders exactly (the session's account is
    // 12 digits: the trust pins it to the caller's account), so that room
    // is the excluded accounts'.
    statements.push(excluded(organization, config));
    json!({"Version": VERSION, "Statement": statements})
}

/// Everything denied to the sessions of the excluded accounts and of the
/// stack's own: a deny in the permission policy also cuts the sessions
/// issued before it. The stack's account is always cut: a trust naming
/// `*` lets any principal of the role's own account assume it with no
/// grant of its own (cross-account, the member's identity policy must
/// allow it too), so its files would be open to all of its principals.
/// Its own files go through an ordinary share (`grantee_account`).
fn excluded(organization: &Organization, config: &Config) -> Value {
    let mut accounts = organization.exclude_accounts.clone();
    if let Some(own) = config.stack_account() {
        if !organization.excludes(own) {
            accounts.push(own.to_string());
        }
    }
    json!({"Sid": "DenyExcludedAccounts", "Effect": "Deny", "Action": "*", "Resource": "*",
           "Condition": {"StringEquals": {(format!("aws:PrincipalTag/{ACCOUNT_TAG}")): accounts}}})
}

/// What two organization shares both allow: the same folders, with
/// every account either excludes excluded.
pub fn common(old: &Organization, new: &Organization) -> Organization {
    let mut both = new.clone();
    for account in &old.exclude_accounts {
        if !both.excludes(account) {
            both.exclude_accounts.push(account.clone());
        }
    }
    both
}

#[cfg(test)]
mod tests;
