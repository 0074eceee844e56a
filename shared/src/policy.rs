//! The IAM policy documents a share is made of, and the ones its grantee
//! needs on their side. Tighter than the CloudTrail user guide's example
//! (`s3:Get*`/`s3:List*` on the whole bucket): one action per need, on the
//! requested accounts' prefixes only.

use serde_json::{json, Value};

use crate::config::Config;
use crate::share::{Invalid, ShareSpec};

mod organization;
pub use organization::{organization_read_policy, organization_trust, SESSION_ACCOUNT};

pub(crate) const VERSION: &str = "2012-10-17";
/// The name of the one inline policy on every share role.
pub const READ_POLICY_NAME: &str = "trailshare-read";

/// Who may assume the share role: the grantee principals, only with the
/// external id when one is set, and only before `expires_at` when set
/// (condition values are strings, never booleans); for an organization
/// share, see [`organization_trust`].
pub fn trust_policy(spec: &ShareSpec) -> Value {
    if let Some(organization) = &spec.organization {
        return organization_trust(spec, organization);
    }
    let mut statement = json!({
        "Sid": "GranteeAssumesRole",
        "Effect": "Allow",
        "Principal": {"AWS": spec.grantee_principals},
        "Action": "sts:AssumeRole",
    });
    let mut condition = serde_json::Map::new();
    if let Some(external_id) = &spec.external_id {
        condition.insert(
            "StringEquals".into(),
            json!({"sts:ExternalId": external_id}),
        );
    }
    if let Some(expires_at) = &spec.expires_at {
        condition.insert(
            "DateLessThan".into(),
            json!({"aws:CurrentTime": expires_at}),
        );
    }
    if !condition.is_empty() {
        statement["Condition"] = Value::Object(condition);
    }
    json!({"Version": VERSION, "Statement": [statement]})
}

/// The key prefixes (ending in `/`) that hold the share's log files.
pub fn log_prefixes(spec: &ShareSpec, config: &Config) -> Vec<String> {
    let layout = config.layout();
    if spec.reads_all_accounts() {
        return vec![layout.root().to_string()];
    }
    spec.log_accounts
        .iter()
        .flat_map(|account| layout.account_roots(account))
        .collect()
}

/// IAM's limit on a role's inline policies (characters, whitespace not counted).
pub const MAX_INLINE_POLICY_CHARS: usize = 10_240;
/// IAM's default limit on a trust policy (characters, whitespace not counted).
pub const MAX_TRUST_POLICY_CHARS: usize = 2_048;

/// The length IAM judges a document by: its characters, whitespace not counted.
pub fn iam_size(document: &Value) -> usize {
    document
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count()
}

/// Refuses, before any IAM call, documents that IAM would refuse for their
/// size, naming the field that made them large.
pub fn check_limits(spec: &ShareSpec, trust: &Value, inline: &Value) -> Result<(), Invalid> {
    let size = iam_size(inline);
    if size > MAX_INLINE_POLICY_CHARS && spec.organization.is_some() {
        return Err(Invalid {
            field: "organization.exclude_accounts".into(),
            code: "too_large",
            message: format!("organization.exclude_accounts: makes the role's policy {size} characters; IAM allows {MAX_INLINE_POLICY_CHARS} (exclude fewer accounts, or narrow the share with org_paths)"),
        });
    }
    if size > MAX_INLINE_POLICY_CHARS {
        return Err(Invalid {
            field: "log_accounts".into(),
            code: "too_large",
            message: format!("log_accounts: makes the role's policy {size} characters; IAM allows {MAX_INLINE_POLICY_CHARS} (use [\"*\"] with an external id, or split the share)"),
        });
    }
    let size = iam_size(trust);
    if size > MAX_TRUST_POLICY_CHARS && spec.organization.is_some() {
        return Err(Invalid {
            field: "organization.org_paths".into(),
            code: "too_large",
            message: format!("organization.org_paths: makes the role's trust policy {size} characters; IAM allows {MAX_TRUST_POLICY_CHARS}"),
        });
    }
    if size > MAX_TRUST_POLICY_CHARS {
        let principals: usize = spec.grantee_principals.iter().map(String::len).sum();
        let external = spec.external_id.as_deref().map_or(0, str::len);
        let field = if external > principals {
            "external_id"
        } else {
            "grantee_principals"
        };
        return Err(Invalid {
            field: field.into(),
            code: "too_large",
            message: format!("{field}: makes the role's trust policy {size} characters; IAM allows {MAX_TRUST_POLICY_CHARS}"),
        });
    }
    Ok(())
}

