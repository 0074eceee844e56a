//! Log file integrity: checks CloudTrail log files against CloudTrail's
//! signed digest files wherever the files now lie — a forwarded copy, a
//! download — which `aws cloudtrail validate-logs` cannot (it reads only the
//! trail's own bucket).
//!
//! A directory holds files at their S3 keys (`<DIR>/<key>`, what `trailshare
//! pull` writes), possibly under a prefix (a forwarded copy's
//! `<delivery prefix><original key>`), and each digest's S3 metadata
//! `signature` beside it in `<digest file>.sig` (hex).
//!
//! Validation follows the user guide's custom validation exactly:
//! - A digest's own bucket and key come from its `digestS3Bucket` and
//!   `digestS3Object` fields: they are part of the signed string, so they
//!   cannot be altered, and the digest must lie at `<prefix><digestS3Object>`
//!   (a digest moved to another digest's place is "misplaced"). Its log files
//!   and previous digest are then looked for under the same prefix.
//! - The signature is SHA256withRSA (PKCS#1 v1.5) over
//!   `digestEndTime\n<bucket>/<key>\n<hex SHA-256 of the uncompressed
//!   digest>\n<previousDigestSignature or "null">`, with the key whose MD5
//!   fingerprint is `digestPublicKeyFingerprint`.
//! - Each listed log file's SHA-256 is taken over its uncompressed content.
//! - The chain: each digest's `previousDigestSignature` and
//!   `previousDigestHashValue` (SHA-256 of the uncompressed previous digest)
//!   must match the previous digest in the directory, which must end no
//!   later than this one starts, and no digest may be the previous of two.
//!   A digest whose previous fields are null starts a chain (validation was
//!   started or restarted): a note naming the gap. The earliest digest of a
//!   trail in the directory may name a previous digest before the window (a
//!   note); any other absent previous digest was deleted (`missing-digest`,
//!   naming the hours, however many were deleted in a row). Deleted digests
//!   at a chain's end show only in time: `truncated` (see `chains`).
//! - A log file no digest lists is `unlisted` (forged, or replaced under a
//!   new name) when a verified digest of its account and region starts
//!   after the time in its name; newer ones are only not covered yet.
//!
//! - Offline, as the user guide suggests, a digest without its `.sig` is
//!   verified with the signature its verified successor names in
//!   `previousDigestSignature`; only the newest digest needs its `.sig`.
//!
//! Each problem is reported once, at its cause: the log files of a digest
//! that fails its own check are not reported again (they are counted as
//! unverified), and a broken digest does not also break its successor's link.

mod chains;
mod digest;
mod keys;
mod logs;
mod report;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
#[cfg(test)]
mod tests;
mod walk;

use std::collections::HashMap;
use std::io;
use std::path::Path;

use time::OffsetDateTime;

pub use digest::{
    for_each_log_file, gunzip_digest, gunzip_sha256_hex, parse_head, read_digest, sha256_hex,
    signature_is_valid, DigestFile, DigestHead, LogFileEntry, HASH_ALGORITHM, MAX_DIGEST_BYTES,
    MAX_DIGEST_GZ_BYTES, SIGNATURE_ALGORITHM,
};
pub use keys::{fingerprint, KeysError, PublicKeys};
pub use report::{Counts, Note, Problem, ProblemKind, Report, VerifyOptions, Window, PULL_RECORD};
pub use walk::Tree;

/// The time range a region's public keys must cover (ask `ListPublicKeys`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    pub region: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

/// Validates every digest and log file under `root`.
pub fn verify_tree(root: &Path, keys: &PublicKeys, options: VerifyOptions) -> io::Result<Report> {
    Ok(Tree::scan(root)?.verify(keys, options))
}

