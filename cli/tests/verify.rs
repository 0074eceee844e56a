//! `trailshare verify` end to end: the built binary on a tree signed like
//! CloudTrail signs, with keys made here and read with `--public-keys`.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use trailshare::integrity::testkit::{gzip, list_public_keys_json, Sealed, TestKey, Trail};

struct Tree {
    dir: tempfile::TempDir,
    keys_file: std::path::PathBuf,
    digests: Vec<Sealed>,
    undigested: String,
}

/// Three hourly digests over nine log files, and one newer log file, under
/// a forwarded copy's prefix.
fn tree(key: &TestKey) -> Tree {
    let dir = tempfile::tempdir().unwrap();
    let mut trail = Trail::new(&dir.path().join("pulled"), key);
    trail.dir_prefix = "copies/".into();
    for hour in 0..3 {
        for n in 0..3 {
            trail.log_file(hour, 2 + n).unwrap();
        }
    }
    let digests = (0..3).map(|hour| trail.seal(hour).unwrap()).collect();
    let undigested = trail.log_file(3, 1).unwrap();
    let keys_file = dir.path().join("keys.json");
    fs::write(&keys_file, list_public_keys_json(&[key])).unwrap();
    Tree {
        dir,
        keys_file,
        digests,
        undigested,
    }
}

fn verify(tree: &Tree, extra: &[&str]) -> (Output, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_trailshare"))
        .arg("verify")
        .arg(tree.dir.path().join("pulled"))
        .arg("--public-keys")
        .arg(&tree.keys_file)
        .args(extra)
        // Offline: nothing may reach for credentials or the network.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    (output, stdout)
}

fn lines_of_kind<'a>(stdout: &'a str, kind: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .filter(|line| line.split_whitespace().next() == Some(kind))
        .collect()
}

#[test]
fn a_signed_tree_verifies_and_each_tampering_exits_1_with_its_line() {
    let key = TestKey::generate();
    let tree = tree(&key);

    let (output, stdout) = verify(&tree, &[]);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert_eq!(
        last,
        "3 of 3 digest files verified, 9 log files verified, 1 not covered by a digest yet: OK (not covered yet is not a failure without --strict)"
    );
    assert_eq!(
        lines_of_kind(&stdout, "not-covered"),
        vec![format!(
            "not-covered   {}: no digest lists it yet: it is newer than every digest here",
            tree.undigested
        )]
    );
    // Where the chain starts; and that, with no window, deleted digests at
    // its end cannot be seen.
    assert_eq!(lines_of_kind(&stdout, "note").len(), 2, "{stdout}");
    assert!(stdout.contains("note          no window"), "{stdout}");

    // --strict: the undigested file fails.
    let (output, stdout) = verify(&tree, &["--strict"]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.ends_with(": 1 problem(s)\n"), "{stdout}");

    // --json: the report, for scripts.
    let (output, stdout) = verify(&tree, &["--json"]);
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["failures"], 0);
    assert_eq!(json["counts"]["valid_log_files"], 9);
    assert_eq!(json["problems"][0]["kind"], "not-covered");

    // A modified log file.
    let pulled = tree.dir.path().join("pulled");
    let target = tree.digests[1].log_files[2].clone();
    let mut content =
        trailshare::integrity::gunzip_digest(&fs::read(pulled.join(&target)).unwrap()).unwrap();
    content.extend_from_slice(b" ");
    fs::write(pulled.join(&target), gzip(&content)).unwrap();
    let (output, stdout) = verify(&tree, &[]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let modified = lines_of_kind(&stdout, "modified");
    assert_eq!(modified.len(), 1, "{stdout}");
    assert!(modified[0].starts_with(&format!(
        "modified      {target}: SHA-256 of its uncompressed content is "
    )));
    assert!(stdout.ends_with("8 log files verified, 1 not covered by a digest yet: 1 problem(s) (not covered yet is not a failure without --strict)\n"), "{stdout}");

    // JSON names the same problem.
    let (output, stdout) = verify(&tree, &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["failures"], 1);
    assert!(json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["kind"] == "modified" && p["path"] == target.as_str()));
}

