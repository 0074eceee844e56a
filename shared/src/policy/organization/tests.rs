use super::*;
use crate::admission::{admit, Refusal};
use crate::policy::{
    check_limits, iam_size, role_policy, transition_policy, trust_policy, MAX_INLINE_POLICY_CHARS,
    MAX_TRUST_POLICY_CHARS,
};
use crate::record::ShareRecord;
use serde_json::json;

const ORG: &str = "o-a1b2c3d4e5";

/// A Control Tower log archive: long bucket name, the organization as
/// prefix, SSE-KMS with the management account's trail. The longest
/// documents a deployment makes.
fn control_tower() -> Config {
    Config::from_lookup(|name| {
        match name {
            "TRAIL_BUCKET" => Some("aws-controltower-logs-111111111111-us-east-1"),
            "TRAIL_PREFIX" | "ORGANIZATION_ID" => Some(ORG),
            "KMS_KEY_ARN" => Some(
                "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            ),
            "TRAIL_ARN" => Some(
                "arn:aws:cloudtrail:us-east-1:111111111111:trail/aws-controltower-BaselineCloudTrail",
            ),
            "SHARE_SECRET_ARN" => Some("arn:aws:secretsmanager:us-east-1:111111111111:secret:s"),
            _ => None,
        }
        .map(str::to_string)
    })
    .unwrap()
}

fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-25 00:00:00 UTC)
}

fn share(organization: serde_json::Value, config: &Config) -> Result<ShareSpec, Refusal> {
    admit(
        &json!({"name": "members", "expires_at": "2030-01-01T00:00:00Z", "delivery": {"mode": "tag"},
                "organization": organization}),
        None,
        config,
        now(),
    )
}

/// `n` distinct account ids, scattered as real ones are (so a record's
/// compression gains nothing from their order).
fn accounts(n: usize) -> Vec<String> {
    let mut seed = 0x5eed_u64;
    (0..n)
        .map(|i| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            format!("{:06}{:06}", (seed >> 40) % 1_000_000, i)
        })
        .collect()
}

