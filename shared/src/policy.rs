//! The IAM policy documents a share is made of, and the ones its grantee
//! needs on their side. Tighter than the CloudTrail user guide's example
//! (`s3:Get*`/`s3:List*` on the whole bucket): one action per need, on the
//! requested accounts' prefixes only.

use serde_json::{json, Value};

use crate::config::Config;
use crate::share::{Delivery, Invalid, Notify, ShareSpec};

const VERSION: &str = "2012-10-17";
/// The name of the one inline policy on every share role.
pub const READ_POLICY_NAME: &str = "trailshare-read";

/// Who may assume the share role: the grantee principals, only with the
/// external id when one is set, and only before `expires_at` when set
/// (condition values are strings, never booleans).
pub fn trust_policy(spec: &ShareSpec) -> Value {
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
    let root = config.logs_root();
    if spec.reads_all_accounts() {
        return vec![root];
    }
    let mut prefixes = Vec::new();
    for account in &spec.log_accounts {
        prefixes.push(format!("{root}{account}/"));
        if let Some(org) = &config.organization_id {
            prefixes.push(format!("{root}{org}/{account}/"));
        }
    }
    prefixes
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
    if size > MAX_INLINE_POLICY_CHARS {
        return Err(Invalid {
            field: "log_accounts".into(),
            code: "too_large",
            message: format!("log_accounts: makes the role's policy {size} characters; IAM allows {MAX_INLINE_POLICY_CHARS} (use [\"*\"] with an external id, or split the share)"),
        });
    }
    let size = iam_size(trust);
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
    let mut policy = if common.is_empty() {
        hold_policy()
    } else {
        let both = ShareSpec {
            log_accounts: common,
            ..new.clone()
        };
        read_policy(&both, config)
    };
    if let Some(moment) = sessions_valid_after {
        push_session_deny(&mut policy, moment);
    }
    if let Some(expires_at) = earlier(old.expires_at.as_deref(), new.expires_at.as_deref()) {
        push_expiry_deny(&mut policy, expires_at);
    }
    policy
}

/// The role's one inline policy: read the share's log files, list only their
/// prefixes, locate the bucket, and decrypt only those accounts' trail data.
pub fn read_policy(spec: &ShareSpec, config: &Config) -> Value {
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
    let mut parents = vec![config.logs_root()];
    if let Some(org) = &config.organization_id {
        parents.push(format!("{}{org}/", config.logs_root()));
    }
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

/// What the grantee's administrator attaches to their own principals.
pub fn grantee_identity_policy(role_arn: &str) -> Value {
    json!({"Version": VERSION, "Statement": [
        {"Sid": "AssumeTrailshareRole", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}
    ]})
}

/// The exact AWS CLI call a grantee runs to get credentials for the share.
pub fn assume_role_command(spec: &ShareSpec, role_arn: &str) -> String {
    let mut command = format!(
        "aws sts assume-role --role-arn {role_arn} --role-session-name trailshare-{}",
        spec.name
    );
    if let Some(external_id) = &spec.external_id {
        command.push_str(&format!(" --external-id {external_id}"));
    }
    command
}

/// The `~/.aws/config` section that makes `--profile trailshare-<name>`
/// assume the role from the grantee's `default` profile: the CLI and the
/// SDKs then refresh the session by themselves. The Region is the trail
/// bucket's (omitted when unknown: the source profile's applies).
pub fn cli_profile(spec: &ShareSpec, config: &Config, role_arn: &str) -> String {
    let mut profile = format!(
        "[profile trailshare-{}]\nrole_arn = {role_arn}\nsource_profile = default",
        spec.name
    );
    if let Some(external_id) = &spec.external_id {
        profile.push_str(&format!("\nexternal_id = {external_id}"));
    }
    profile.push_str(&format!(
        "\nduration_seconds = {}",
        spec.max_session_seconds
    ));
    if let Some(region) = &config.trail_bucket_region {
        profile.push_str(&format!("\nregion = {region}"));
    }
    profile
}

/// Who writes copies: the share's writer role when set, else the forwarder.
/// `owner_account` is the trail bucket's account (from the share role's ARN).
pub fn copy_writer(spec: &ShareSpec, config: &Config, owner_account: &str) -> Option<String> {
    let Delivery::Copy { role_arn, .. } = &spec.delivery else {
        return None;
    };
    Some(
        role_arn
            .clone()
            .unwrap_or_else(|| forwarder_principal(config, owner_account)),
    )
}

fn forwarder_principal(config: &Config, owner_account: &str) -> String {
    config
        .forwarder_role_arn
        .clone()
        .unwrap_or_else(|| format!("arn:aws:iam::{owner_account}:root"))
}

/// Copy mode: the statements the destination bucket's owner adds, letting the
/// writer put copies (owner gets full control; setting that ACL on a put needs
/// `s3:PutObjectAcl` too) and check for existing ones. The check is a HEAD,
/// which S3 answers 403 instead of 404 for a missing key unless the caller
/// may `s3:ListBucket`; a HEAD carries no `s3:prefix`, so that grant cannot
/// be narrowed by one.
pub fn destination_bucket_policy(
    spec: &ShareSpec,
    config: &Config,
    owner_account: &str,
) -> Option<Value> {
    let Delivery::Copy { bucket, prefix, .. } = &spec.delivery else {
        return None;
    };
    let writer = copy_writer(spec, config, owner_account)?;
    let objects = format!("arn:aws:s3:::{bucket}/{prefix}*");
    // Only in effect on a bucket of the grantee account: pasted onto anyone
    // else's bucket, it grants nothing.
    let grantee = &spec.grantee_account;
    Some(json!({"Version": VERSION, "Statement": [
        {"Sid": "TrailshareWritesCopies", "Effect": "Allow", "Principal": {"AWS": writer}, "Action": ["s3:PutObject", "s3:PutObjectAcl"],
         "Resource": objects, "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:ResourceAccount": grantee}}},
        {"Sid": "TrailshareSkipsExistingCopies", "Effect": "Allow", "Principal": {"AWS": writer}, "Action": "s3:GetObject",
         "Resource": objects, "Condition": {"StringEquals": {"aws:ResourceAccount": grantee}}},
        {"Sid": "TrailshareTellsMissingCopies", "Effect": "Allow", "Principal": {"AWS": writer}, "Action": "s3:ListBucket",
         "Resource": format!("arn:aws:s3:::{bucket}"), "Condition": {"StringEquals": {"aws:ResourceAccount": grantee}}}
    ]}))
}