#[test]
fn keys_that_did_not_sign_the_digests_fail_every_digest_as_unknown_key() {
    let key = TestKey::generate();
    let stranger = TestKey::generate();
    let tree = tree(&key);
    fs::write(&tree.keys_file, list_public_keys_json(&[&stranger])).unwrap();
    let (output, stdout) = verify(&tree, &[]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_eq!(lines_of_kind(&stdout, "unknown-key").len(), 3, "{stdout}");
    assert!(stdout.contains(&key.fingerprint()));
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let key = TestKey::generate();
    let tree = tree(&key);
    // A key file that is not ListPublicKeys JSON.
    fs::write(&tree.keys_file, "{}").unwrap();
    let (output, _) = verify(&tree, &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("error: --public-keys "), "{stderr}");
    assert!(stderr.contains("list-public-keys"), "{stderr}");

    // A directory without digests verifies nothing: that is a failure.
    let empty = tempfile::tempdir().unwrap();
    fs::create_dir_all(empty.path().join("AWSLogs")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_trailshare"))
        .args(["verify", empty.path().to_str().unwrap(), "--public-keys"])
        .arg(&tree.keys_file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no CloudTrail digest files"), "{stderr}");

    // A directory that does not exist.
    let output = Command::new(env!("CARGO_BIN_EXE_trailshare"))
        .args(["verify", "/nonexistent/trailshare-verify"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("cannot read /nonexistent/trailshare-verify"));
}

/// Python's `cryptography`, reading the user guide on its own
/// (`tests/fixtures/integrity/crosscheck.py`), accepts the trees the testkit
/// signs and rejects a tampered one: the signatures `verify` accepts are
/// CloudTrail's documented SHA256withRSA over the documented string, not
/// just whatever this crate produces.
#[test]
fn an_independent_implementation_agrees_on_the_signed_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    let script = root.join("tests/fixtures/integrity/crosscheck.py");
    assert!(
        python.exists(),
        "{} (run scripts/setup.sh)",
        python.display()
    );
    let key = TestKey::generate();
    let tree = tree(&key);
    let crosscheck = || {
        Command::new(&python)
            .arg(&script)
            .arg(tree.dir.path().join("pulled"))
            .arg(&tree.keys_file)
            .output()
            .unwrap()
    };
    let output = crosscheck();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "valid digests 3, valid logs 9, bad 0\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0));
    // A changed signature fails there too.
    let sig = tree
        .dir
        .path()
        .join("pulled")
        .join(format!("{}.sig", tree.digests[0].path));
    let mut text = fs::read_to_string(&sig).unwrap();
    let last = if text.ends_with('0') { "1" } else { "0" };
    text.replace_range(text.len() - 1.., last);
    fs::write(&sig, text).unwrap();
    let output = crosscheck();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "valid digests 2, valid logs 6, bad 1\n"
    );
    assert_eq!(output.status.code(), Some(1));
}

/// Without `--public-keys`, verify asks CloudTrail's ListPublicKeys (through
/// the real SDK client) in the digests' region, for their time range, and
/// follows NextToken. moto has no ListPublicKeys, so a small HTTP server on
/// 127.0.0.1 answers as CloudTrail's JSON protocol does, two pages.
#[test]
fn without_a_key_file_verify_asks_list_public_keys_in_the_digests_region() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    let key = TestKey::generate();
    let stranger = TestKey::generate();
    let tree = tree(&key);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let entry = |k: &TestKey| {
        let listed: serde_json::Value = serde_json::from_str(&list_public_keys_json(&[k])).unwrap();
        let mut entry = listed["PublicKeyList"][0].clone();
        entry["ValidityStartTime"] = 1_772_000_000.into();
        entry["ValidityEndTime"] = 1_775_000_000.into();
        entry
    };
    let pages = [
        serde_json::json!({"PublicKeyList": [entry(&stranger)], "NextToken": "page-2"}),
        serde_json::json!({"PublicKeyList": [entry(&key)]}),
    ];
    let server = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for page in pages {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = Vec::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.trim_end().split_once(": ") {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.parse().unwrap();
                    }
                }
                head.push(line.trim_end().to_string());
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            requests.push((head, String::from_utf8(body).unwrap()));
            let body = page.to_string();
            write!(
                &stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
        requests
    });
    let output = Command::new(env!("CARGO_BIN_EXE_trailshare"))
        .arg("verify")
        .arg(tree.dir.path().join("pulled"))
        .args(["--region", "us-east-1"])
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("3 of 3 digest files verified"), "{stdout}");
    let requests = server.join().unwrap();
    assert_eq!(requests.len(), 2);
    for (head, _) in &requests {
        assert!(
            head.iter().any(|h| h
                .eq_ignore_ascii_case("x-amz-target: CloudTrail_20131101.ListPublicKeys")
                || h.to_ascii_lowercase().ends_with(".listpublickeys")),
            "{head:?}"
        );
        // Signed for the digests' region, not --region.
        assert!(
            head.iter()
                .any(|h| h.to_ascii_lowercase().starts_with("authorization:")
                    && h.contains("/eu-west-1/cloudtrail/aws4_request")),
            "{head:?}"
        );
    }
    // The digests span 09:01:31–12:01:31 on 2026-03-02: asked from an
    // hour before (08:01:31) to two after (14:01:31).
    let first: serde_json::Value = serde_json::from_str(&requests[0].1).unwrap();
    assert_eq!(
        first["StartTime"].as_f64(),
        Some(1_772_438_491.0),
        "{first}"
    );
    assert_eq!(first["EndTime"].as_f64(), Some(1_772_460_091.0), "{first}");
    assert!(first.get("NextToken").is_none());
    let second: serde_json::Value = serde_json::from_str(&requests[1].1).unwrap();
    assert_eq!(second["NextToken"], "page-2");
}
