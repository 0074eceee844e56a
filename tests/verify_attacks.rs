//! The anchor for `trailshare verify` and `pull`: a trail bucket on moto
//! holding a day of CloudTrail files signed with our own key (CloudTrail's
//! is nobody else's), attacked by someone who can write the bucket. `pull`
//! fetches the day and `verify` must report each attack exactly once, with
//! its kind, and nothing else.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use aws_credential_types::provider::ProvideCredentials;
use stand_in::binary::run;
use stand_in::{s3, stand_in, A};
use trailshare::integrity::testkit::{gzip, list_public_keys_json, Sealed, TestKey, Trail};

/// Every file under `dir`: relative path and bytes.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// A gzip file that opens a JSON object, then 100 MiB of spaces.
fn gzip_bomb() -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(b"{").unwrap();
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..100 {
        encoder.write_all(&spaces).unwrap();
    }
    encoder.finish().unwrap()
}

#[tokio::test]
async fn pull_then_verify_reports_each_attack_once_with_its_kind() {
    let aws = stand_in();
    let admin = aws.admin(A).await;
    let bucket = aws.bucket(A, "attacked-trail").await;

    // 23 hourly digests of A's files on 2026-03-02 (the 24th ends on 03/03),
    // two log files an hour.
    let key = TestKey::generate();
    let attacker = TestKey::generate();
    let written = tempfile::tempdir().unwrap();
    let mut trail = Trail::new(written.path(), &key);
    trail.bucket = bucket.clone();
    trail.account = A.to_string();
    trail.region = "us-east-1".to_string();
    trail.start = time::macros::datetime!(2026-03-01 23:01:31 UTC);
    let mut sealed: Vec<Sealed> = Vec::new();
    for hour in 0..23 {
        trail.log_file(hour, 3).unwrap();
        trail.log_file(hour, 1).unwrap();
        sealed.push(trail.seal(hour).unwrap());
    }
    let root = written.path();

    // 1. A forged log file, named in hour 3, that no digest lists.
    let forged = trail.log_file(3, 2).unwrap();
    // 2. A log file replaced with other events.
    let replaced = sealed[5].log_files[0].clone();
    std::fs::write(root.join(&replaced), gzip(br#"{"Records":[]}"#)).unwrap();
    // 3. Two consecutive digests deleted (aws/aws-cli#7054), and
    // 4. the last three: none of them is uploaded.
    let deleted: Vec<&str> = [8, 9, 20, 21, 22]
        .iter()
        .map(|&h| sealed[h].path.as_str())
        .collect();
    // 5. A digest replaced by one signed with another key.
    trail.forge(&sealed[12], &attacker).unwrap();
    // 6. A gzip bomb in a digest's place.
    std::fs::write(root.join(&sealed[16].path), gzip_bomb()).unwrap();
    // 7. Objects named like pull's side files: a digest's signature, a part.
    let fake_sig = format!("{}.sig", sealed[6].key);
    let fake_part = format!("{}.part", sealed[7].log_files[0]);

    // Delivered as CloudTrail delivers: a digest's signature in metadata.
    let files = files_under(root);
    let signatures: HashMap<&str, String> = files
        .iter()
        .filter_map(|(p, b)| {
            p.strip_suffix(".sig")
                .map(|d| (d, String::from_utf8_lossy(b).into_owned()))
        })
        .collect();
    let client = s3(&admin);
    let mut uploads: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter(|(p, _)| !p.ends_with(".sig") && !deleted.contains(&p.as_str()))
        .cloned()
        .collect();
    uploads.push((fake_sig.clone(), b"00ff".to_vec()));
    uploads.push((fake_part.clone(), b"not a log file".to_vec()));
    for (object, bytes) in &uploads {
        client
            .put_object()
            .bucket(&bucket)
            .key(object)
            .body(bytes.clone().into())
            .set_metadata(
                signatures
                    .get(object.as_str())
                    .map(|s| [("signature".to_string(), s.clone())].into()),
            )
            .send()
            .await
            .unwrap();
    }

    // pull the day with A's own credentials.
    let creds = admin
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    let pulled = tempfile::tempdir().unwrap();
    let dir = pulled.path().to_str().unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", creds.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key()),
        ("AWS_ENDPOINT_URL", aws.url.as_str()),
    ];
    let args = [
        "pull",
        "--bucket",
        &bucket,
        "--accounts",
        A,
        "--regions",
        "us-east-1",
        "--since",
        "2026-03-02",
        "--until",
        "2026-03-02",
        "--digests",
        "--to",
        dir,
    ];
    let out = run(&args, &env);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("2 not CloudTrail's"), "{out:?}");
    let local: Vec<String> = files_under(pulled.path())
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert!(!local.iter().any(|p| p.ends_with(".part")), "{local:?}");
    // The digest's .sig is its metadata, not the object named like it.
    let sig =
        std::fs::read_to_string(pulled.path().join(format!("{}.sig", sealed[6].path))).unwrap();
    assert_eq!(sig, sealed[6].signature);
    let record = std::fs::read_to_string(pulled.path().join(".trailshare-pull.json")).unwrap();
    assert!(
        record.contains("2026-03-02T00:00:00Z") && record.contains("2026-03-03T00:00:00Z"),
        "{record}"
    );

    // verify: each attack once, with its kind; nothing else fails.
    let keys = pulled.path().join("keys.json");
    std::fs::write(&keys, list_public_keys_json(&[&key])).unwrap();
    let out = run(
        &[
            "--json",
            "verify",
            dir,
            "--public-keys",
            keys.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let report = out.json();
    let mut failures: Vec<(String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] != "not-covered")
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    failures.sort();
    let mut want: Vec<(String, String)> = [
        ("unlisted", forged.as_str()),
        ("modified", replaced.as_str()),
        ("missing-digest", sealed[9].path.as_str()),
        ("truncated", sealed[19].path.as_str()),
        ("unknown-key", sealed[12].path.as_str()),
        ("malformed", sealed[16].path.as_str()),
    ]
    .iter()
    .map(|(k, p)| (k.to_string(), p.to_string()))
    .collect();
    want.sort();
    assert_eq!(failures, want, "{}", out.stdout);
    assert_eq!(report["failures"], 6, "{}", out.stdout);

    // The human output names each kind on its own line.
    let out = run(
        &["verify", dir, "--public-keys", keys.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.code, 1, "{out:?}");
    for (kind, path) in &want {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(kind.as_str()) && l.contains(path.as_str())),
            "{kind}: {}",
            out.stdout
        );
    }
    std::fs::write(pulled.path().join("verify-output.txt"), &out.stdout).unwrap();
    if let Ok(keep) = std::env::var("TRAILSHARE_KEEP_ATTACKED_TREE") {
        // For the README and the aws-cli comparison: the pulled tree.
        let status = std::process::Command::new("cp")
            .args(["-a", dir, &keep])
            .status()
            .unwrap();
        assert!(status.success());
    }
}