/// The role's inline policy: what `read_policy` grants, plus the deny of
/// every session issued before `sessions_valid_after` (RFC 3339), if set,
/// and of everything from `expires_at` on, if set.
pub fn role_policy(spec: &ShareSpec, config: &Config, sessions_valid_after: Option<&str>) -> Value {
    let mut policy = read_policy(spec, config);
    if let Some(moment) = sessions_valid_after {
        push_session_deny(&mut policy, moment);
    }
    if let Some(expires_at) = &spec.expires_at {
        push_expiry_deny(&mut policy, expires_at);
    }
    policy
}

fn push_session_deny(policy: &mut Value, moment: &str) {
    policy["Statement"]
        .as_array_mut()
        .expect("a policy has statements")
        .push(json!({"Sid": "DenySessionsIssuedBefore", "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": moment}}}));
}

/// The trust's `DateLessThan` stops new sessions at `expires_at`; this stops
/// the ones already issued (up to 12 hours long) at the same moment. `*` on
/// `*`, like the session deny: an expired share reads nothing at all.
fn push_expiry_deny(policy: &mut Value, expires_at: &str) {
    policy["Statement"]
        .as_array_mut()
        .expect("a policy has statements")
        .push(
            json!({"Sid": "DenyAfterExpiry", "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateGreaterThanEquals": {"aws:CurrentTime": expires_at}}}),
        );
}

/// The earlier of two expiries (`None`: never). Stored expiries are all
/// `YYYY-MM-DDTHH:MM:SSZ`, so text order is time order.
fn earlier<'a>(a: Option<&'a str>, b: Option<&'a str>) -> Option<&'a str> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (one, other) => one.or(other),
    }
}

/// Reads nothing: held while the trust is put back to a share's own, when
/// IAM trusts principals the share does not name (a replace that stopped).
pub fn hold_policy() -> Value {
    json!({"Version": VERSION, "Statement": [
        {"Sid": "ReplaceInProgress", "Effect": "Deny", "Action": "*", "Resource": "*"}]})
}

/// The inline policy held while a replace changes who may assume the role:
/// only what both the old and the new share read, so that neither the old
/// principals (still trusted) nor the new ones (about to be) read anything
/// their share does not allow. Keeps the old share's session deny, and
/// ends at the earlier of the two expiries, so that a replace never grants
/// for longer than either share.
pub fn transition_policy(
    old: &ShareSpec,
    new: &ShareSpec,
    config: &Config,
    sessions_valid_after: Option<&str>,
) -> Value {
    let mut policy = match (&old.organization, &new.organization) {
        (Some(old_org), Some(new_org)) => {
            organization_read_policy(&organization::common(old_org, new_org), config)
        }
        (None, None) => common_read_policy(old, new, config),
        // A share never changes kind (the provisioner refuses it): read nothing.
        _ => hold_policy(),
    };
    if let Some(moment) = sessions_valid_after {
        push_session_deny(&mut policy, moment);
    }
    if let Some(expires_at) = earlier(old.expires_at.as_deref(), new.expires_at.as_deref()) {
        push_expiry_deny(&mut policy, expires_at);
    }
    policy
}

/// What two shares of named log accounts both read (nothing: a hold).
fn common_read_policy(old: &ShareSpec, new: &ShareSpec, config: &Config) -> Value {
    let common: Vec<String> = if old.reads_all_accounts() {
        new.log_accounts.clone()
    } else if new.reads_all_accounts() {
        old.log_accounts.clone()
    } else {
        old.log_accounts
            .iter()
            .filter(|a| new.log_accounts.contains(a))
            .cloned()
            .collect()
    };
    if common.is_empty() {
        return hold_policy();
    }
    let both = ShareSpec {
        log_accounts: common,
        ..new.clone()
    };
    read_policy(&both, config)
}

