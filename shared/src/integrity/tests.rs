//! Validation of trees signed like CloudTrail signs them, with keys made
//! here; each tampering is reported once, with its kind.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use super::testkit::{gzip, list_public_keys_json, Sealed, TestKey, Trail};
use super::*;
use time::format_description::well_known::Rfc3339;

/// Key generation is the slow part: two keys for the whole test binary.
fn keys() -> &'static (TestKey, TestKey) {
    static KEYS: OnceLock<(TestKey, TestKey)> = OnceLock::new();
    KEYS.get_or_init(|| (TestKey::generate(), TestKey::generate()))
}

fn trusted() -> PublicKeys {
    PublicKeys::from_list_public_keys_json(&list_public_keys_json(&[&keys().0])).unwrap()
}

const HOURS: usize = 5;
const LOGS_PER_HOUR: usize = 4;
/// Hour 2 delivered no log file: its digest lists none.
const EMPTY_HOUR: usize = 2;

struct Fixture {
    dir: tempfile::TempDir,
    digests: Vec<Sealed>,
    /// Delivered after the last digest.
    undigested: String,
}

impl Fixture {
    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }

    fn verify(&self) -> Report {
        verify_tree(self.dir.path(), &trusted(), VerifyOptions::default()).unwrap()
    }

    fn log_count(&self) -> usize {
        self.digests.iter().map(|d| d.log_files.len()).sum()
    }
}

/// Five hourly digests over 16 log files (one empty hour), then one more
/// log file not yet digested. Hours are sealed in `order`.
fn build_in_order(prefix: &str, order: &[usize]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut trail = Trail::new(dir.path(), &keys().0);
    trail.dir_prefix = prefix.to_string();
    for hour in 0..HOURS {
        if hour != EMPTY_HOUR {
            for n in 0..LOGS_PER_HOUR {
                trail.log_file(hour, 3 + n).unwrap();
            }
        }
    }
    let mut digests: Vec<Option<Sealed>> = vec![None; HOURS];
    for &hour in order {
        digests[hour] = Some(trail.seal(hour).unwrap());
    }
    let undigested = trail.log_file(HOURS, 2).unwrap();
    Fixture {
        dir,
        digests: digests.into_iter().map(Option::unwrap).collect(),
        undigested,
    }
}

fn build() -> Fixture {
    build_in_order("", &[0, 1, 2, 3, 4])
}

/// The failures of a report, as (kind, path).
fn failures(report: &Report) -> Vec<(ProblemKind, String)> {
    report
        .problems
        .iter()
        .filter(|p| report.is_failure(p))
        .map(|p| (p.kind, p.path.clone()))
        .collect()
}

fn rewrite_gzip(path: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut content = gunzip_digest(&fs::read(path).unwrap()).unwrap();
    edit(&mut content);
    fs::write(path, gzip(&content)).unwrap();
}