impl Tree {
    /// Checks signatures, the chains, every listed log file's hash, and
    /// which log files no digest lists.
    pub fn verify(&self, keys: &PublicKeys, options: VerifyOptions) -> Report {
        let now = options.now.unwrap_or_else(OffsetDateTime::now_utc);
        let mut counts = Counts {
            digests: self.digests.len(),
            ..Counts::default()
        };
        let by_rel: HashMap<&str, usize> = self
            .digests
            .iter()
            .enumerate()
            .map(|(index, entry)| (entry.rel.as_str(), index))
            .collect();

        // 1. Each digest on its own: location (at scan), signature.
        let (outcomes, signatures) = chains::check_signatures(self, keys, &by_rel);
        let valid: Vec<bool> = outcomes.iter().map(Result::is_ok).collect();
        counts.valid_digests = valid.iter().filter(|v| **v).count();
        let (mut problems, mut notes) = self.digest_problems(outcomes, &valid, &by_rel);

        // 2. The chains: links, deleted digests, restarts.
        let mut found = chains::ChainFindings::default();
        chains::check_chains(
            self,
            &valid,
            &signatures,
            &by_rel,
            &options,
            now,
            &mut found,
        );
        problems.append(&mut found.problems);
        notes.append(&mut found.notes);
        self.unreadable_spans(&mut found);

        // 3. Log files: hashed against the verified digests that list them,
        //    then the ones no digest lists.
        let listed = self.check_log_files(&valid, options.window.start, &mut counts, &mut problems);
        self.classify_unlisted(&listed, &valid, &mut found, &mut counts, &mut problems);
        for (mut problem, files) in found.deletions {
            if files > 0 {
                problem.detail +=
                    &format!("; {files} log file(s) in those hours cannot be verified");
            }
            problems.push(problem);
        }
        notes.sort();
        notes.dedup();
        Report::new(&options, counts, problems, notes)
    }

    /// The hours of each digest that cannot be read (malformed, misplaced):
    /// their log files are unverifiable, not unlisted; the digest's own
    /// problem is the one reported.
    fn unreadable_spans(&self, found: &mut chains::ChainFindings) {
        for entry in self.digests.iter().filter(|e| e.parsed.is_err()) {
            let (Some((group, _)), Some(end)) =
                (walk::group_of(&entry.rel), walk::digest_key_end(&entry.rel))
            else {
                continue;
            };
            found.spans.push(chains::Span {
                group,
                from: Some(end - time::Duration::hours(1) - chains::DELIVERY_LAG),
                to: Some(end),
                cause: chains::SpanCause::Unreadable,
            });
        }
    }

    /// Each digest's own problem, except an unsigned digest whose successor
    /// failed its own check: that is the failure's consequence, a note.
    fn digest_problems(
        &self,
        outcomes: Vec<Result<(), Problem>>,
        valid: &[bool],
        by_rel: &HashMap<&str, usize>,
    ) -> (Vec<Problem>, Vec<Note>) {
        let mut failed_successor: HashMap<usize, &str> = HashMap::new();
        for (index, entry) in self.digests.iter().enumerate() {
            let Ok(current) = &entry.parsed else { continue };
            if valid[index] {
                continue;
            }
            if let Some(previous_key) = &current.head.previous_digest_s3_object {
                let previous_rel = format!("{}{}", current.prefix, previous_key);
                if let Some(&previous) = by_rel.get(previous_rel.as_str()) {
                    failed_successor.insert(previous, entry.rel.as_str());
                }
            }
        }
        let (mut problems, mut notes) = (Vec::new(), Vec::new());
        for (index, outcome) in outcomes.into_iter().enumerate() {
            let Err(problem) = outcome else { continue };
            match failed_successor.get(&index) {
                Some(successor) if problem.kind == ProblemKind::Unsigned => notes.push(Note {
                    path: problem.path,
                    detail: format!("not verifiable: no .sig, and {successor}, which names its signature, failed its own check"),
                }),
                _ => problems.push(problem),
            }
        }
        (problems, notes)
    }
}
