//! What the grantee is handed: the identity policy, the assume-role
//! command, the CLI profile, and for copy and notify the statements the
//! destination's owner adds. The role's own documents are in `policy`.

use serde_json::{json, Value};

use crate::config::Config;
use crate::policy::VERSION;
use crate::share::{Delivery, Notify, ShareSpec, ACCOUNT_TAG};

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

/// An organization share: what each member account attaches to the
/// principals that read (assuming with a session tag needs both actions).
pub fn member_identity_policy(role_arn: &str) -> Value {
    json!({"Version": VERSION, "Statement": [
        {"Sid": "AssumeTrailshareRoleWithOwnAccountTag", "Effect": "Allow",
         "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": role_arn}
    ]})
}

/// The AWS CLI call a member runs: the session tag names the caller's own
/// account (the trust refuses any other value, key or case).
pub fn member_assume_role_command(spec: &ShareSpec, role_arn: &str) -> String {
    format!(
        "aws sts assume-role --role-arn {role_arn} --role-session-name trailshare-{} --tags Key={ACCOUNT_TAG},Value=$(aws sts get-caller-identity --query Account --output text)",
        spec.name
    )
}

/// An organization share's profile: `trailshare credentials` assumes the
/// role with the member's own account as the session tag (a `role_arn`
/// profile cannot set one), as an AWS CLI `credential_process`.
pub fn member_cli_profile(spec: &ShareSpec, config: &Config, role_arn: &str) -> String {
    let mut profile = format!(
        "[profile trailshare-{}]\ncredential_process = trailshare credentials --role-arn {role_arn} --duration-seconds {}",
        spec.name, spec.max_session_seconds
    );
    if let Some(region) = &config.trail_bucket_region {
        profile.push_str(&format!("\nregion = {region}"));
    }
    profile
}

/// Everything the grantee needs on their side, as returned with each share.
pub fn grantee_setup(spec: &ShareSpec, config: &Config, role_arn: &str) -> Value {
    if let Some(organization) = &spec.organization {
        let reader = organization
            .principal_name
            .as_deref()
            .unwrap_or(crate::member_template::DEFAULT_READER);
        let mut setup = json!({
            "identity_policy": member_identity_policy(role_arn),
            "assume_role_command": member_assume_role_command(spec, role_arn),
            "cli_profile": member_cli_profile(spec, config, role_arn),
        });
        // A name the share admitted is an IAM role name: the template builds.
        if let Ok(template) = crate::member_template::member_template(role_arn, reader) {
            setup["member_template"] = template;
        }
        return setup;
    }
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