#[test]
fn a_chain_of_digests_over_many_log_files_validates() {
    let fixture = build();
    let report = fixture.verify();
    assert_eq!(failures(&report), vec![], "{report:#?}");
    assert!(report.passed());
    assert_eq!(
        report.counts,
        Counts {
            digests: HOURS,
            valid_digests: HOURS,
            valid_log_files: (HOURS - 1) * LOGS_PER_HOUR,
            unverified_log_files: 0,
            not_covered: 1,
            before_window: 0,
        }
    );
    assert_eq!(fixture.log_count(), (HOURS - 1) * LOGS_PER_HOUR);
    assert!(fixture.digests[EMPTY_HOUR].log_files.is_empty());
    // The starting digest is a note, not a problem.
    assert_eq!(report.notes.len(), 1);
    assert_eq!(report.notes[0].path, fixture.digests[0].path);
    assert!(report.notes[0].detail.contains("previous digest is null"));
    // The undigested file is reported, and fails only when strict.
    assert_eq!(
        report.problems,
        vec![Problem {
            kind: ProblemKind::NotCovered,
            path: fixture.undigested.clone(),
            detail: report.problems[0].detail.clone(),
        }]
    );
    let strict = verify_tree(
        fixture.dir.path(),
        &trusted(),
        VerifyOptions {
            strict: true,
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        failures(&strict),
        vec![(ProblemKind::NotCovered, fixture.undigested.clone())]
    );
    assert!(
        strict.summary().ends_with("1 problem(s)"),
        "{}",
        strict.summary()
    );
    assert!(report.summary().ends_with(": OK"), "{}", report.summary());
}

#[test]
fn a_forwarded_copy_under_a_prefix_validates() {
    let fixture = build_in_order("central/copies-", &[0, 1, 2, 3, 4]);
    assert!(fixture.digests[1]
        .path
        .starts_with("central/copies-AWSLogs/"));
    let report = fixture.verify();
    assert_eq!(failures(&report), vec![], "{report:#?}");
    assert_eq!(report.counts.valid_log_files, fixture.log_count());
}

#[test]
fn a_modified_byte_in_a_log_file_is_reported_once() {
    let fixture = build();
    let target = fixture.digests[3].log_files[1].clone();
    // A byte of the uncompressed events, recompressed (the hash check) ...
    rewrite_gzip(&fixture.path(&target), |content| {
        let at = content.iter().position(|&b| b == b'7').unwrap();
        content[at] = b'8';
    });
    let report = fixture.verify();
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::Modified, target.clone())]
    );
    assert!(report.problems.iter().any(|p| p.detail.contains("SHA-256")));
    // ... and a byte of the gzip file itself (the CRC or the inflater).
    let fixture = build();
    let target = fixture.digests[0].log_files[0].clone();
    let mut bytes = fs::read(fixture.path(&target)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(fixture.path(&target), bytes).unwrap();
    assert_eq!(
        failures(&fixture.verify()),
        vec![(ProblemKind::Modified, target)]
    );
}

#[test]
fn a_deleted_log_file_is_reported_once() {
    let fixture = build();
    let target = fixture.digests[4].log_files[3].clone();
    fs::remove_file(fixture.path(&target)).unwrap();
    let report = fixture.verify();
    assert_eq!(failures(&report), vec![(ProblemKind::Missing, target)]);
    assert_eq!(report.counts.valid_log_files, fixture.log_count() - 1);
}

#[test]
fn a_modified_digest_is_reported_once() {
    let fixture = build();
    let digest = &fixture.digests[3];
    // Hide a modified log file by rewriting its hash in the digest.
    let hidden = digest.log_files[0].clone();
    rewrite_gzip(&fixture.path(&hidden), |content| content.push(b'\n'));
    rewrite_gzip(&fixture.path(&digest.path), |content| {
        let text = String::from_utf8(content.clone()).unwrap();
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let new_hash =
            sha256_hex(&gunzip_digest(&fs::read(fixture.path(&hidden)).unwrap()).unwrap());
        json["logFiles"][0]["hashValue"] = new_hash.into();
        *content = serde_json::to_vec(&json).unwrap();
    });
    let report = fixture.verify();
    // Neither the successor's link nor the listed files add problems.
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::BadSignature, digest.path.clone())],
        "{report:#?}"
    );
    assert_eq!(report.counts.unverified_log_files, LOGS_PER_HOUR);
    assert_eq!(report.counts.valid_digests, HOURS - 1);
}