#[test]
fn the_trust_pins_the_session_tag_to_the_callers_own_account() {
    let spec = share(
        json!({"org_paths": [format!("{ORG}/r-ab12/ou-ab12-11111111/*")], "principal_name": "trailshare-reader"}),
        &control_tower(),
    )
    .unwrap();
    assert_eq!(
        trust_policy(&spec),
        json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "MembersAssumeWithTheirOwnAccountTag", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "StringEquals": {
                    "aws:PrincipalOrgID": ORG,
                    "aws:RequestTag/trailshare:account": "${aws:PrincipalAccount}",
                    "aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:role/trailshare-reader"},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["trailshare:account"]},
                "Null": {"sts:TransitiveTagKeys": "true"},
                "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [format!("{ORG}/r-ab12/ou-ab12-11111111/*")]},
                "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}]})
    );
    // The whole organization: no path, no name, no expiry conditions.
    let whole = admit(
        &json!({"name": "m", "organization": {}}),
        None,
        &control_tower(),
        now(),
    )
    .unwrap();
    let condition = &trust_policy(&whole)["Statement"][0]["Condition"];
    let operators: Vec<&String> = condition.as_object().unwrap().keys().collect();
    assert_eq!(
        operators,
        ["ForAllValues:StringEquals", "Null", "StringEquals"]
    );
    assert_eq!(condition["StringEquals"].as_object().unwrap().len(), 2);
}

#[test]
fn the_policy_reads_the_sessions_own_cloudtrail_folders_in_every_layout() {
    let config = control_tower();
    let spec = share(json!({"exclude_accounts": ["444444444444"]}), &config).unwrap();
    let policy = role_policy(&spec, &config, None);
    let statements = policy["Statement"].as_array().unwrap();
    let root = "o-a1b2c3d4e5/AWSLogs/";
    let folders: Vec<String> = [root.to_string(), format!("{root}{ORG}/")]
        .iter()
        .flat_map(|parent| {
            ["CloudTrail", "CloudTrail-Digest", "CloudTrail-Insight"]
                .map(|kind| format!("{parent}${{aws:PrincipalTag/trailshare:account}}/{kind}/*"))
        })
        .collect();
    let bucket = "arn:aws:s3:::aws-controltower-logs-111111111111-us-east-1";
    let objects: Vec<String> = folders.iter().map(|f| format!("{bucket}/{f}")).collect();
    assert_eq!(statements[0]["Resource"], json!(objects));
    assert_eq!(
        statements[1]["Condition"],
        json!({"StringLike": {"s3:prefix": folders}})
    );
    assert_eq!(
        statements[3]["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"],
        json!([config.trail_arn.clone().unwrap()])
    );
    let excluded = statements
        .iter()
        .find(|s| s["Sid"] == "DenyExcludedAccounts")
        .unwrap();
    assert_eq!(
        excluded,
        &json!({"Sid": "DenyExcludedAccounts", "Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/trailshare:account": ["444444444444", "111111111111"]}}})
    );
    // Every allowed object and prefix names the session's account folder.
    for resource in objects.iter().chain(&folders) {
        assert!(resource.contains(&format!("/{SESSION_ACCOUNT}/CloudTrail")));
    }
    // The expiry deny as any share has it; no deny when nobody is excluded.
    let expiry = statements
        .iter()
        .filter(|s| s["Sid"] == "DenyAfterExpiry")
        .count();
    assert_eq!(expiry, 1);
    // The stack's own account is always cut (any of its principals may
    // assume a role trusting `*`), once, excluded or not.
    for exclude in [json!({}), json!({"exclude_accounts": ["111111111111"]})] {
        let spec = share(exclude, &config).unwrap();
        let policy = crate::policy::read_policy(&spec, &config);
        let denied = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "DenyExcludedAccounts")
            .map(|s| s["Condition"]["StringEquals"]["aws:PrincipalTag/trailshare:account"].clone());
        assert_eq!(denied, Some(json!(["111111111111"])));
    }
}

/// The largest `exclude_accounts` a Control Tower deployment admits: the
/// policy, with an expiry and a session deny, stays within IAM's 10,240
/// characters, the trust within 2,048, the record within its tags; one
/// more is a 400 naming the field.
#[test]
fn five_hundred_excluded_accounts_fit_and_the_largest_is_known() {
    let config = control_tower();
    let paths = json!([format!("{ORG}/r-ab12/ou-ab12-11111111/*")]);
    let admitted = |n: usize| {
        share(
            json!({"exclude_accounts": accounts(n), "org_paths": paths, "principal_name": "trailshare-reader"}),
            &config,
        )
    };
    let largest = (500..2000)
        .take_while(|n| admitted(*n).is_ok())
        .last()
        .expect("500 excluded accounts fit");
    assert_eq!(largest, LARGEST_EXCLUDED, "update the docs' number");
    let spec = admitted(largest).unwrap();
    let inline = role_policy(&spec, &config, Some("2026-11-25T00:00:16Z"));
    assert!(iam_size(&inline) <= MAX_INLINE_POLICY_CHARS);
    assert!(iam_size(&trust_policy(&spec)) <= MAX_TRUST_POLICY_CHARS);
    let record = ShareRecord {
        spec: spec.clone(),
        created_by: format!("arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/{}", "p".repeat(64)),
        created_at: "2026-11-25T00:00:00Z".into(),
        updated_by: Some(format!("arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/{}", "q".repeat(64))),
        updated_at: Some("2026-11-25T00:00:00Z".into()),
        sessions_valid_after: Some("2026-11-25T00:00:16Z".into()),
    };
    assert!(record.to_tags().is_ok());
    match admitted(largest + 1) {
        Err(Refusal::Invalid(invalid)) => {
            assert_eq!(
                (invalid.field.as_str(), invalid.code),
                ("organization.exclude_accounts", "too_large")
            );
            assert!(invalid.message.contains("10240"), "{}", invalid.message);
        }
        other => panic!("{other:?}"),
    }
}

/// See [`five_hundred_excluded_accounts_fit_and_the_largest_is_known`].
const LARGEST_EXCLUDED: usize = 504;

#[test]
fn a_trust_too_large_for_iam_names_org_paths() {
    let config = control_tower();
    let paths: Vec<String> = (0..40)
        .map(|i| format!("{ORG}/r-ab12/ou-ab12-{i:08}/*"))
        .collect();
    match share(json!({"org_paths": paths}), &config) {
        Err(Refusal::Invalid(invalid)) => assert_eq!(
            (invalid.field.as_str(), invalid.code),
            ("organization.org_paths", "too_large")
        ),
        other => panic!("{other:?}"),
    }
    let fits = share(json!({"org_paths": paths[..20]}), &config).unwrap();
    let trust = trust_policy(&fits);
    assert!(check_limits(&fits, &trust, &json!({})).is_ok());
}

#[test]
fn a_replace_of_the_exclusions_holds_both_while_the_trust_changes() {
    let config = control_tower();
    let old = share(json!({"exclude_accounts": ["444444444444"]}), &config).unwrap();
    let new = share(
        json!({"exclude_accounts": ["555555555555"], "principal_name": "reader"}),
        &config,
    )
    .unwrap();
    let during = transition_policy(&old, &new, &config, Some("2026-11-25T00:00:16Z"));
    let denied = during["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "DenyExcludedAccounts")
        .unwrap();
    assert_eq!(
        denied["Condition"]["StringEquals"]["aws:PrincipalTag/trailshare:account"],
        json!(["555555555555", "444444444444", "111111111111"])
    );
    assert!(during.to_string().contains("DenySessionsIssuedBefore"));
    // A share never changes kind; if asked, the transition reads nothing.
    let plain = admit(
        &json!({"grantee_account": "222222222222"}),
        None,
        &config,
        now(),
    )
    .unwrap();
    let held = transition_policy(&plain, &new, &config, None);
    assert_eq!(held["Statement"][0]["Sid"], "ReplaceInProgress");
}
