//! What someone who can write the trail bucket or the copy can do to a
//! verified tree, each reported once with its kind.

use std::io::Write;

use super::*;

fn time(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

fn verify_with(fixture: &Fixture, window: Window, now: &str) -> Report {
    let options = VerifyOptions {
        window,
        now: Some(time(now)),
        ..VerifyOptions::default()
    };
    verify_tree(fixture.dir.path(), &trusted(), options).unwrap()
}

fn delete_digest(fixture: &Fixture, hour: usize) {
    let path = &fixture.digests[hour].path;
    fs::remove_file(fixture.path(path)).unwrap();
    fs::remove_file(fixture.path(&format!("{path}.sig"))).unwrap();
}

/// A copy of a real log file under another name in the same folder.
fn forge_log(fixture: &Fixture, stamp: &str) -> String {
    let real = &fixture.digests[0].log_files[0];
    let folder = real.rsplit_once('/').unwrap().0;
    let forged =
        format!("{folder}/222222222222_CloudTrail_eu-west-1_{stamp}_F0F0F0F0F0F0F0F0.json.gz");
    fs::copy(fixture.path(real), fixture.path(&forged)).unwrap();
    forged
}

#[test]
fn a_forged_log_file_inside_the_verified_span_is_unlisted() {
    for stamp in ["20260302T1030Z", "20190101T0000Z"] {
        let fixture = build();
        let forged = forge_log(&fixture, stamp);
        let report = fixture.verify();
        assert_eq!(
            failures(&report),
            vec![(ProblemKind::Unlisted, forged.clone())],
            "{report:#?}"
        );
        assert!(report
            .problems
            .iter()
            .any(|p| p.detail.contains("starts later")));
        // The file delivered after the newest digest is still only not
        // covered yet.
        assert_eq!(report.counts.not_covered, 1);
    }
    // Named after every digest's start: not covered yet, a failure only
    // when strict.
    let fixture = build();
    let late = forge_log(&fixture, "20260302T1330Z");
    let report = fixture.verify();
    assert_eq!(failures(&report), vec![]);
    assert!(report
        .problems
        .iter()
        .any(|p| p.path == late && p.kind == ProblemKind::NotCovered));
}

#[test]
fn two_consecutive_deleted_digests_are_one_missing_digest_naming_their_hours() {
    let fixture = build();
    delete_digest(&fixture, 1);
    delete_digest(&fixture, 2);
    let report = fixture.verify();
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::MissingDigest, fixture.digests[2].path.clone())],
        "{report:#?}"
    );
    let detail = &report.problems[0].detail;
    assert!(
        detail.contains("2026-03-02T10:01:31Z to 2026-03-02T12:01:31Z (2 h"),
        "{detail}"
    );
    assert!(
        detail.ends_with("4 log file(s) in those hours cannot be verified"),
        "{detail}"
    );
    assert_eq!(report.counts.unverified_log_files, LOGS_PER_HOUR);
}

#[test]
fn deleted_digests_at_the_end_are_truncated_against_the_window() {
    let window = Window {
        start: Some(time("2026-03-02T00:00:00Z")),
        end: Some(time("2026-03-02T15:00:00Z")),
    };
    let later = "2026-12-01T00:00:00Z";
    // Whole: the newest digest ends 14:01:31, within two hours of the end.
    let fixture = build();
    let report = verify_with(&fixture, window, later);
    assert_eq!(failures(&report), vec![], "{report:#?}");

    delete_digest(&fixture, 3);
    delete_digest(&fixture, 4);
    let report = verify_with(&fixture, window, later);
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::Truncated, fixture.digests[2].path.clone())],
        "{report:#?}"
    );
    let detail = &report.problems[0].detail;
    assert!(
        detail.contains("ends at 2026-03-02T12:01:31Z, 3 h before the window's end"),
        "{detail}"
    );
    // Hour 3's and 4's log files and the undigested one are counted there.
    assert!(
        detail.ends_with("9 log file(s) in those hours cannot be verified"),
        "{detail}"
    );
    assert_eq!(report.counts.not_covered, 0);

    // Against "now" when the window ends later: 13:30 is not two hours on.
    let report = verify_with(&fixture, window, "2026-03-02T13:30:00Z");
    assert_eq!(failures(&report), vec![], "{report:#?}");
    // Without a window nothing tells deleted from not delivered yet.
    assert_eq!(failures(&fixture.verify()), vec![]);
}