#[test]
fn a_digest_whose_gzip_is_damaged_is_malformed_once() {
    let fixture = build();
    let digest = &fixture.digests[1];
    let mut bytes = fs::read(fixture.path(&digest.path)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    fs::write(fixture.path(&digest.path), bytes).unwrap();
    assert_eq!(
        failures(&fixture.verify()),
        vec![(ProblemKind::Malformed, digest.path.clone())]
    );
}

#[test]
fn a_signature_from_another_key_is_reported_once() {
    let (trail_key, other) = keys();
    // Another key's signature in the .sig of a digest naming the trail's key.
    let fixture = build();
    let digest = &fixture.digests[2];
    let text = {
        let raw = gunzip_digest(&fs::read(fixture.path(&digest.path)).unwrap()).unwrap();
        let file: DigestFile = serde_json::from_slice(&raw).unwrap();
        file.signing_string(&sha256_hex(&raw))
    };
    // The string is right: the trail's key verifies its own signature of it.
    assert_eq!(trail_key.sign_hex(&text), digest.signature);
    fs::write(
        fixture.path(&format!("{}.sig", digest.path)),
        other.sign_hex(&text),
    )
    .unwrap();
    assert_eq!(
        failures(&fixture.verify()),
        vec![(ProblemKind::BadSignature, digest.path.clone())]
    );

    // A digest signed by, and naming, a key CloudTrail does not publish.
    let dir = tempfile::tempdir().unwrap();
    let mut trail = Trail::new(dir.path(), trail_key);
    for hour in 0..3 {
        trail.log_file(hour, 2).unwrap();
    }
    trail.seal(0).unwrap();
    let forged = trail.seal_with(1, other).unwrap();
    trail.seal(2).unwrap();
    let report = verify_tree(dir.path(), &trusted(), VerifyOptions::default()).unwrap();
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::UnknownKey, forged.path)]
    );
    assert!(report.problems[0].detail.contains(&other.fingerprint()));
}

#[test]
fn a_missing_middle_digest_is_reported_once() {
    let fixture = build();
    let gone = &fixture.digests[2];
    fs::remove_file(fixture.path(&gone.path)).unwrap();
    fs::remove_file(fixture.path(&format!("{}.sig", gone.path))).unwrap();
    let report = fixture.verify();
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::MissingDigest, gone.path.clone())]
    );
    assert!(report
        .problems
        .iter()
        .any(|p| p.detail.contains(&fixture.digests[3].path)));

    // Its log files are counted against it (unverifiable), not reported
    // again as unlisted or not covered.
    let fixture = build();
    let gone = &fixture.digests[1];
    fs::remove_file(fixture.path(&gone.path)).unwrap();
    let report = fixture.verify();
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::MissingDigest, gone.path.clone())]
    );
    assert_eq!(report.counts.unverified_log_files, LOGS_PER_HOUR);
    assert_eq!(report.counts.not_covered, 1);
    assert!(
        report.problems[0]
            .detail
            .contains("2026-03-02T10:01:31Z to 2026-03-02T11:01:31Z (1 h"),
        "{}",
        report.problems[0].detail
    );
    assert!(report.problems[0]
        .detail
        .ends_with("4 log file(s) in those hours cannot be verified"));
}

#[test]
fn the_earliest_digest_may_chain_to_one_before_the_window() {
    let fixture = build();
    let first = &fixture.digests[0];
    fs::remove_file(fixture.path(&first.path)).unwrap();
    fs::remove_file(fixture.path(&format!("{}.sig", first.path))).unwrap();
    for log in &first.log_files {
        fs::remove_file(fixture.path(log)).unwrap();
    }
    let report = fixture.verify();
    assert_eq!(failures(&report), vec![], "{report:#?}");
    assert_eq!(report.notes.len(), 1);
    assert_eq!(report.notes[0].path, fixture.digests[1].path);
    assert!(report.notes[0].detail.contains("lies before it"));
}

#[test]
fn a_reordered_chain_is_reported_once() {
    // Hour 2's digest chained before hour 1's: each signature is valid, the
    // order is not.
    let fixture = build_in_order("", &[0, 2, 1, 3, 4]);
    let report = fixture.verify();
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::BrokenChain, fixture.digests[1].path.clone())],
        "{report:#?}"
    );
    assert!(report.problems[0].detail.contains("out of order"));
}