/// The role's one inline policy: read the share's log files, list only their
/// prefixes, locate the bucket, and decrypt only those accounts' trail data
/// (an organization share: see [`organization_read_policy`]).
pub fn read_policy(spec: &ShareSpec, config: &Config) -> Value {
    if let Some(organization) = &spec.organization {
        return organization_read_policy(organization, config);
    }
    let bucket_arn = format!("arn:aws:s3:::{}", config.trail_bucket);
    let prefixes = log_prefixes(spec, config);
    let objects: Vec<String> = prefixes
        .iter()
        .map(|p| format!("{bucket_arn}/{p}*"))
        .collect();
    let listable: Vec<String> = prefixes.iter().map(|p| format!("{p}*")).collect();
    let mut statements = vec![
        json!({"Sid": "ReadLogFiles", "Effect": "Allow", "Action": "s3:GetObject", "Resource": objects}),
        json!({"Sid": "ListLogFiles", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
               "Condition": {"StringLike": {"s3:prefix": listable}}}),
        json!({"Sid": "LocateBucket", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": bucket_arn}),
    ];
    if let Some(key_arn) = &config.kms_key_arn {
        statements.push(json!({"Sid": "DecryptLogFiles", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn,
            "Condition": {
                "StringEquals": {"kms:ViaService": via_s3(config)},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trail_arn_patterns(spec, config)}}}));
    }
    statements.push(only_cloudtrail_folders(&bucket_arn, config));
    json!({"Version": VERSION, "Statement": statements})
}

/// CloudTrail's own folders under an account folder. Central log buckets
/// keep other services' data beside them (Control Tower's log archive holds
/// AWS Config under `AWSLogs/<acct>/Config/`).
pub const CLOUDTRAIL_FOLDERS: [&str; 3] = ["CloudTrail", "CloudTrail-Digest", "CloudTrail-Insight"];

/// Twelve `?`: exactly one account folder's name (an account id is 12
/// digits), so `<root>????????????/CloudTrail/*` is every account's
/// CloudTrail folder and nothing deeper.
const ANY_ACCOUNT: &str = "????????????";

/// Denies reading any object outside CloudTrail's folders of an account
/// folder, in every layout (`<root><acct>/` and `<root><org>/<acct>/`).
/// The allow grants the share's account folders; this cuts them down to
/// CloudTrail's files, so no other service's object is readable. One
/// statement whatever the number of accounts: the policy stays within
/// IAM's size limit as before.
fn only_cloudtrail_folders(bucket_arn: &str, config: &Config) -> Value {
    let parents = config.layout().account_parents();
    let allowed: Vec<String> = parents
        .iter()
        .flat_map(|parent| {
            CLOUDTRAIL_FOLDERS
                .iter()
                .map(move |folder| format!("{bucket_arn}/{parent}{ANY_ACCOUNT}/{folder}/*"))
        })
        .collect();
    json!({"Sid": "OnlyCloudTrailFolders", "Effect": "Deny", "Action": "s3:GetObject", "NotResource": allowed})
}

/// Decrypting only through S3 reads, never a direct `kms:Decrypt` call.
fn via_s3(config: &Config) -> String {
    format!("s3.{}.amazonaws.com", config.kms_region().unwrap_or("*"))
}

/// CloudTrail encrypts each file with its trail's ARN as encryption context,
/// so the key can only decrypt the log accounts' trails' files. An
/// organization trail encrypts every member's files with the management
/// account's trail ARN (`TRAIL_ARN`); the S3 grant fences the accounts.
fn trail_arn_patterns(spec: &ShareSpec, config: &Config) -> Vec<String> {
    if let Some(trail_arn) = &config.trail_arn {
        return vec![trail_arn.clone()];
    }
    if spec.reads_all_accounts() {
        return vec!["arn:aws:cloudtrail:*:*:trail/*".to_string()];
    }
    spec.log_accounts
        .iter()
        .map(|a| format!("arn:aws:cloudtrail:*:{a}:trail/*"))
        .collect()
}

/// The permissions boundary the deployment attaches to every share role:
/// reading the trail bucket (and decrypting its key), nothing else. The
/// template declares the same document; tests create it from here.
pub fn boundary_policy(config: &Config) -> Value {
    let bucket_arn = format!("arn:aws:s3:::{}", config.trail_bucket);
    let root = config.logs_root();
    let mut statements = vec![
        json!({"Sid": "ReadLogFiles", "Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("{bucket_arn}/{root}*")}),
        json!({"Sid": "ListLogFiles", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
               "Condition": {"StringLike": {"s3:prefix": format!("{root}*")}}}),
        json!({"Sid": "LocateTrailBucket", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": bucket_arn}),
    ];
    if let Some(key_arn) = &config.kms_key_arn {
        statements.push(json!({"Sid": "DecryptTrailKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": via_s3(config)}}}));
    }
    json!({"Version": VERSION, "Statement": statements})
}

#[cfg(test)]
mod tests;
