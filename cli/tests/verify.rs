//! `trailshare verify` end to end: the built binary on a tree signed like
//! CloudTrail signs, with keys made here and read with `--public-keys`.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use domain::integrity::testkit::{gzip, list_public_keys_json, Sealed, TestKey, Trail};

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
        "3 of 3 digest files verified, 9 log files verified, 1 not covered by a digest: OK (not covered is not a failure without --strict)"
    );
    assert_eq!(
        lines_of_kind(&stdout, "not-covered"),
        vec![format!(
            "not-covered   {}: no digest file in the directory lists it (delivered after the newest digest, or its digest is not here)",
            tree.undigested
        )]
    );
    assert_eq!(lines_of_kind(&stdout, "note").len(), 1, "{stdout}");

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
        domain::integrity::gunzip_digest(&fs::read(pulled.join(&target)).unwrap()).unwrap();
    content.extend_from_slice(b" ");
    fs::write(pulled.join(&target), gzip(&content)).unwrap();
    let (output, stdout) = verify(&tree, &[]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let modified = lines_of_kind(&stdout, "modified");
    assert_eq!(modified.len(), 1, "{stdout}");
    assert!(modified[0].starts_with(&format!(
        "modified      {target}: SHA-256 of its uncompressed content is "
    )));
    assert!(stdout.ends_with("8 log files verified, 1 not covered by a digest: 1 problem(s) (not covered is not a failure without --strict)\n"), "{stdout}");

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