#[test]
fn swapped_digests_are_each_misplaced() {
    let fixture = build();
    let (a, b) = (&fixture.digests[1].path, &fixture.digests[3].path);
    for suffix in ["", ".sig"] {
        let (pa, pb) = (
            fixture.path(&format!("{a}{suffix}")),
            fixture.path(&format!("{b}{suffix}")),
        );
        let (da, db) = (fs::read(&pa).unwrap(), fs::read(&pb).unwrap());
        fs::write(&pa, db).unwrap();
        fs::write(&pb, da).unwrap();
    }
    let report = fixture.verify();
    let mut expected = vec![
        (ProblemKind::Misplaced, a.clone()),
        (ProblemKind::Misplaced, b.clone()),
    ];
    expected.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!(failures(&report), expected, "{report:#?}");
}

#[test]
fn a_digest_without_its_signature_is_unsigned_once() {
    let fixture = build();
    let digest = &fixture.digests[4];
    fs::remove_file(fixture.path(&format!("{}.sig", digest.path))).unwrap();
    assert_eq!(
        failures(&fixture.verify()),
        vec![(ProblemKind::Unsigned, digest.path.clone())]
    );
}

#[test]
fn a_forked_chain_is_reported_once() {
    // Two trails' worth of digests cannot fork; a re-sealed hour can: hour
    // 3 sealed twice under different names would need the key, so build it.
    let dir = tempfile::tempdir().unwrap();
    let mut trail = Trail::new(dir.path(), &keys().0);
    trail.seal(0).unwrap();
    let first = trail.seal(1).unwrap();
    trail.seal(2).unwrap();
    // Hour 3's digest chained to hour 1 again, skipping hour 2.
    trail.previous = Some(first);
    let fork = trail.seal(3).unwrap();
    let report = verify_tree(dir.path(), &trusted(), VerifyOptions::default()).unwrap();
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::BrokenChain, fork.path)]
    );
    assert!(report.problems[0].detail.contains("forks"));
}

#[test]
fn key_ranges_cover_each_regions_digests() {
    let fixture = build();
    let tree = Tree::scan(fixture.dir.path()).unwrap();
    assert_eq!(tree.digest_count(), HOURS);
    let ranges = tree.key_ranges();
    assert_eq!(ranges.len(), 1);
    assert_eq!(ranges[0].region, "eu-west-1");
    assert_eq!(
        ranges[0].start,
        OffsetDateTime::parse("2026-03-02T08:01:31Z", &Rfc3339).unwrap()
    );
    assert_eq!(
        ranges[0].end,
        OffsetDateTime::parse("2026-03-02T16:01:31Z", &Rfc3339).unwrap()
    );
}

#[test]
fn the_signing_string_is_the_documented_one() {
    let raw = br#"{"awsAccountId":"111122223333","digestStartTime":"2015-08-12T03:01:31Z","digestEndTime":"2015-08-12T04:01:31Z","digestS3Bucket":"S3-bucket-name","digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/12/111122223333_CloudTrail-Digest_us-east-2_t_us-east-2_20150812T040131Z.json.gz","digestPublicKeyFingerprint":"31e8b5433410dfb61a9dc45cc65b22ff","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,"previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null,"logFiles":[]}"#;
    let file: DigestFile = serde_json::from_slice(raw).unwrap();
    let hash = sha256_hex(raw);
    assert_eq!(
        file.signing_string(&hash),
        format!("2015-08-12T04:01:31Z\nS3-bucket-name/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/12/111122223333_CloudTrail-Digest_us-east-2_t_us-east-2_20150812T040131Z.json.gz\n{hash}\nnull")
    );
}

