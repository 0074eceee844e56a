use super::*;
use std::collections::HashMap;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|name| vars.get(name).cloned())
}

#[test]
fn defaults_apply_and_empty_means_unset() {
    let c = config(&[
        ("TRAIL_BUCKET", "trail-bucket"),
        ("TRAIL_PREFIX", ""),
        ("KMS_KEY_ARN", ""),
    ])
    .unwrap();
    assert_eq!(c.share_role_path, "/trailshare/");
    assert_eq!(c.share_cache_seconds, 60);
    assert_eq!(c.trail_prefix, None);
    assert_eq!(c.kms_key_arn, None);
    assert_eq!(c.logs_root(), "AWSLogs/");
    assert_eq!(c.trail_bucket_region, None);
    // The provisioner-only lists are optional: the forwarder starts without them.
    assert!(c.admin_principals.is_empty() && c.grantee_accounts.is_empty());
    assert_eq!(c.copy_destination_buckets, None);
    assert_eq!(
        c.admin_match("arn:aws:iam::111111111111:user/anyone"),
        crate::admin::AdminMatch::No
    );
    assert!(c.grantee_allowed("222222222222"));
}

#[test]
fn admins_grantees_and_organization_kms() {
    let c = config(&[
        ("TRAIL_BUCKET", "trail-bucket"),
        (
            "ADMIN_PRINCIPALS",
            "arn:aws:iam::111111111111:user/ops, arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*",
        ),
        ("GRANTEE_ACCOUNTS", "222222222222,333333333333"),
        ("KMS_KEY_ARN", "arn:aws:kms:eu-west-1:111111111111:key/k1"),
        ("ORGANIZATION_ID", "o-a1b2c3d4e5"),
        ("TRAIL_ARN", "arn:aws:cloudtrail:eu-west-1:111111111111:trail/org"),
        ("COPY_DESTINATION_BUCKETS", "b-logs,c-logs"),
    ])
    .unwrap();
    use crate::admin::AdminMatch;
    assert_eq!(
        c.admin_match("arn:aws:iam::111111111111:user/ops"),
        AdminMatch::Yes
    );
    assert_eq!(
        c.admin_match("arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_99aa/alice"),
        AdminMatch::IfRolePath {
            account: "111111111111".into(),
            role_name: "AWSReservedSSO_Admin_99aa".into(),
            paths: vec!["/aws-reserved/sso.amazonaws.com/".into()]
        }
    );
    assert_eq!(
        c.admin_match("arn:aws:sts::111111111111:assumed-role/PowerUser/mallory"),
        AdminMatch::No
    );
    assert!(c.grantee_allowed("333333333333") && !c.grantee_allowed("444444444444"));
    assert_eq!(c.kms_region(), Some("eu-west-1"));
    // The key lives in the bucket's Region.
    assert_eq!(c.trail_bucket_region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        c.copy_destination_buckets,
        Some(vec!["b-logs".to_string(), "c-logs".to_string()])
    );
    assert_eq!(c.copy_writer_role_arns, None);
}

