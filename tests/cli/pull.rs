//! `pull` in scenario 1 (only the grantee's own files, never asking for
//! others') and scenario 2 (every account, with the external id).

use serde_json::json;
use stand_in::{unique, A, B, C, Z};

use super::{
    content, grantee_keys, key, local_files, pull, put_files, s3_requests, sorted, world, ORG,
};

#[tokio::test]
async fn pull_scenario_one_brings_only_own_files_and_never_asks_for_others() {
    let w = world().await;
    let files = put_files(w.aws, &w.bucket).await;
    let share = w.create(&["--name", &unique("bu-b"), "--grantee", B]);
    let role = share["role_arn"].as_str().unwrap();
    let keys = grantee_keys(w.aws, B, &share).await;
    let dir = tempfile::tempdir().unwrap();
    let before = s3_requests(&w.bucket).len();

    // No --accounts: the caller's own account (B); both layouts with --org.
    let out = pull(
        &keys,
        &w.aws.url,
        &[
            "--role-arn",
            role,
            "--bucket",
            &w.bucket,
            "--org",
            ORG,
            "--since",
            "2024-05-01",
            "--until",
            "2024-05-02",
            "--digests",
            "--to",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("pulled 5 files"), "{out:?}");
    let digest_file = files.b.iter().find(|k| k.contains("Digest")).unwrap();
    let mut want = files.b.clone();
    want.push(format!("{digest_file}.sig"));
    assert_eq!(local_files(dir.path()), sorted(want));
    for (i, k) in files.all.iter().enumerate() {
        if files.b.contains(k) {
            assert_eq!(
                std::fs::read_to_string(dir.path().join(k)).unwrap(),
                content(k, i)
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join(format!("{digest_file}.sig"))).unwrap(),
        "9d0a4c3e8f"
    );
    assert!(!dir.path().join(&files.b_outside).exists());

    // What was asked of S3: lists only under B's account prefixes, never the
    // root or another account's prefix; GETs only of B's files in the window.
    let requests = &s3_requests(&w.bucket)[before..];
    assert!(!requests.is_empty());
    let b_roots = [format!("AWSLogs/{B}/"), format!("AWSLogs/{ORG}/{B}/")];
    for (method, target) in requests {
        assert_eq!(method, "GET", "{target}");
        assert!(
            !target.contains(C) && !target.contains(&format!("AWSLogs/{A}")),
            "{target}"
        );
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        match query.contains("list-type=") {
            true => {
                let prefix = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("prefix="))
                    .unwrap_or_else(|| panic!("a listing without a prefix: {target}"));
                assert!(
                    b_roots.iter().any(|r| prefix.starts_with(r.as_str())),
                    "{target}"
                );
            }
            false => {
                let key = path.trim_start_matches(&format!("/{}/", w.bucket));
                assert!(files.b.iter().any(|k| k == key), "{target}");
            }
        }
    }
    let gets = requests
        .iter()
        .filter(|(_, t)| !t.contains("list-type="))
        .count();
    assert_eq!(gets, files.b.len());

    // Asking for C's files with B's role: denied per file (moto judges the
    // resource; AWS would already deny the listing), named, non-zero.
    let other = tempfile::tempdir().unwrap();
    let out = pull(
        &keys,
        &w.aws.url,
        &[
            "--role-arn",
            role,
            "--bucket",
            &w.bucket,
            "--accounts",
            C,
            "--regions",
            "us-east-1",
            "--since",
            "2024-05-01",
            "--until",
            "2024-05-01",
            "--to",
            other.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let c_key = key("AWSLogs/", C, "us-east-1", "2024/05/01", "1200");
    assert!(
        out.stderr
            .contains(&format!("failed: s3://{}/{c_key}: AccessDenied", w.bucket)),
        "{out:?}"
    );
    assert_eq!(local_files(other.path()), Vec::<String>::new());
}

#[tokio::test]
async fn pull_scenario_two_discovers_every_account_with_the_external_id() {
    let w = world().await;
    let files = put_files(w.aws, &w.bucket).await;
    let share = w.create(&[
        "--name",
        &unique("auditor"),
        "--grantee",
        Z,
        "--log-accounts",
        "*",
        "--external-id",
        "z-7f3a9c",
    ]);
    let keys = grantee_keys(w.aws, Z, &share).await;
    let dir = tempfile::tempdir().unwrap();
    let out = pull(
        &keys,
        &w.aws.url,
        &[
            "--role-arn",
            share["role_arn"].as_str().unwrap(),
            "--external-id",
            "z-7f3a9c",
            "--bucket",
            &w.bucket,
            "--accounts",
            "*",
            "--since",
            "2024-04-30",
            "--until",
            "2024-05-02",
            "--concurrency",
            "4",
            "--json",
            "--to",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    // Every log file of every account and layout; digests only on request.
    let want: Vec<String> = files
        .all
        .iter()
        .filter(|k| !k.contains("Digest"))
        .cloned()
        .collect();
    assert_eq!(local_files(dir.path()), sorted(want.clone()));
    let summary = out.json();
    assert_eq!(summary["downloaded"], want.len());
    assert_eq!(summary["failed"], json!([]));
}