/// `notify`: the statement the queue's or topic's owner adds to its access
/// policy, letting the forwarder's role (only) send to it. An SSE-KMS
/// encrypted queue or topic also needs its key to let that role
/// `kms:GenerateDataKey` and `kms:Decrypt`.
pub fn queue_policy(spec: &ShareSpec, config: &Config, owner_account: &str) -> Option<Value> {
    let notify = spec.notify.as_ref()?;
    let (sid, action) = match notify {
        Notify::QueueArn(_) => ("TrailshareAnnouncesNewLogs", "sqs:SendMessage"),
        Notify::TopicArn(_) => ("TrailshareAnnouncesNewLogs", "sns:Publish"),
    };
    Some(json!({"Version": VERSION, "Statement": [
        {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": forwarder_principal(config, owner_account)},
         "Action": action, "Resource": notify.arn()}
    ]}))
}

/// Copy mode with `role_arn`: how the destination account sets up the role
/// the forwarder assumes to write (its trust, then its permissions).
pub fn writer_role_setup(spec: &ShareSpec, config: &Config, owner_account: &str) -> Option<Value> {
    let Delivery::Copy {
        bucket,
        prefix,
        role_arn: Some(role_arn),
    } = &spec.delivery
    else {
        return None;
    };
    let mut trust = json!({"Sid": "TrailshareForwarderAssumesRole", "Effect": "Allow",
        "Principal": {"AWS": forwarder_principal(config, owner_account)}, "Action": "sts:AssumeRole"});
    if let Some(external_id) = &spec.external_id {
        trust["Condition"] = json!({"StringEquals": {"sts:ExternalId": external_id}});
    }
    let objects = format!("arn:aws:s3:::{bucket}/{prefix}*");
    // The writer writes only into buckets its own (the grantee's) account owns.
    let own = json!({"StringEquals": {"s3:ResourceAccount": spec.grantee_account}});
    Some(json!({
        "role_arn": role_arn,
        "trust_policy": {"Version": VERSION, "Statement": [trust]},
        "identity_policy": {"Version": VERSION, "Statement": [
            {"Sid": "WriteCopies", "Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject"], "Resource": objects,
             "Condition": own},
            {"Sid": "TellMissingCopies", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}"),
             "Condition": own}
        ]}
    }))
}