#[test]
fn everything_set() {
    let c = config(&[
        ("TRAIL_BUCKET", "trail-bucket"),
        ("TRAIL_PREFIX", "my logs/org"),
        ("ORGANIZATION_ID", "o-a1b2c3d4e5"),
        (
            "KMS_KEY_ARN",
            "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        ("SHARE_ROLE_PATH", "/shares/cloudtrail/"),
        (
            "PERMISSIONS_BOUNDARY_ARN",
            "arn:aws:iam::111111111111:policy/trailshare-boundary",
        ),
        ("SHARE_CACHE_SECONDS", "0"),
        (
            "FORWARDER_ROLE_ARN",
            "arn:aws:iam::111111111111:role/forwarder",
        ),
        (
            "TRAIL_ARN",
            "arn:aws:cloudtrail:us-east-1:111111111111:trail/org-trail",
        ),
    ])
    .unwrap();
    assert_eq!(c.logs_root(), "my logs/org/AWSLogs/");
    assert_eq!(c.share_cache_seconds, 0);
}

#[test]
fn the_trail_bucket_region_is_named_or_the_functions_own() {
    let region = |vars: &[(&str, &str)]| {
        let mut all = vec![("TRAIL_BUCKET", "trail-bucket")];
        all.extend_from_slice(vars);
        config(&all).unwrap().trail_bucket_region
    };
    assert_eq!(
        region(&[("AWS_REGION", "eu-central-1")]).as_deref(),
        Some("eu-central-1")
    );
    assert_eq!(
        region(&[
            ("AWS_REGION", "eu-central-1"),
            ("TRAIL_BUCKET_REGION", "us-gov-west-1")
        ])
        .as_deref(),
        Some("us-gov-west-1")
    );
    // Never anything that could break out of the profile's line.
    assert_eq!(region(&[("AWS_REGION", "us-east-1\nrole_arn = x")]), None);
}

#[test]
fn every_bad_variable_is_named() {
    let table: &[(&[(&str, &str)], &str)] = &[
        (&[], "TRAIL_BUCKET"),
        (&[("TRAIL_BUCKET", "Not_A_Bucket")], "TRAIL_BUCKET"),
        (&[("TRAIL_PREFIX", "/logs")], "TRAIL_PREFIX"),
        (&[("TRAIL_PREFIX", "logs/")], "TRAIL_PREFIX"),
        (&[("TRAIL_PREFIX", "lo*gs")], "TRAIL_PREFIX"),
        (&[("ORGANIZATION_ID", "o-short")], "ORGANIZATION_ID"),
        (
            &[(
                "KMS_KEY_ARN",
                "arn:aws:kms:us-east-1:111111111111:alias/trail",
            )],
            "KMS_KEY_ARN",
        ),
        (&[("ACTIVITY_BUCKET", "Not_A_Bucket")], "ACTIVITY_BUCKET"),
        (&[("SHARE_ROLE_PATH", "trailshare")], "SHARE_ROLE_PATH"),
        (&[("SHARE_ROLE_PATH", "/")], "SHARE_ROLE_PATH"),
        (
            &[(
                "PERMISSIONS_BOUNDARY_ARN",
                "arn:aws:iam::111111111111:role/x",
            )],
            "PERMISSIONS_BOUNDARY_ARN",
        ),
        (&[("SHARE_CACHE_SECONDS", "-1")], "SHARE_CACHE_SECONDS"),
        (&[("SHARE_CACHE_SECONDS", "soon")], "SHARE_CACHE_SECONDS"),
        (&[("SHARE_CACHE_SECONDS", "3601")], "SHARE_CACHE_SECONDS"),
        (
            &[("FORWARDER_ROLE_ARN", "arn:aws:iam::111111111111:user/x")],
            "FORWARDER_ROLE_ARN",
        ),
        (
            &[
                ("KMS_KEY_ARN", "arn:aws:kms:us-east-1:111111111111:key/k1"),
                ("ORGANIZATION_ID", "o-a1b2c3d4e5"),
            ],
            "TRAIL_ARN",
        ),
        (
            &[(
                "TRAIL_ARN",
                "arn:aws:cloudtrail:us-east-1:111111111111:trail/*",
            )],
            "TRAIL_ARN",
        ),
        (
            &[("ADMIN_PRINCIPALS", "arn:aws:iam::111111111111:role/Admin,*")],
            "ADMIN_PRINCIPALS",
        ),
        (
            &[("ADMIN_PRINCIPALS", "arn:aws:iam::111111111111:role/*")],
            "ADMIN_PRINCIPALS",
        ),
        (
            &[("GRANTEE_ACCOUNTS", "222222222222,2222")],
            "GRANTEE_ACCOUNTS",
        ),
        (
            &[("COPY_DESTINATION_BUCKETS", "ok-bucket,*")],
            "COPY_DESTINATION_BUCKETS",
        ),
        (
            &[("COPY_WRITER_ROLE_ARNS", "arn:aws:iam::222222222222:role/*")],
            "COPY_WRITER_ROLE_ARNS",
        ),
        (&[("TRAIL_BUCKET_REGION", "US East")], "TRAIL_BUCKET_REGION"),
        (
            &[("TRAIL_BUCKET_REGION", "us-east-")],
            "TRAIL_BUCKET_REGION",
        ),
    ];
    for (vars, variable) in table {
        let mut all = vec![("TRAIL_BUCKET", "trail-bucket")];
        if *variable == "TRAIL_BUCKET" {
            all.clear();
        }
        all.extend_from_slice(vars);
        let err = config(&all).expect_err(variable);
        assert_eq!(err.variable, *variable);
        assert!(err.to_string().contains(variable));
    }
}

#[test]
fn activity_is_off_unless_its_bucket_is_set_and_a_knows_its_account() {
    let base = [("TRAIL_BUCKET", "trail-bucket")];
    assert_eq!(config(&base).unwrap().activity().unwrap(), None);
    let secret = "arn:aws:secretsmanager:us-east-1:111111111111:secret:trailshare-AbCdEf";
    let c = config(&[
        ("TRAIL_BUCKET", "trail-bucket"),
        ("ACTIVITY_BUCKET", "activity-bucket"),
        ("SHARE_SECRET_ARN", secret),
    ])
    .unwrap();
    let (bucket, roles) = c.activity().unwrap().unwrap();
    assert_eq!(bucket, "activity-bucket");
    assert_eq!(
        roles.account, "111111111111",
        "default: the stack's own account"
    );
    assert_eq!(
        (roles.path.as_str(), roles.trail_bucket.as_str()),
        ("/trailshare/", "trail-bucket")
    );
    let c = config(&[
        ("TRAIL_BUCKET", "trail-bucket"),
        ("ACTIVITY_BUCKET", "activity-bucket"),
        ("SHARE_SECRET_ARN", secret),
        ("OWNER_ACCOUNT", "333333333333"),
    ])
    .unwrap();
    assert_eq!(c.activity().unwrap().unwrap().1.account, "333333333333");
    let unknown = config(&[
        ("TRAIL_BUCKET", "trail-bucket"),
        ("ACTIVITY_BUCKET", "activity-bucket"),
    ])
    .unwrap();
    assert_eq!(unknown.activity().unwrap_err().variable, "OWNER_ACCOUNT");
    for (name, value) in [
        ("ACTIVITY_BUCKET", "Not_A_Bucket"),
        ("OWNER_ACCOUNT", "12345"),
    ] {
        let error = config(&[("TRAIL_BUCKET", "trail-bucket"), (name, value)]).unwrap_err();
        assert_eq!(error.variable, name);
    }
}