#[test]
fn the_first_digests_deleted_inside_the_window_are_missing() {
    let fixture = build();
    delete_digest(&fixture, 0);
    delete_digest(&fixture, 1);
    // Digest 2 names digest 1, which ends after the window starts.
    let window = Window {
        start: Some(time("2026-03-02T00:00:00Z")),
        end: None,
    };
    let report = verify_with(&fixture, window, "2026-12-01T00:00:00Z");
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::MissingDigest, fixture.digests[1].path.clone())],
        "{report:#?}"
    );
    // A window starting after digest 1's end: the chain starts before the
    // window, a note.
    let window = Window {
        start: Some(time("2026-03-02T11:30:00Z")),
        end: None,
    };
    let report = verify_with(&fixture, window, "2026-12-01T00:00:00Z");
    assert_eq!(failures(&report), vec![], "{report:#?}");
    assert!(report
        .notes
        .iter()
        .any(|n| n.detail.contains("before the window")));
}

#[test]
fn a_gzip_bomb_or_a_huge_file_as_a_digest_is_malformed_once() {
    let fixture = build();
    let target = fixture.path(&fixture.digests[2].path);
    // A JSON object opened, then 100 MiB of spaces, in about 100 KiB of
    // gzip: valid JSON as far as any parser reads.
    let mut encoder = flate2::write::GzEncoder::new(
        fs::File::create(&target).unwrap(),
        flate2::Compression::best(),
    );
    encoder.write_all(b"{").unwrap();
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..100 {
        encoder.write_all(&spaces).unwrap();
    }
    encoder.finish().unwrap();
    assert!(fs::metadata(&target).unwrap().len() < 1 << 20);
    let report = fixture.verify();
    assert_eq!(
        failures(&report),
        vec![(ProblemKind::Malformed, fixture.digests[2].path.clone())],
        "{report:#?}"
    );
    assert!(report.problems[0]
        .detail
        .contains("larger than any digest file when uncompressed"));

    // A 1 GiB "digest" (sparse): refused by its size, before reading.
    let huge = fs::File::create(fixture.path(&fixture.digests[3].path)).unwrap();
    huge.set_len(1 << 30).unwrap();
    let report = fixture.verify();
    let malformed: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::Malformed)
        .collect();
    assert_eq!(malformed.len(), 2, "{report:#?}");
    assert!(malformed
        .iter()
        .any(|p| p.detail.contains("1073741824 bytes compressed")));
    assert_eq!(failures(&report).len(), 2, "{report:#?}");
}

#[test]
fn a_restarted_chain_is_a_note_naming_the_gap_and_its_files_are_not_covered() {
    let dir = tempfile::tempdir().unwrap();
    let mut trail = Trail::new(dir.path(), &keys().0);
    for hour in 0..5 {
        trail.log_file(hour, 2).unwrap();
    }
    trail.seal(0).unwrap();
    trail.seal(1).unwrap();
    // Validation off for hours 2 and 3: no digest, their files never listed.
    trail.previous = None;
    let restart = trail.seal(4).unwrap();
    let options = VerifyOptions::default();
    let report = verify_tree(dir.path(), &trusted(), options).unwrap();
    assert_eq!(failures(&report), vec![], "{report:#?}");
    let note = report
        .notes
        .iter()
        .find(|n| n.path == restart.path)
        .expect("a note");
    assert!(
        note.detail
            .contains("no digest from 2026-03-02T11:01:31Z to 2026-03-02T13:01:31Z (2 h)"),
        "{}",
        note.detail
    );
    assert_eq!(report.counts.not_covered, 2);
    let strict = VerifyOptions {
        strict: true,
        ..options
    };
    let report = verify_tree(dir.path(), &trusted(), strict).unwrap();
    assert_eq!(failures(&report).len(), 2);
}

#[test]
fn a_log_file_a_backfill_digest_lists_is_listed() {
    let fixture = build();
    let forged = forge_log(&fixture, "20260302T1030Z");
    let content = gunzip_digest(&fs::read(fixture.path(&forged)).unwrap()).unwrap();
    let backfill = "AWSLogs/222222222222/CloudTrail-Digest/eu-west-1/2026/03/02/222222222222_CloudTrail-Digest_eu-west-1_org-trail_eu-west-1_20260302T120131Z_backfill.json.gz";
    let entry = LogFileEntry {
        s3_bucket: "central-trail-logs".into(),
        s3_object: forged.clone(),
        hash_value: sha256_hex(&content),
        hash_algorithm: HASH_ALGORITHM.into(),
    };
    write_signed(
        fixture.dir.path(),
        &hand_digest(backfill, vec![entry]),
        &keys().0,
    );
    let report = fixture.verify();
    assert_eq!(failures(&report), vec![], "{report:#?}");
    assert_eq!(report.counts.valid_log_files, fixture.log_count() + 1);
}