/// Everything the grantee needs on their side, as returned with each share.
pub fn grantee_setup(spec: &ShareSpec, config: &Config, role_arn: &str) -> Value {
    let owner_account = crate::ids::arn_account(role_arn).unwrap_or_default();
    let mut setup = json!({
        "identity_policy": grantee_identity_policy(role_arn),
        "assume_role_command": assume_role_command(spec, role_arn),
        "cli_profile": cli_profile(spec, config, role_arn),
    });
    if let Some(policy) = destination_bucket_policy(spec, config, owner_account) {
        setup["destination_bucket_policy"] = policy;
    }
    if let Some(writer) = writer_role_setup(spec, config, owner_account) {
        setup["writer_role"] = writer;
    }
    if let Some(policy) = queue_policy(spec, config, owner_account) {
        setup["queue_policy"] = policy;
    }
    setup
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::validate;
    use proptest::prelude::*;

    fn config(prefix: Option<&str>, org: Option<&str>, kms: bool) -> Config {
        Config {
            trail_bucket: "trail-bucket".into(),
            trail_prefix: prefix.map(str::to_string),
            organization_id: org.map(str::to_string),
            kms_key_arn: kms.then(|| "arn:aws:kms:us-east-1:111111111111:key/k1".to_string()),
            share_role_path: "/trailshare/".into(),
            permissions_boundary_arn: None,
            share_cache_seconds: 60,
            forwarder_role_arn: None,
            trail_arn: None,
            admin_principals: vec![],
            grantee_accounts: vec![],
            copy_destination_buckets: None,
            copy_writer_role_arns: None,
            notification_target_arns: None,
            forwarder_queue_url: None,
            trail_bucket_region: None,
            share_secret_arn: None,
        }
    }

    fn spec(body: Value) -> ShareSpec {
        validate(&body, None, "trail-bucket").unwrap()
    }

    #[test]
    fn queue_policy_lets_only_the_forwarder_send_to_the_named_target() {
        let mut cfg = config(None, None, false);
        cfg.forwarder_role_arn = Some("arn:aws:iam::111111111111:role/fwd".into());
        let queue = "arn:aws:sqs:eu-west-1:222222222222:new-logs";
        let share =
            spec(json!({"grantee_account": "222222222222", "notify": {"queue_arn": queue}}));
        let setup = grantee_setup(
            &share,
            &cfg,
            "arn:aws:iam::111111111111:role/trailshare/trailshare-b",
        );
        assert_eq!(
            setup["queue_policy"]["Statement"],
            json!([{"Sid": "TrailshareAnnouncesNewLogs", "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111111111111:role/fwd"},
                    "Action": "sqs:SendMessage", "Resource": queue}])
        );
        let topic = "arn:aws:sns:us-east-1:222222222222:t";
        let share =
            spec(json!({"grantee_account": "222222222222", "notify": {"topic_arn": topic}}));
        let policy = queue_policy(&share, &cfg, "111111111111").unwrap();
        assert_eq!(policy["Statement"][0]["Action"], "sns:Publish");
        assert_eq!(policy["Statement"][0]["Resource"], topic);
        let none = spec(json!({"grantee_account": "222222222222"}));
        assert!(
            grantee_setup(&none, &cfg, "arn:aws:iam::111111111111:role/x")
                .get("queue_policy")
                .is_none()
        );
    }

    #[test]
    fn scenario_one_read_policy_is_exact() {
        let s = spec(json!({"grantee_account": "222222222222"}));
        assert_eq!(
            read_policy(&s, &config(None, None, false)),
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "ReadLogFiles", "Effect": "Allow", "Action": "s3:GetObject",
                 "Resource": ["arn:aws:s3:::trail-bucket/AWSLogs/222222222222/*"]},
                {"Sid": "ListLogFiles", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::trail-bucket",
                 "Condition": {"StringLike": {"s3:prefix": ["AWSLogs/222222222222/*"]}}},
                {"Sid": "LocateBucket", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": "arn:aws:s3:::trail-bucket"},
                {"Sid": "OnlyCloudTrailFolders", "Effect": "Deny", "Action": "s3:GetObject", "NotResource": [
                    "arn:aws:s3:::trail-bucket/AWSLogs/????????????/CloudTrail/*",
                    "arn:aws:s3:::trail-bucket/AWSLogs/????????????/CloudTrail-Digest/*",
                    "arn:aws:s3:::trail-bucket/AWSLogs/????????????/CloudTrail-Insight/*"]}
            ]})
        );
    }

    #[test]
    fn organization_prefix_and_kms() {
        let s = spec(json!({"grantee_account": "222222222222"}));
        let policy = read_policy(&s, &config(Some("my logs"), Some("o-a1b2c3d4e5"), true));
        assert_eq!(
            policy["Statement"][0]["Resource"],
            json!([
                "arn:aws:s3:::trail-bucket/my logs/AWSLogs/222222222222/*",
                "arn:aws:s3:::trail-bucket/my logs/AWSLogs/o-a1b2c3d4e5/222222222222/*"
            ])
        );
        assert_eq!(
            policy["Statement"][3],
            json!({"Sid": "DecryptLogFiles", "Effect": "Allow", "Action": "kms:Decrypt",
                   "Resource": "arn:aws:kms:us-east-1:111111111111:key/k1",
                   "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
                                 "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": ["arn:aws:cloudtrail:*:222222222222:trail/*"]}}})
        );
        // An organization trail: every member's files carry the management
        // account's trail ARN, so that is the context to allow.
        let mut org = config(None, Some("o-a1b2c3d4e5"), true);
        org.trail_arn = Some("arn:aws:cloudtrail:us-east-1:111111111111:trail/org".into());
        assert_eq!(
            read_policy(&s, &org)["Statement"][3]["Condition"]["StringLike"]
                ["kms:EncryptionContext:aws:cloudtrail:arn"],
            json!(["arn:aws:cloudtrail:us-east-1:111111111111:trail/org"])
        );
    }

    #[test]
    fn iam_size_limits_are_checked_before_any_call() {
        let accounts: Vec<String> = (0..150)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i))
            .collect();
        let wide = spec(
            json!({"name": "wide", "grantee_account": accounts[0], "log_accounts": accounts, "external_id": "ext"}),
        );
        let cfg = config(None, Some("o-a1b2c3d4e5"), true);
        let inline = read_policy(&wide, &cfg);
        assert!(iam_size(&inline) > 20_000, "{}", iam_size(&inline));
        let err = check_limits(&wide, &trust_policy(&wide), &inline).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.code),
            ("log_accounts", "too_large")
        );
        assert!(err.message.contains("10240"), "{}", err.message);

        let principals: Vec<String> = (0..60)
            .map(|i| format!("arn:aws:iam::222222222222:role/reader-{i:03}"))
            .collect();
        let many =
            spec(json!({"grantee_account": "222222222222", "grantee_principals": principals}));
        let err = check_limits(&many, &trust_policy(&many), &read_policy(&many, &cfg)).unwrap_err();
        assert_eq!(err.field, "grantee_principals");
        assert!(err.message.contains("2048"), "{}", err.message);

        let small = spec(json!({"grantee_account": "222222222222"}));
        assert_eq!(
            check_limits(&small, &trust_policy(&small), &read_policy(&small, &cfg)),
            Ok(())
        );
        // Whitespace is not counted, as IAM does not count it.
        assert_eq!(iam_size(&json!({"a": "b c"})), 10);
    }

    #[test]
    fn revocation_and_transition_policies() {
        let cfg = config(None, None, false);
        let old = spec(
            json!({"name": "x", "grantee_account": "222222222222", "log_accounts": ["222222222222", "333333333333"], "external_id": "e1"}),
        );
        let new = spec(
            json!({"name": "x", "grantee_account": "222222222222", "log_accounts": ["333333333333", "444444444444"], "external_id": "e2"}),
        );
        let policy = role_policy(&new, &cfg, Some("2026-11-25T02:00:01Z"));
        assert_eq!(
            policy["Statement"][4],
            json!({"Sid": "DenySessionsIssuedBefore", "Effect": "Deny", "Action": "*", "Resource": "*",
                   "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-11-25T02:00:01Z"}}})
        );
        let during = transition_policy(&old, &new, &cfg, None);
        assert_eq!(
            during["Statement"][0]["Resource"],
            json!(["arn:aws:s3:::trail-bucket/AWSLogs/333333333333/*"])
        );
        let disjoint = spec(json!({"name": "x", "grantee_account": "222222222222"}));
        let nothing = transition_policy(&new, &disjoint, &cfg, Some("t"));
        assert_eq!(nothing["Statement"][0]["Effect"], "Deny");
        assert_eq!(nothing["Statement"][1]["Sid"], "DenySessionsIssuedBefore");
        let all = spec(
            json!({"name": "x", "grantee_account": "222222222222", "log_accounts": ["*"], "external_id": "e1"}),
        );
        assert_eq!(
            transition_policy(&all, &old, &cfg, None),
            read_policy(&old, &cfg)
        );
    }

    #[test]
    fn expiry_ends_new_sessions_in_the_trust_and_old_ones_in_the_policy() {
        let cfg = config(None, None, false);
        let s = spec(
            json!({"name": "z", "grantee_account": "444444444444", "log_accounts": ["*"], "external_id": "ext-123",
                   "expires_at": "2027-03-31T00:00:00Z"}),
        );
        assert_eq!(
            trust_policy(&s)["Statement"][0]["Condition"],
            json!({"StringEquals": {"sts:ExternalId": "ext-123"},
                   "DateLessThan": {"aws:CurrentTime": "2027-03-31T00:00:00Z"}})
        );
        let own =
            spec(json!({"grantee_account": "222222222222", "expires_at": "2027-03-31T00:00:00Z"}));
        assert_eq!(
            trust_policy(&own)["Statement"][0]["Condition"],
            json!({"DateLessThan": {"aws:CurrentTime": "2027-03-31T00:00:00Z"}})
        );
        let expiry = json!({"Sid": "DenyAfterExpiry", "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateGreaterThanEquals": {"aws:CurrentTime": "2027-03-31T00:00:00Z"}}});
        let policy = role_policy(&s, &cfg, Some("2026-11-25T02:00:01Z"));
        assert_eq!(policy["Statement"][4]["Sid"], "DenySessionsIssuedBefore");
        assert_eq!(policy["Statement"][5], expiry);
        assert_eq!(role_policy(&own, &cfg, None)["Statement"][4], expiry);
        // Without expires_at, no date condition anywhere.
        let never = spec(json!({"grantee_account": "222222222222"}));
        assert!(!role_policy(&never, &cfg, None)
            .to_string()
            .contains("CurrentTime"));
        assert!(trust_policy(&never)["Statement"][0]
            .get("Condition")
            .is_none());
    }

    #[test]
    fn mid_replace_the_earlier_expiry_holds() {
        let cfg = config(None, None, false);
        let at = |expires: Option<&str>| {
            let mut body = json!({"name": "x", "grantee_account": "222222222222"});
            if let Some(expires) = expires {
                body["expires_at"] = json!(expires);
            }
            spec(body)
        };
        let expiry_of = |policy: &Value| -> Option<String> {
            policy["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == "DenyAfterExpiry")
                .map(|s| {
                    s["Condition"]["DateGreaterThanEquals"]["aws:CurrentTime"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
        };
        let (soon, late) = ("2027-01-01T00:00:00Z", "2027-06-30T12:00:00Z");
        for (old, new, want) in [
            (Some(soon), Some(late), Some(soon)),
            (Some(late), Some(soon), Some(soon)),
            (None, Some(late), Some(late)),
            (Some(soon), None, Some(soon)),
            (None, None, None),
        ] {
            let during = transition_policy(&at(old), &at(new), &cfg, None);
            assert_eq!(expiry_of(&during).as_deref(), want, "{old:?} -> {new:?}");
        }
        // Nothing in common: the hold denies everything, and still ends.
        let b = at(Some(late));
        let c = spec(
            json!({"name": "x", "grantee_account": "222222222222", "log_accounts": ["333333333333"], "external_id": "e-1"}),
        );
        let hold = transition_policy(&b, &c, &cfg, None);
        assert_eq!(hold["Statement"][0]["Sid"], "ReplaceInProgress");
        assert_eq!(expiry_of(&hold).as_deref(), Some(late));
    }

    #[test]
    fn the_expiry_counts_towards_iam_limits() {
        // `check_limits` measures the document as written, so the largest
        // one (with a session deny and the expiry) is what is checked.
        let cfg = config(None, Some("o-a1b2c3d4e5"), true);
        let accounts: Vec<String> = (0..40)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i))
            .collect();
        let body = json!({"name": "w", "grantee_account": accounts[0], "log_accounts": accounts, "external_id": "ext"});
        let mut expiring = body.clone();
        expiring["expires_at"] = json!("2027-03-31T00:00:00Z");
        let moment = Some("2000-01-01T00:00:00Z");
        let without = iam_size(&role_policy(&spec(body), &cfg, moment));
        let with = iam_size(&role_policy(&spec(expiring.clone()), &cfg, moment));
        // One short statement: about one log account's worth of the 10,240.
        assert!(
            (100..200).contains(&(with - without)),
            "{without} -> {with}"
        );
        let many: Vec<String> = (0..70)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i))
            .collect();
        expiring["log_accounts"] = json!(many);
        let wide = spec(expiring);
        let inline = role_policy(&wide, &cfg, moment);
        assert!(iam_size(&inline) > MAX_INLINE_POLICY_CHARS);
        assert_eq!(
            check_limits(&wide, &trust_policy(&wide), &inline)
                .unwrap_err()
                .field,
            "log_accounts"
        );
    }

    #[test]
    fn the_cli_profile_assumes_the_role_from_the_default_profile() {
        let role = "arn:aws:iam::111111111111:role/trailshare/trailshare-z";
        let mut cfg = config(None, None, false);
        cfg.trail_bucket_region = Some("eu-west-1".into());
        let z = spec(
            json!({"name": "z", "grantee_account": "444444444444", "log_accounts": ["*"], "external_id": "ext-123",
                   "max_session_seconds": 7200}),
        );
        assert_eq!(
            grantee_setup(&z, &cfg, role)["cli_profile"],
            "[profile trailshare-z]\nrole_arn = arn:aws:iam::111111111111:role/trailshare/trailshare-z\nsource_profile = default\nexternal_id = ext-123\nduration_seconds = 7200\nregion = eu-west-1"
        );
        let b = spec(json!({"name": "b", "grantee_account": "222222222222"}));
        cfg.trail_bucket_region = None;
        assert_eq!(
            cli_profile(&b, &cfg, role),
            format!("[profile trailshare-b]\nrole_arn = {role}\nsource_profile = default\nduration_seconds = 3600")
        );
    }

    #[test]
    fn scenario_two_reads_everything_under_awslogs() {
        let s = spec(
            json!({"name": "z", "grantee_account": "444444444444", "log_accounts": ["*"], "external_id": "ext-123"}),
        );
        let policy = read_policy(&s, &config(None, Some("o-a1b2c3d4e5"), true));
        assert_eq!(
            policy["Statement"][0]["Resource"],
            json!(["arn:aws:s3:::trail-bucket/AWSLogs/*"])
        );
        assert_eq!(
            policy["Statement"][1]["Condition"]["StringLike"]["s3:prefix"],
            json!(["AWSLogs/*"])
        );
        assert_eq!(
            policy["Statement"][3]["Condition"]["StringLike"]
                ["kms:EncryptionContext:aws:cloudtrail:arn"],
            json!(["arn:aws:cloudtrail:*:*:trail/*"])
        );
    }

    #[test]
    fn trust_policy_with_and_without_external_id() {
        let s1 = spec(
            json!({"grantee_account": "222222222222", "grantee_principals": ["arn:aws:iam::222222222222:role/LogReaders"]}),
        );
        assert_eq!(
            trust_policy(&s1),
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "GranteeAssumesRole", "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam::222222222222:role/LogReaders"]}, "Action": "sts:AssumeRole"}]})
        );
        let s2 = spec(
            json!({"name": "z", "grantee_account": "444444444444", "log_accounts": ["*"], "external_id": "ext-123"}),
        );
        let trust = trust_policy(&s2);
        assert_eq!(
            trust["Statement"][0]["Principal"],
            json!({"AWS": ["arn:aws:iam::444444444444:root"]})
        );
        assert_eq!(
            trust["Statement"][0]["Condition"],
            json!({"StringEquals": {"sts:ExternalId": "ext-123"}})
        );
    }

    #[test]
    fn grantee_setup_for_copy_mode() {
        let s = spec(
            json!({"name": "z", "grantee_account": "444444444444", "log_accounts": ["*"], "external_id": "ext-123",
            "delivery": {"mode": "copy", "bucket": "z-logs", "prefix": "central/"}}),
        );
        let role = "arn:aws:iam::111111111111:role/trailshare/trailshare-z";
        let setup = grantee_setup(&s, &config(None, None, false), role);
        assert_eq!(setup["identity_policy"]["Statement"][0]["Resource"], role);
        assert_eq!(
            setup["assume_role_command"],
            "aws sts assume-role --role-arn arn:aws:iam::111111111111:role/trailshare/trailshare-z --role-session-name trailshare-z --external-id ext-123"
        );
        let bucket_policy = &setup["destination_bucket_policy"]["Statement"];
        assert_eq!(
            bucket_policy[0]["Principal"]["AWS"],
            "arn:aws:iam::111111111111:root"
        );
        assert_eq!(
            bucket_policy[0]["Resource"],
            "arn:aws:s3:::z-logs/central/*"
        );
        assert_eq!(
            bucket_policy[0]["Condition"]["StringEquals"]["s3:x-amz-acl"],
            "bucket-owner-full-control"
        );
        assert_eq!(
            bucket_policy[2],
            json!({"Sid": "TrailshareTellsMissingCopies", "Effect": "Allow",
                   "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                   "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::z-logs",
                   "Condition": {"StringEquals": {"aws:ResourceAccount": "444444444444"}}}),
            "without ListBucket a HEAD of a missing copy is 403, and the copy never happens"
        );
        assert!(setup.get("writer_role").is_none());

        let with_writer = spec(
            json!({"grantee_account": "222222222222", "delivery": {"mode": "copy", "bucket": "b-logs",
            "role_arn": "arn:aws:iam::222222222222:role/writer"}}),
        );
        let mut cfg = config(None, None, false);
        cfg.forwarder_role_arn = Some("arn:aws:iam::111111111111:role/fwd".into());
        let setup = grantee_setup(&with_writer, &cfg, role);
        assert_eq!(
            setup["destination_bucket_policy"]["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::222222222222:role/writer"
        );
        assert_eq!(
            setup["writer_role"]["trust_policy"]["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::111111111111:role/fwd"
        );
        assert!(setup["writer_role"]["trust_policy"]["Statement"][0]
            .get("Condition")
            .is_none());
        assert_eq!(
            setup["writer_role"]["identity_policy"]["Statement"][1]["Action"],
            "s3:ListBucket"
        );
        assert!(grantee_setup(
            &spec(json!({"grantee_account": "222222222222"})),
            &cfg,
            role
        )
        .get("destination_bucket_policy")
        .is_none());
    }

    /// IAM's `*`/`?` wildcard match, enough to ask "does this grant reach that key?".
    fn wildcard_match(pattern: &str, text: &str) -> bool {
        let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
        let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some(pi);
                mark = ti;
                pi += 1;
            } else if let Some(s) = star {
                pi = s + 1;
                mark += 1;
                ti = mark;
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }

    fn strings(value: &Value) -> Vec<String> {
        match value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items.iter().flat_map(strings).collect(),
            _ => vec![],
        }
    }

    /// Whether `policy` lets a session `s3:GetObject` the key `key` of the
    /// trail bucket: an allowing statement's `Resource`, no denying
    /// statement's `Resource`, and inside a denying statement's `NotResource`.
    fn reads(policy: &Value, key: &str) -> bool {
        let arn = format!("arn:aws:s3:::trail-bucket/{key}");
        let get = |s: &Value| {
            strings(&s["Action"])
                .iter()
                .any(|a| a == "s3:GetObject" || a == "*")
        };
        let any = |v: &Value| strings(v).iter().any(|r| wildcard_match(r, &arn));
        let statements = policy["Statement"].as_array().unwrap();
        let denied = statements.iter().any(|s| {
            s["Effect"] == "Deny"
                && get(s)
                && s.get("Condition").is_none()
                && (any(&s["Resource"])
                    || (s.get("NotResource").is_some() && !any(&s["NotResource"])))
        });
        !denied
            && statements
                .iter()
                .any(|s| s["Effect"] == "Allow" && get(s) && any(&s["Resource"]))
    }

    /// Grants stop at CloudTrail's own folders in every layout: a share
    /// (of one account or of all) reads its log, digest and Insight files,
    /// and no other service's object beside them (Control Tower's log
    /// archive keeps AWS Config under `AWSLogs/<acct>/Config/`; key shapes
    /// from the AWS Config and CloudTrail user guides). Failed before the
    /// fix: the Config keys were readable.
    #[test]
    fn reads_stop_at_cloudtrail_folders_in_every_layout() {
        const B: &str = "222222222222";
        const ORG: &str = "o-a1b2c3d4e5";
        for (prefix, org) in [
            (None, None),
            (Some("audit/central"), None),
            (None, Some(ORG)),
            (Some(ORG), Some(ORG)),
        ] {
            let cfg = config(prefix, org, true);
            let root = cfg.logs_root();
            let mut folders = vec![format!("{root}{B}/")];
            if let Some(org) = org {
                folders.push(format!("{root}{org}/{B}/"));
            }
            let one = spec(json!({"grantee_account": B}));
            let all = spec(
                json!({"name": "z", "grantee_account": "444444444444", "log_accounts": ["*"], "external_id": "ext-1"}),
            );
            for share in [&one, &all] {
                let policy = role_policy(share, &cfg, Some("2026-01-01T00:00:00Z"));
                for folder in &folders {
                    for file in [
                        format!("CloudTrail/us-east-1/2024/05/01/{B}_CloudTrail_us-east-1_20240501T1200Z_AbCd.json.gz"),
                        format!("CloudTrail-Digest/us-east-1/2024/05/01/{B}_CloudTrail-Digest_us-east-1_main_us-east-1_20240501T120000Z.json.gz"),
                        format!("CloudTrail-Insight/us-east-1/2024/05/01/{B}_CloudTrail-Insight_us-east-1_20240501T1200Z_AbCd.json.gz"),
                    ] {
                        assert!(reads(&policy, &format!("{folder}{file}")), "{folder}{file}");
                    }
                    for other in [
                        format!("Config/us-east-1/2024/5/1/ConfigHistory/{B}_Config_us-east-1_ConfigHistory_AWS::S3::Bucket_20240501T120000Z_20240501T120000Z_1.json.gz"),
                        format!("Config/us-east-1/2024/5/1/ConfigSnapshot/{B}_Config_us-east-1_ConfigSnapshot_20240501T120000Z_a1b2.json.gz"),
                        "Config/ConfigWritabilityCheckFile".to_string(),
                        "elasticloadbalancing/us-east-1/2024/05/01/x.log.gz".to_string(),
                        "CloudTrailX/us-east-1/x.json.gz".to_string(),
                        "x/CloudTrail/us-east-1/x.json.gz".to_string(),
                    ] {
                        assert!(!reads(&policy, &format!("{folder}{other}")), "{folder}{other}");
                    }
                }
                // Listing still shows the account folder (pull, aws s3 ls).
                let list = &policy["Statement"][1]["Condition"]["StringLike"]["s3:prefix"];
                assert!(
                    strings(list).iter().any(|p| wildcard_match(p, &folders[0])),
                    "{list}"
                );
            }
        }
    }

    /// The largest share whose role policy (with a session deny and an
    /// expiry, as `admit` measures it) fits IAM's 10,240 characters, for a
    /// 63-character bucket name (the longest S3 allows), and that one more
    /// account is refused by `check_limits`. Prints the figures for the
    /// README.
    #[test]
    fn the_largest_share_that_fits_is_measured_and_one_more_is_refused() {
        let mut found = Vec::new();
        for (org, kms) in [(false, false), (false, true), (true, false), (true, true)] {
            let mut cfg = config(None, org.then_some("o-a1b2c3d4e5"), kms);
            cfg.trail_bucket = "b".repeat(63);
            let share = |n: u64| {
                let accounts: Vec<String> = (0..n)
                    .map(|i| format!("{:012}", 100_000_000_000 + i))
                    .collect();
                let mut spec = validate(
                    &json!({"name": "w", "grantee_account": accounts[0], "log_accounts": accounts,
                            "external_id": "ext", "expires_at": "2099-01-01T00:00:00Z"}),
                    None,
                    &cfg.trail_bucket.clone(),
                )
                .unwrap_or_else(|e| panic!("{n}: {e}"));
                spec.expires_at = Some("2000-01-01T00:00:00Z".into());
                let inline = role_policy(&spec, &cfg, Some("2000-01-01T00:00:00Z"));
                check_limits(&spec, &trust_policy(&spec), &inline).is_ok()
            };
            let largest = (1..=200).take_while(|&n| share(n)).last().unwrap_or(0);
            assert!(!share(largest + 1), "one more must not fit");
            assert!(
                largest >= 20,
                "org={org} kms={kms}: only {largest} accounts fit"
            );
            found.push(format!("org={org} kms={kms}: {largest}"));
        }
        println!("largest share that fits: {}", found.join("; "));
    }

    proptest! {
        /// No generated policy grants a key, a listing prefix or a trail
        /// outside the requested accounts.
        #[test]
        fn grants_never_reach_other_accounts(
            requested in proptest::collection::btree_set("[0-9]{12}", 1..4),
            other in "[0-9]{12}",
            prefix in proptest::option::of("[a-z0-9 ]{1,8}"),
            org in proptest::option::of("o-[a-z0-9]{10}"),
            kms in any::<bool>(),
        ) {
            prop_assume!(!requested.contains(&other));
            let accounts: Vec<&String> = requested.iter().collect();
            let s = spec(json!({"name": "p", "grantee_account": accounts[0], "log_accounts": accounts, "external_id": "ext"}));
            let cfg = config(prefix.as_deref(), org.as_deref(), kms);
            let policy = read_policy(&s, &cfg);
            let root = cfg.logs_root();
            let layouts = |account: &str| {
                let mut keys = vec![format!("{root}{account}/CloudTrail/us-east-1/2024/01/01/{account}_CloudTrail_x.json.gz")];
                keys.push(format!("{root}o-zzzzzzzzzz/{account}/CloudTrail/us-east-1/2024/01/01/f.json.gz"));
                if let Some(org) = &org {
                    keys.push(format!("{root}{org}/{account}/CloudTrail/us-east-1/2024/01/01/f.json.gz"));
                }
                keys
            };
            for statement in policy["Statement"].as_array().unwrap() {
                let resources = strings(&statement["Resource"]);
                let prefixes = strings(&statement["Condition"]["StringLike"]["s3:prefix"]);
                let trails = strings(&statement["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"]);
                for key in layouts(&other) {
                    let arn = format!("arn:aws:s3:::trail-bucket/{key}");
                    prop_assert!(!resources.iter().any(|r| wildcard_match(r, &arn)), "{arn} granted by {resources:?}");
                    prop_assert!(!prefixes.iter().any(|p| wildcard_match(p, &key)), "{key} listable by {prefixes:?}");
                }
                let foreign_trail = format!("arn:aws:cloudtrail:us-east-1:{other}:trail/main");
                prop_assert!(!trails.iter().any(|t| wildcard_match(t, &foreign_trail)));
                for resource in &resources {
                    prop_assert!(resource == "arn:aws:s3:::trail-bucket" || resource.starts_with("arn:aws:s3:::trail-bucket/") || resource.starts_with("arn:aws:kms:"));
                }
            }
            // …and it does reach each requested account's own files.
            for account in &requested {
                let key = format!("arn:aws:s3:::trail-bucket/{root}{account}/CloudTrail/us-east-1/2024/01/01/f.json.gz");
                prop_assert!(strings(&policy["Statement"][0]["Resource"]).iter().any(|r| wildcard_match(r, &key)));
            }
        }
    }
}
