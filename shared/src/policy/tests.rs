use super::*;
use crate::grantee::*;
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
        backfill_bucket: None,
        dead_letter: None,
        activity_bucket: None,
        owner_account: None,
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
    let share = spec(json!({"grantee_account": "222222222222", "notify": {"queue_arn": queue}}));
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
    let share = spec(json!({"grantee_account": "222222222222", "notify": {"topic_arn": topic}}));
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
    let many = spec(json!({"grantee_account": "222222222222", "grantee_principals": principals}));
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
    let any = |v: &Value| strings(v).iter().any(|r| crate::ids::iam_like(r, &arn));
    let statements = policy["Statement"].as_array().unwrap();
    let denied = statements.iter().any(|s| {
        s["Effect"] == "Deny"
            && get(s)
            && s.get("Condition").is_none()
            && (any(&s["Resource"]) || (s.get("NotResource").is_some() && !any(&s["NotResource"])))
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
                strings(list)
                    .iter()
                    .any(|p| crate::ids::iam_like(p, &folders[0])),
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
                prop_assert!(!resources.iter().any(|r| crate::ids::iam_like(r, &arn)), "{arn} granted by {resources:?}");
                prop_assert!(!prefixes.iter().any(|p| crate::ids::iam_like(p, &key)), "{key} listable by {prefixes:?}");
            }
            let foreign_trail = format!("arn:aws:cloudtrail:us-east-1:{other}:trail/main");
            prop_assert!(!trails.iter().any(|t| crate::ids::iam_like(t, &foreign_trail)));
            for resource in &resources {
                prop_assert!(resource == "arn:aws:s3:::trail-bucket" || resource.starts_with("arn:aws:s3:::trail-bucket/") || resource.starts_with("arn:aws:kms:"));
            }
        }
        // …and it does reach each requested account's own files.
        for account in &requested {
            let key = format!("arn:aws:s3:::trail-bucket/{root}{account}/CloudTrail/us-east-1/2024/01/01/f.json.gz");
            prop_assert!(strings(&policy["Statement"][0]["Resource"]).iter().any(|r| crate::ids::iam_like(r, &key)));
        }
    }
}