#[test]
fn the_user_guides_public_keys_load_and_their_fingerprints_are_md5() {
    let json = include_str!("../../../tests/fixtures/integrity/list-public-keys-userguide.json");
    let keys = PublicKeys::from_list_public_keys_json(json).unwrap();
    assert_eq!(keys.len(), 3);
    for fingerprint in [
        "8eba5db5bea9b640d1c96a77256fe7f2",
        "8933b39ddc64d26d8e14ffbf6566fee4",
        "31e8b5433410dfb61a9dc45cc65b22ff",
    ] {
        assert!(keys.get(fingerprint).is_some(), "{fingerprint}");
    }
    // A list whose fingerprint does not name its key is refused.
    let wrong = json.replace(
        "8eba5db5bea9b640d1c96a77256fe7f2",
        "8eba5db5bea9b640d1c96a77256fe7f3",
    );
    assert!(matches!(
        PublicKeys::from_list_public_keys_json(&wrong),
        Err(KeysError::FingerprintMismatch { .. })
    ));
    assert!(matches!(
        PublicKeys::from_list_public_keys_json(
            r#"{"PublicKeyList": [{"Value": "!!", "Fingerprint": "x"}]}"#
        ),
        Err(KeysError::NotBase64 { index: 0, .. })
    ));
    assert!(matches!(
        PublicKeys::from_list_public_keys_json("[]"),
        Err(KeysError::NotAKeyList(_))
    ));
    // MD5 of bytes that are not a key: the fingerprint matches, the key not.
    let junk = b"not a key";
    let mut keys = PublicKeys::default();
    assert!(matches!(
        keys.insert_der(&fingerprint(junk), junk),
        Err(KeysError::NotRsa { .. })
    ));
}

#[test]
fn files_outside_cloudtrails_layout_are_ignored() {
    let fixture = build();
    fs::write(fixture.path("notes.txt"), "hello").unwrap();
    fs::create_dir_all(fixture.path("AWSLogs/elsewhere")).unwrap();
    fs::write(fixture.path("AWSLogs/elsewhere/x.json.gz"), gzip(b"{}")).unwrap();
    let report = fixture.verify();
    assert_eq!(failures(&report), vec![]);
    assert_eq!(report.counts.not_covered, 1);
}

/// Writes a digest by hand, signed with `key`, and its `.sig`.
fn write_signed(root: &Path, file: &DigestFile, key: &TestKey) {
    let content = serde_json::to_vec(file).unwrap();
    let path = root.join(&file.digest_s3_object);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, gzip(&content)).unwrap();
    let signature = key.sign_hex(&file.signing_string(&sha256_hex(&content)));
    fs::write(format!("{}.sig", path.display()), signature).unwrap();
}

fn hand_digest(object: &str, logs: Vec<LogFileEntry>) -> DigestFile {
    DigestFile {
        aws_account_id: "222222222222".into(),
        digest_start_time: "2026-03-02T09:01:31Z".into(),
        digest_end_time: "2026-03-02T10:01:31Z".into(),
        digest_s3_bucket: "central-trail-logs".into(),
        digest_s3_object: object.into(),
        digest_public_key_fingerprint: keys().0.fingerprint(),
        digest_signature_algorithm: SIGNATURE_ALGORITHM.into(),
        previous_digest_s3_bucket: None,
        previous_digest_s3_object: None,
        previous_digest_hash_value: None,
        previous_digest_hash_algorithm: None,
        previous_digest_signature: None,
        log_files: logs,
    }
}

#[test]
fn a_signed_digest_cannot_send_verify_outside_the_directory() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("pulled");
    let content = br#"{"Records":[]}"#;
    fs::write(parent.path().join("outside.json.gz"), gzip(content)).unwrap();
    let object = "AWSLogs/222222222222/CloudTrail-Digest/eu-west-1/2026/03/02/222222222222_CloudTrail-Digest_eu-west-1_t_eu-west-1_20260302T100131Z.json.gz";
    let climbing = "AWSLogs/../../outside.json.gz";
    write_signed(
        &root,
        &hand_digest(
            object,
            vec![LogFileEntry {
                s3_bucket: "central-trail-logs".into(),
                s3_object: climbing.into(),
                hash_value: sha256_hex(content),
                hash_algorithm: HASH_ALGORITHM.into(),
            }],
        ),
        &keys().0,
    );
    let report = verify_tree(&root, &trusted(), VerifyOptions::default()).unwrap();
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::Malformed, climbing.to_string())]
    );
    assert_eq!(report.counts.valid_log_files, 0);
}

