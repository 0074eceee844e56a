//! Access through the real share role: scenario 1 (each business unit
//! reads only its own logs, in every trail layout), scenario 2 (a third
//! party reads every account's, with an external id), revocation, and the
//! share's `cli_profile` with the real AWS CLI.

use serde_json::{json, Value};
use stand_in::{log_file, log_key, put_log, s3, s3_status, share_role, unique, A, B, C, Z};

use super::{world, world_env, ROLE_ACTIONS};

#[tokio::test]
async fn scenario_one_each_business_unit_reads_only_its_own_logs() {
    let w = world().await;
    for (me, other) in [(B, C), (C, B)] {
        let share = w.create(json!({"grantee_account": me})).await;
        assert_eq!(share["name"], format!("account-{me}"));
        assert_eq!(share["log_accounts"], json!([me]));
        let role_arn = share["role_arn"].as_str().unwrap().to_string();
        assert_eq!(
            role_arn,
            format!("arn:aws:iam::{A}:role{}trailshare-account-{me}", w.path)
        );

        let user = w.grantee(me, &share).await;
        let session = w
            .aws
            .assume(&user, &role_arn, None)
            .await
            .expect("grantee assumes the share role");
        assert_eq!(
            w.read(&session, me).await,
            200,
            "{me} reads its own log file"
        );
        assert_eq!(
            w.read(&session, other).await,
            403,
            "{me} must not read {other}'s log file"
        );
        assert_eq!(
            w.read(&session, A).await,
            403,
            "{me} must not read A's log file"
        );
        let write = s3(&session)
            .put_object()
            .bucket(&w.bucket)
            .key(log_key(None, me, "1300"))
            .body(b"x".to_vec().into())
            .send()
            .await;
        assert_eq!(s3_status(&write), 403, "the role is read-only");
    }
    // Last use, as IAM records it: the grantees' sessions made requests.
    let (_, b_share) = w.call("GET", &format!("/shares/account-{B}"), None).await;
    assert!(
        b_share["last_used"]["at"]
            .as_str()
            .is_some_and(|at| at.contains('T')),
        "{b_share}"
    );
    let unused = w
        .create(json!({"name": "never-used", "grantee_account": C}))
        .await;
    let (_, unused) = w
        .call(
            "GET",
            &format!("/shares/{}", unused["name"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(unused["last_used"], Value::Null, "{unused}");
    w.call("DELETE", "/shares/never-used", None).await;
    let (status, list) = w.call("GET", "/shares", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [format!("account-{B}"), format!("account-{C}")]);
}

#[tokio::test]
async fn scenario_two_third_party_reads_every_accounts_logs_with_external_id() {
    let w = world().await;
    let share = w
        .create(json!({"name": "auditor-z", "grantee_account": Z, "log_accounts": ["*"], "external_id": "z-issued-7f3a",
                       "max_session_seconds": 7200}))
        .await;
    assert_eq!(
        share["grantee_setup"]["assume_role_command"],
        format!("aws sts assume-role --role-arn {} --role-session-name trailshare-auditor-z --external-id z-issued-7f3a", share["role_arn"].as_str().unwrap())
    );
    // Only this test uses the name auditor-z (role names are account-wide).
    let user = w.grantee(Z, &share).await;
    let session = w
        .aws
        .assume(
            &user,
            share["role_arn"].as_str().unwrap(),
            Some("z-issued-7f3a"),
        )
        .await
        .expect("Z assumes");
    for account in [A, B, C] {
        assert_eq!(
            w.read(&session, account).await,
            200,
            "Z reads {account}'s log file"
        );
    }
    let role = share_role(&w.admin, "auditor-z").await;
    assert_eq!(role.max_session_duration, Some(7200));
    let (status, mut got) = w.call("GET", "/shares/auditor-z", None).await;
    // GET adds what only reads have: IAM's record of the role's last use.
    assert!(got.as_object_mut().unwrap().remove("last_used").is_some());
    assert_eq!(
        (status, &got),
        (200, &share),
        "GET rebuilds every field from IAM"
    );
}

#[tokio::test]
async fn revocation_removes_the_role_and_access() {
    let w = world().await;
    let name = unique("bu-b");
    let share = w.create(json!({"grantee_account": B, "name": name})).await;
    let user = w.grantee(B, &share).await;
    let role_arn = share["role_arn"].as_str().unwrap();
    let session = w
        .aws
        .assume(&user, role_arn, None)
        .await
        .expect("assume before revocation");
    assert_eq!(w.read(&session, B).await, 200);

    let (status, body) = w.call("DELETE", &format!("/shares/{name}"), None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert!(w.roles().await.is_empty());
    let gone = aws_sdk_iam::Client::new(&w.admin)
        .get_role()
        .role_name(format!("trailshare-{name}"))
        .send()
        .await;
    assert_eq!(
        gone.unwrap_err()
            .raw_response()
            .map(|r| r.status().as_u16()),
        Some(404)
    );
    assert!(
        w.aws.assume(&user, role_arn, None).await.is_err(),
        "AssumeRole must fail after revocation"
    );
    // AWS answers 403; moto fails (500) looking up the deleted role. Either
    // way the old session reads nothing.
    assert_ne!(
        w.read(&session, B).await,
        200,
        "a session from before revocation reads nothing now"
    );
    assert_eq!(w.call("GET", &format!("/shares/{name}"), None).await.0, 404);
    assert_eq!(
        w.call("DELETE", &format!("/shares/{name}"), None).await.0,
        404
    );
}

/// The real AWS CLI, configured with nothing but the grantee's own keys as
/// `default` and the share's `cli_profile` pasted as it is, reads the
/// grantee's logs through the share role and nobody else's.
#[tokio::test]
async fn the_cli_profile_works_with_the_real_aws_cli() {
    use aws_credential_types::provider::ProvideCredentials;
    let root = stand_in::repo_root();
    // What `make test` installs (scripts/setup.sh); quick when present.
    let venv = std::process::Command::new(root.join("scripts/venv.sh"))
        .args([".venv-awscli", "requirements/awscli.txt"])
        .status()
        .expect("scripts/venv.sh");
    assert!(venv.success(), "could not install the pinned AWS CLI");
    let w = world_env(
        ROLE_ACTIONS,
        false,
        &[("TRAIL_BUCKET_REGION", stand_in::REGION)],
    )
    .await;
    let name = unique("bu-b");
    let share = w
        .create(json!({"grantee_account": B, "name": name, "external_id": "b-ext-cli"}))
        .await;
    let profile = share["grantee_setup"]["cli_profile"].as_str().unwrap();
    assert!(
        profile.ends_with("\nduration_seconds = 3600\nregion = us-east-1"),
        "{profile}"
    );
    let keys = w
        .grantee(B, &share)
        .await
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &config,
        format!("[default]\nregion = us-east-1\n\n{profile}\n"),
    )
    .unwrap();
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            keys.access_key_id(),
            keys.secret_access_key()
        ),
    )
    .unwrap();
    let aws = |args: &[&str]| {
        let mut command = std::process::Command::new(root.join(".venv-awscli/bin/aws"));
        command
            .args(args)
            .args(["--profile", &format!("trailshare-{name}")]);
        // Only the files above: nothing from this machine's environment.
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
            command.env_remove(key);
        }
        let output = command
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_ENDPOINT_URL", &w.aws.url)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("run the AWS CLI");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (ok, identity, err) = aws(&["sts", "get-caller-identity", "--output", "text"]);
    assert!(ok, "{err}");
    assert!(
        identity.contains(&format!("assumed-role/trailshare-{name}/")),
        "{identity}"
    );
    let bucket = format!("s3://{}", w.bucket);
    let (ok, listing, err) = aws(&["s3", "ls", &format!("{bucket}/AWSLogs/{B}/"), "--recursive"]);
    assert!(ok, "{err}");
    assert!(listing.contains(&log_key(None, B, "1200")), "{listing}");
    assert!(!listing.contains(C), "{listing}");
    // C's file: denied (moto does not judge the s3:prefix condition of a
    // listing; the evaluator does, in the tests above).
    let (ok, _, err) = aws(&[
        "s3",
        "cp",
        &format!("{bucket}/{}", log_key(None, C, "1200")),
        "-",
    ]);
    assert!(!ok && err.contains("403"), "{err}");
    let (ok, body, err) = aws(&[
        "s3",
        "cp",
        &format!("{bucket}/{}", log_key(None, B, "1200")),
        "-",
    ]);
    assert!(ok, "{err}");
    assert!(!body.is_empty());
}

/// Scenario 1 in each trail layout the product supports, through the real
/// role: Control Tower's (`TRAIL_PREFIX` = `ORGANIZATION_ID`), an
/// organization trail without a prefix, and a custom prefix. B's role reads
/// B's files under both the member and the organization path, and nothing
/// of C's, nor B's files outside the layout's root.
#[tokio::test]
async fn scenario_one_holds_in_control_tower_organization_and_custom_prefix_layouts() {
    const ORG: &str = "o-a1b2c3d4e5";
    let layouts: [(&str, &[(&str, &str)]); 3] = [
        (
            "o-a1b2c3d4e5/",
            &[("TRAIL_PREFIX", ORG), ("ORGANIZATION_ID", ORG)],
        ),
        ("", &[("ORGANIZATION_ID", ORG)]),
        ("audit/central/", &[("TRAIL_PREFIX", "audit/central")]),
    ];
    for (root, vars) in layouts {
        let w = world_env(ROLE_ACTIONS, true, vars).await;
        let organization = vars.iter().any(|(k, _)| *k == "ORGANIZATION_ID");
        let key = |account: &str, org: bool| {
            let org = if org {
                format!("{ORG}/")
            } else {
                String::new()
            };
            format!("{root}AWSLogs/{org}{account}/CloudTrail/us-east-1/2024/05/01/{account}_CloudTrail_us-east-1_20240501T1200Z_L4yout.json.gz")
        };
        let mut paths = vec![false];
        if organization {
            paths.push(true);
        }
        let a_s3 = s3(&w.admin);
        for account in [B, C] {
            for &org in &paths {
                put_log(&a_s3, &w.bucket, &key(account, org), log_file(account, "x")).await;
            }
        }
        let share = w
            .create(json!({"grantee_account": B, "name": unique("layout-b")}))
            .await;
        let user = w.grantee(B, &share).await;
        let session = w
            .aws
            .assume(&user, share["role_arn"].as_str().unwrap(), None)
            .await
            .expect("B assumes its role");
        let get = |key: String| {
            let client = s3(&session);
            let bucket = w.bucket.clone();
            async move { s3_status(&client.get_object().bucket(bucket).key(key).send().await) }
        };
        for &org in &paths {
            assert_eq!(
                get(key(B, org)).await,
                200,
                "{root}: B reads {}",
                key(B, org)
            );
            assert_eq!(
                get(key(C, org)).await,
                403,
                "{root}: B must not read {}",
                key(C, org)
            );
        }
        // AWS Config's files beside B's CloudTrail folder (as in Control
        // Tower's log archive): not readable through the share.
        let config_key = |org: bool| {
            key(B, org)
                .replace("/CloudTrail/", "/Config/")
                .replace("_CloudTrail_", "_Config_")
        };
        for &org in &paths {
            put_log(&a_s3, &w.bucket, &config_key(org), log_file(B, "x")).await;
            assert_eq!(
                get(config_key(org)).await,
                403,
                "{root}: B must not read {}",
                config_key(org)
            );
        }
        if !root.is_empty() {
            // world_env's files lie at AWSLogs/<acct>/…, outside this root.
            assert_eq!(
                get(log_key(None, B, "1200")).await,
                403,
                "{root}: B's role reads only under the trail's prefix"
            );
        }
    }
}
