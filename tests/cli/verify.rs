//! A forwarded copy, pulled with its digests, verifies; one changed byte
//! does not.

use std::path::Path;

use aws_credential_types::provider::ProvideCredentials;
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::binary::run;
use stand_in::{config, s3, stand_in, unique, A, B};
use trailshare::aws::IamRoles;

use super::{pull, ADMIN_ARN};

/// Every file under `dir` as (relative path, bytes).
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((relative, std::fs::read(&path).expect("read file")));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_forwarded_copy_pulled_with_digests_verifies_and_a_changed_byte_does_not() {
    use trailshare::events::CreatedObject;
    use trailshare::integrity::testkit::{list_public_keys_json, TestKey as Signer, Trail};

    let aws = stand_in();
    let admin_a = aws.admin(A).await;
    let trail_bucket = aws.bucket(A, "signed-trail").await;
    // CloudTrail's files of B for three hours, each hour sealed by a signed
    // digest chained to the one before.
    let signer = Signer::generate();
    let written = tempfile::tempdir().unwrap();
    let mut trail = Trail::new(written.path(), &signer);
    trail.bucket = trail_bucket.clone();
    trail.account = B.to_string();
    trail.region = "us-east-1".to_string();
    // The window pulled ends 2026-03-04T00:00Z; the last digest in it ends
    // an hour before, so the chain is whole (the next lies on 03/04).
    trail.start = time::macros::datetime!(2026-03-03 21:01:31 UTC);
    for hour in 0..3 {
        trail.log_file(hour, 5).unwrap();
        trail.log_file(hour, 2).unwrap();
        trail.seal(hour).unwrap();
    }
    // Delivered as CloudTrail delivers: digests carry their signature in
    // the object's metadata.
    let files = files_under(written.path());
    let signatures: std::collections::HashMap<String, String> = files
        .iter()
        .filter_map(|(path, bytes)| {
            path.strip_suffix(".sig").map(|digest| {
                (
                    digest.to_string(),
                    String::from_utf8_lossy(bytes).trim().to_string(),
                )
            })
        })
        .collect();
    let a_s3 = s3(&admin_a);
    let mut keys = Vec::new();
    for (key, bytes) in files.iter().filter(|(p, _)| !p.ends_with(".sig")) {
        a_s3.put_object()
            .bucket(&trail_bucket)
            .key(key)
            .body(bytes.clone().into())
            .content_type("application/json")
            .content_encoding("gzip")
            .set_metadata(signatures.get(key).map(|sig| {
                [
                    ("signature".to_string(), sig.clone()),
                    ("signing-algorithm".to_string(), "SHA256withRSA".to_string()),
                ]
                .into()
            }))
            .send()
            .await
            .unwrap();
        keys.push(key.clone());
    }
    assert!(keys.len() >= 9, "{keys:?}");

    // A copy share for B, and the real forwarder delivering every file.
    let dest = aws.bucket(B, "b-copies").await;
    let config = config(&[
        ("TRAIL_BUCKET", trail_bucket.clone()),
        ("SHARE_ROLE_PATH", format!("/{}/", unique("verify"))),
        ("ADMIN_PRINCIPALS", ADMIN_ARN.to_string()),
    ]);
    let api = Provisioner::new(
        IamRoles::from_sdk(&admin_a),
        config.clone(),
        stand_in::share_key(),
    );
    let body = json!({"name": unique("b-copy"), "grantee_account": B,
        "delivery": {"mode": "copy", "bucket": dest, "prefix": "central/"}});
    let response = api
        .handle_event(stand_in::api_event("POST", "/shares", &body, ADMIN_ARN))
        .await;
    assert_eq!(response["statusCode"], 201, "{response}");
    let share: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let admin_b = aws.admin(B).await;
    s3(&admin_b)
        .put_bucket_policy()
        .bucket(&dest)
        .policy(share["grantee_setup"]["destination_bucket_policy"].to_string())
        .send()
        .await
        .unwrap();
    let forwarder = forwarder::Forwarder::new(
        IamRoles::from_sdk(&admin_a),
        trailshare::aws::S3Objects::new(&admin_a),
        config,
        stand_in::share_key(),
    );
    for key in &keys {
        let outcome = forwarder
            .process(&CreatedObject {
                bucket: trail_bucket.clone(),
                key: key.clone(),
                etag: None,
                size: None,
            })
            .await;
        assert!(
            matches!(outcome, forwarder::Outcome::Processed { .. }),
            "{key}: {outcome:?}"
        );
    }

    // B pulls its forwarded copies with its own credentials, digests and all.
    let b_keys = admin_b
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    let b_keys = (
        b_keys.access_key_id().to_string(),
        b_keys.secret_access_key().to_string(),
    );
    let pulled = tempfile::tempdir().unwrap();
    let out = pull(
        &b_keys,
        &aws.url,
        &[
            "--bucket",
            &dest,
            "--prefix",
            "central",
            "--accounts",
            B,
            "--regions",
            "us-east-1",
            "--since",
            "2026-03-01",
            "--until",
            "2026-03-03",
            "--digests",
            "--to",
            pulled.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");

    // The copy verifies, in-process and through the binary.
    let keys_json = list_public_keys_json(&[&signer]);
    let public_keys =
        trailshare::integrity::PublicKeys::from_list_public_keys_json(&keys_json).unwrap();
    let report = trailshare::integrity::verify_tree(
        pulled.path(),
        &public_keys,
        trailshare::integrity::VerifyOptions::default(),
    )
    .unwrap();
    assert!(report.passed(), "{report:?}");
    let keys_file = pulled.path().join("public-keys.json");
    std::fs::write(&keys_file, &keys_json).unwrap();
    let verify = |dir: &Path| {
        run(
            &[
                "verify",
                dir.to_str().unwrap(),
                "--public-keys",
                keys_file.to_str().unwrap(),
            ],
            &[],
        )
    };
    let ok = verify(pulled.path());
    assert_eq!(ok.code, 0, "{ok:?}");

    // One changed byte in one pulled log file is found.
    let (log, _) = files_under(pulled.path())
        .into_iter()
        .find(|(p, _)| p.contains("/CloudTrail/") && p.ends_with(".json.gz"))
        .expect("a pulled log file");
    let path = pulled.path().join(&log);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 9; // inside the deflate stream, before the gzip trailer
    bytes[last] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let bad = verify(pulled.path());
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(
        bad.stdout.contains(&log) || bad.stderr.contains(&log),
        "{bad:?}"
    );
}