#[test]
fn backfill_digests_chain_apart_and_ask_for_keys_up_to_now() {
    let dir = tempfile::tempdir().unwrap();
    let standard = "AWSLogs/222222222222/CloudTrail-Digest/eu-west-1/2026/03/02/222222222222_CloudTrail-Digest_eu-west-1_t_eu-west-1_20260302T100131Z.json.gz";
    let backfill = "AWSLogs/222222222222/CloudTrail-Digest/eu-west-1/2026/03/02/222222222222_CloudTrail-Digest_eu-west-1_t_eu-west-1_20260302T100131Z_backfill.json.gz";
    write_signed(dir.path(), &hand_digest(standard, vec![]), &keys().0);
    write_signed(dir.path(), &hand_digest(backfill, vec![]), &keys().0);
    let tree = Tree::scan(dir.path()).unwrap();
    let report = tree.verify(&trusted(), VerifyOptions::default());
    // Two chains, each starting here: no fork, no problem.
    assert_eq!(failures(&report), vec![]);
    assert_eq!(report.notes.len(), 2);
    let ranges = tree.key_ranges();
    assert_eq!(ranges.len(), 1);
    assert!(ranges[0].end > OffsetDateTime::now_utc());
    // Without the backfill digest, the range ends two hours after the digest.
    fs::remove_file(dir.path().join(backfill)).unwrap();
    let ranges = Tree::scan(dir.path()).unwrap().key_ranges();
    assert_eq!(
        ranges[0].end,
        OffsetDateTime::parse("2026-03-02T12:01:31Z", &Rfc3339).unwrap()
    );
}

#[test]
fn offline_a_digest_without_its_sig_takes_the_signature_its_successor_names() {
    let fixture = build();
    for digest in &fixture.digests[..HOURS - 1] {
        fs::remove_file(fixture.path(&format!("{}.sig", digest.path))).unwrap();
    }
    let report = fixture.verify();
    assert_eq!(failures(&report), vec![], "{report:#?}");
    assert_eq!(report.counts.valid_digests, HOURS);
    assert_eq!(report.counts.valid_log_files, fixture.log_count());

    // A modified digest is caught by the signature its successor names.
    let digest = &fixture.digests[1];
    rewrite_gzip(&fixture.path(&digest.path), |content| content.push(b' '));
    let report = fixture.verify();
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::BadSignature, digest.path.clone())]
    );
    assert!(report
        .problems
        .iter()
        .any(|p| p.detail.contains("previousDigestSignature")));

    // Its predecessor, unsigned, is not verifiable: a note, not a problem.
    assert!(report
        .notes
        .iter()
        .any(|n| n.path == fixture.digests[0].path && n.detail.starts_with("not verifiable")));

    // Without any .sig nothing can be verified; the newest digest's missing
    // .sig is the one cause, the others are notes.
    fs::remove_file(fixture.path(&format!("{}.sig", fixture.digests[HOURS - 1].path))).unwrap();
    rewrite_gzip(&fixture.path(&digest.path), |content| {
        content.pop();
    });
    let report = fixture.verify();
    assert_eq!(report.counts.valid_digests, 0);
    assert_eq!(
        failures(&report),
        vec![(
            ProblemKind::Unsigned,
            fixture.digests[HOURS - 1].path.clone()
        )]
    );
    assert_eq!(report.notes.len(), HOURS - 1);
    assert_eq!(report.counts.unverified_log_files, fixture.log_count());
}

/// Forged, deleted and truncated logs, bombs, restarts and windows.
#[path = "attacks.rs"]
mod attacks;
