//! `trailshare credentials`: the credential_process of an organization
//! share, run as the real binary against moto's STS, and behind a real AWS
//! CLI profile.

use aws_credential_types::Credentials;
use serde_json::json;
use stand_in::binary::{run, Run};
use stand_in::{repo_root, sdk_config, stand_in, unique, A, B};

/// A role in A trusting B for sessions tagged with B's account. moto does
/// not judge `aws:RequestTag` (it assumes without the tag as well), so the
/// tag the binary sends is checked on its request (`credentials::tests`),
/// and the organization trust by the evaluator.
async fn role_for_tagged_sessions(admin: &aws_config::SdkConfig) -> String {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{B}:root")},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"aws:RequestTag/trailshare:account": B}}}]});
    aws_sdk_iam::Client::new(admin)
        .create_role()
        .role_name(unique("members"))
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create role")
        .role
        .expect("role")
        .arn
}

fn credentials(keys: &Credentials, url: &str, role: &str) -> Run {
    run(
        &["credentials", "--role-arn", role],
        &[
            ("AWS_ACCESS_KEY_ID", keys.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", keys.secret_access_key()),
            ("AWS_ENDPOINT_URL", url),
        ],
    )
}

#[tokio::test]
async fn credentials_assumes_with_the_callers_account_tag_and_prints_credential_process_json() {
    use aws_credential_types::provider::ProvideCredentials;
    let aws = stand_in();
    let role = role_for_tagged_sessions(&aws.admin(A).await).await;
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": role}]});
    let user = aws.user(B, &unique("reader"), &policy).await;
    let keys = user
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();

    let out = credentials(&keys, &aws.url, &role);
    assert_eq!(out.code, 0, "{out:?}");
    let printed = out.json();
    assert_eq!(printed["Version"], 1, "{printed}");
    for field in ["AccessKeyId", "SecretAccessKey", "SessionToken"] {
        assert!(
            printed[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}: {printed}"
        );
    }
    let expiration = time::OffsetDateTime::parse(
        printed["Expiration"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("Expiration in RFC 3339");
    assert!(expiration > time::OffsetDateTime::now_utc(), "{printed}");

    // The printed credentials are the role's session.
    let session = sdk_config(
        &aws.url,
        Credentials::new(
            printed["AccessKeyId"].as_str().unwrap(),
            printed["SecretAccessKey"].as_str().unwrap(),
            printed["SessionToken"].as_str().map(str::to_string),
            None,
            "credential_process",
        ),
    )
    .await;
    let identity = aws_sdk_sts::Client::new(&session)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let role_name = role.rsplit('/').next().unwrap();
    assert_eq!(
        identity.arn(),
        Some(format!("arn:aws:sts::{A}:assumed-role/{role_name}/trailshare-credentials").as_str())
    );

    // Bad input: a clear error, exit 2, no request.
    let bad = run(
        &[
            "credentials",
            "--role-arn",
            &role,
            "--duration-seconds",
            "60",
        ],
        &[],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("--duration-seconds"), "{bad:?}");

    // Behind a real AWS CLI profile, as grantee_setup describes it.
    let venv = std::process::Command::new(repo_root().join("scripts/venv.sh"))
        .args([".venv-awscli", "requirements/awscli.txt"])
        .status()
        .expect("scripts/venv.sh");
    assert!(venv.success(), "could not install the pinned AWS CLI");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let binary = stand_in::binary::trailshare();
    std::fs::write(
        &config,
        format!(
            "[profile members]\ncredential_process = {} credentials --role-arn {role}\nregion = us-east-1\n",
            binary.display()
        ),
    )
    .unwrap();
    let output = std::process::Command::new(repo_root().join(".venv-awscli/bin/aws"))
        .args([
            "sts",
            "get-caller-identity",
            "--profile",
            "members",
            "--output",
            "json",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_ENDPOINT_URL", &aws.url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // The base credentials credential_process itself starts from.
        .env("AWS_ACCESS_KEY_ID", keys.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", keys.secret_access_key())
        .output()
        .expect("run the AWS CLI");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("assumed-role/{role_name}/")),
        "{stdout}"
    );
}
