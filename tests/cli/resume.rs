//! An interrupted or killed `pull`: a rerun resumes and finishes, nothing
//! half-written looks complete; a missing bucket fails.

use stand_in::binary::{run, trailshare as trailshare_binary};
use stand_in::{s3, unique, A, B};

use super::{
    content, grantee_keys, key, local_files, pull, put_files, s3_requests, sorted, world, ORG,
};

#[tokio::test]
async fn an_interrupted_pull_resumes_and_a_missing_bucket_fails() {
    let w = world().await;
    let files = put_files(w.aws, &w.bucket).await;
    let share = w.create(&["--name", &unique("bu-b"), "--grantee", B]);
    let role = share["role_arn"].as_str().unwrap();
    let keys = grantee_keys(w.aws, B, &share).await;
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().to_str().unwrap();
    let args = [
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
        "--json",
        "--to",
        to,
    ];
    let first = pull(&keys, &w.aws.url, &args);
    assert_eq!(first.code, 0, "{first:?}");
    let logs: Vec<&String> = files.b.iter().filter(|k| !k.contains("Digest")).collect();
    assert_eq!(first.json()["downloaded"], logs.len());

    // An interrupted run: one file half-written (a .part, never renamed),
    // one missing, one cut short by something else.
    let (half, gone, short) = (logs[0], logs[1], logs[2]);
    std::fs::rename(
        dir.path().join(half),
        dir.path().join(format!("{half}.part")),
    )
    .unwrap();
    std::fs::write(dir.path().join(format!("{half}.part")), "partial").unwrap();
    std::fs::remove_file(dir.path().join(gone)).unwrap();
    std::fs::write(dir.path().join(short), "short").unwrap();
    let before = s3_requests(&w.bucket).len();
    let second = pull(&keys, &w.aws.url, &args);
    assert_eq!(second.code, 0, "{second:?}");
    let summary = second.json();
    assert_eq!(summary["downloaded"], 3, "{summary}");
    assert_eq!(summary["skipped"], logs.len() - 3, "{summary}");
    for (i, k) in files.all.iter().enumerate() {
        if logs.contains(&k) {
            assert_eq!(
                std::fs::read_to_string(dir.path().join(k)).unwrap(),
                content(k, i)
            );
        }
    }
    let gets: Vec<String> = s3_requests(&w.bucket)[before..]
        .iter()
        .filter(|(_, t)| !t.contains("list-type="))
        .map(|(_, t)| {
            let path = t.split('?').next().unwrap_or_default();
            path.trim_start_matches(&format!("/{}/", w.bucket))
                .to_string()
        })
        .collect();
    assert_eq!(
        sorted(gets),
        sorted(vec![half.clone(), gone.clone(), short.clone()])
    );
    assert!(local_files(dir.path())
        .iter()
        .all(|f| !f.ends_with(".part")));

    // A bucket that is not there: the listing fails, named, non-zero.
    let out = pull(
        &keys,
        &w.aws.url,
        &[
            "--role-arn",
            role,
            "--bucket",
            "no-such-bucket-trailshare",
            "--regions",
            "us-east-1",
            "--since",
            "2024-05-01",
            "--until",
            "2024-05-01",
            "--to",
            to,
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("failed: listing s3://no-such-bucket-trailshare/AWSLogs/"),
        "{out:?}"
    );

    // A role that cannot be assumed: a clear error naming it, no files.
    let out = pull(
        &keys,
        &w.aws.url,
        &[
            "--role-arn",
            &format!("arn:aws:iam::{A}:role/no-such-role"),
            "--bucket",
            &w.bucket,
            "--to",
            to,
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("assuming arn:aws:iam::111111111111:role/no-such-role"),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_killed_pull_leaves_no_file_that_looks_complete_and_a_rerun_finishes() {
    let w = world().await;
    let client = s3(&w.aws.admin(A).await);
    let mut keys = Vec::new();
    for i in 0..300 {
        let k = key("AWSLogs/", B, "us-east-1", "2024/05/01", &format!("{i:04}"));
        client
            .put_object()
            .bucket(&w.bucket)
            .key(&k)
            .body(content(&k, i).into_bytes().into())
            .send()
            .await
            .expect("put");
        keys.push(k);
    }
    let share = w.create(&["--name", &unique("bu-b"), "--grantee", B]);
    let creds = grantee_keys(w.aws, B, &share).await;
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "pull",
        "--role-arn",
        share["role_arn"].as_str().unwrap(),
        "--bucket",
        &w.bucket,
        "--since",
        "2024-05-01",
        "--until",
        "2024-05-01",
        "--regions",
        "us-east-1",
        "--concurrency",
        "2",
        "--to",
        dir.path().to_str().unwrap(),
    ];
    let mut child = std::process::Command::new(trailshare_binary())
        .args(args)
        .env_clear()
        .env("HOME", dir.path())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &w.aws.url)
        .env("AWS_ACCESS_KEY_ID", &creds.0)
        .env("AWS_SECRET_ACCESS_KEY", &creds.1)
        .spawn()
        .expect("start pull");
    let started = std::time::Instant::now();
    while local_files(dir.path()).len() < 10 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().expect("kill pull");
    child.wait().unwrap();

    // Whatever has its final name is whole; the rest is missing or .part.
    let landed: Vec<String> = local_files(dir.path())
        .into_iter()
        .filter(|f| !f.ends_with(".part"))
        .collect();
    assert!(
        !landed.is_empty() && landed.len() < keys.len(),
        "{}",
        landed.len()
    );
    for (i, k) in keys.iter().enumerate() {
        if landed.contains(k) {
            assert_eq!(
                std::fs::read_to_string(dir.path().join(k)).unwrap(),
                content(k, i)
            );
        }
    }

    let out = run(
        &[&args[..], &["--json"]].concat(),
        &[
            ("AWS_ACCESS_KEY_ID", &creds.0),
            ("AWS_SECRET_ACCESS_KEY", &creds.1),
            ("AWS_ENDPOINT_URL", &w.aws.url),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let summary = out.json();
    assert_eq!(summary["skipped"], landed.len(), "{summary}");
    assert_eq!(
        summary["downloaded"],
        keys.len() - landed.len(),
        "{summary}"
    );
    assert_eq!(local_files(dir.path()), sorted(keys.clone()));
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(k)).unwrap(),
            content(k, i)
        );
    }
}
