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
//!   started or restarted); the earliest digest of a trail in the directory
//!   may name a previous digest outside it (before the pulled window): both
//!   are notes, not problems. Any later digest whose previous is absent
//!   means a digest is missing.
//!
//! - Offline, as the user guide suggests, a digest without its `.sig` is
//!   verified with the signature its verified successor names in
//!   `previousDigestSignature`; only the newest digest needs its `.sig`.
//!
//! Each problem is reported once, at its cause: the log files of a digest
//! that fails its own check are not reported again (they are counted as
//! unverified), and a broken digest does not also break its successor's link.

mod digest;
mod keys;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::key::LogKey;

pub use digest::{
    gunzip_digest, gunzip_sha256_hex, sha256_hex, signature_is_valid, DigestFile, LogFileEntry,
    HASH_ALGORITHM, MAX_DIGEST_BYTES, SIGNATURE_ALGORITHM,
};
pub use keys::{fingerprint, KeysError, PublicKeys};

/// How strict `verify` is.
#[derive(Clone, Copy, Debug, Default)]
pub struct VerifyOptions {
    /// Log files that no digest in the directory lists are failures, not
    /// just reported (by default they are the last hour, not yet digested).
    pub strict: bool,
}

/// What is wrong with a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A log file whose uncompressed content does not hash to what its
    /// signed digest lists.
    Modified,
    /// A file a signed digest lists (a log file, or its previous digest) is
    /// not in the directory.
    Missing,
    /// A digest file without its `.sig`.
    Unsigned,
    /// A digest whose signature does not verify: the digest or its `.sig`
    /// was altered, or another key signed it.
    BadSignature,
    /// A digest signed by a key that is not among CloudTrail's public keys.
    UnknownKey,
    /// Signed digests that do not link up: a previous digest that is not the
    /// one named, a chain out of time order, or a fork.
    BrokenChain,
    /// A digest that does not lie at its own `digestS3Object`.
    Misplaced,
    /// A digest that is not a gzip JSON CloudTrail digest, names an
    /// algorithm CloudTrail does not use, or lists a key outside the
    /// directory.
    Malformed,
    /// A log file no digest in the directory lists: a failure only when
    /// strict.
    NotCovered,
}

impl ProblemKind {
    pub fn label(self) -> &'static str {
        match self {
            ProblemKind::Modified => "modified",
            ProblemKind::Missing => "missing",
            ProblemKind::Unsigned => "unsigned",
            ProblemKind::BadSignature => "bad-signature",
            ProblemKind::UnknownKey => "unknown-key",
            ProblemKind::BrokenChain => "broken-chain",
            ProblemKind::Misplaced => "misplaced",
            ProblemKind::Malformed => "malformed",
            ProblemKind::NotCovered => "not-covered",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One problem with one file; `path` is relative to the directory.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub path: String,
    pub detail: String,
}

/// Something worth knowing that is not a problem (where a chain starts).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Note {
    pub path: String,
    pub detail: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Digest files in the directory.
    pub digests: usize,
    /// Digests whose signature verified.
    pub valid_digests: usize,
    /// Log files whose hash matched a verified digest.
    pub valid_log_files: usize,
    /// Log files listed only by digests that failed their own check.
    pub unverified_log_files: usize,
    /// Log files no digest lists.
    pub not_covered: usize,
}

/// The outcome of validating a directory.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub strict: bool,
    pub counts: Counts,
    /// Sorted by path, then kind.
    pub problems: Vec<Problem>,
    pub notes: Vec<Note>,
    /// Number of problems that fail validation.
    pub failures: usize,
}

impl Report {
    /// Whether a problem fails validation (`not-covered` only when strict).
    pub fn is_failure(&self, problem: &Problem) -> bool {
        problem.kind != ProblemKind::NotCovered || self.strict
    }

    pub fn passed(&self) -> bool {
        self.failures == 0
    }

    /// One line: what was checked and how it went.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let mut line = format!(
            "{} of {} digest files verified, {} log files verified",
            c.valid_digests, c.digests, c.valid_log_files
        );
        if c.unverified_log_files > 0 {
            line += &format!(", {} unverifiable", c.unverified_log_files);
        }
        line += &format!(", {} not covered by a digest", c.not_covered);
        if self.passed() {
            line += ": OK";
        } else {
            line += &format!(": {} problem(s)", self.failures);
        }
        line
    }
}

/// The time range a region's public keys must cover (ask `ListPublicKeys`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    pub region: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

/// The digests and log files found under a directory, digests read and
/// parsed; log files are hashed only by [`Tree::verify`].
#[derive(Debug)]
pub struct Tree {
    root: PathBuf,
    digests: Vec<DigestEntry>,
    /// Event log files (`…/CloudTrail/…json.gz`), relative paths.
    log_files: BTreeSet<String>,
}

#[derive(Debug)]
struct DigestEntry {
    rel: String,
    parsed: Result<Parsed, Problem>,
}

#[derive(Debug)]
struct Parsed {
    file: DigestFile,
    /// Hex SHA-256 of the uncompressed digest.
    sha256: String,
    /// The `.sig` file's text, trimmed; None without one.
    signature: Option<String>,
    start: OffsetDateTime,
    end: OffsetDateTime,
    /// What lies before `digestS3Object` in the relative path.
    prefix: String,
    /// One trail's digests in one region (one chain, over time).
    chain: String,
    /// The region of the digest's key: whose public keys sign it.
    region: String,
    /// A `…_backfill.json.gz` digest (CloudTrail's backfill of past hours).
    backfill: bool,
}

const DIGEST_FOLDER: &str = "/CloudTrail-Digest/";
const LOG_FOLDER: &str = "/CloudTrail/";
const GZ_JSON: &str = ".json.gz";

/// Validates every digest and log file under `root`.
pub fn verify_tree(root: &Path, keys: &PublicKeys, options: VerifyOptions) -> io::Result<Report> {
    Ok(Tree::scan(root)?.verify(keys, options))
}

impl Tree {
    /// Finds and parses the digest files under `root` and lists the log
    /// files. Only unreadable directories and files are errors; a bad digest
    /// is a problem reported by [`Tree::verify`].
    pub fn scan(root: &Path) -> io::Result<Tree> {
        let mut files = Vec::new();
        walk(root, root, &mut files)?;
        let mut digests = Vec::new();
        let mut log_files = BTreeSet::new();
        // `/` + rel so a key at the top (`AWSLogs/…` has no leading `/`)
        // matches the folder patterns too.
        for rel in files {
            let slashed = format!("/{rel}");
            if !rel.ends_with(GZ_JSON) {
                continue;
            }
            if slashed.contains(DIGEST_FOLDER) {
                let parsed = parse_digest(root, &rel)?;
                digests.push(DigestEntry { rel, parsed });
            } else if slashed.contains(LOG_FOLDER) {
                log_files.insert(rel);
            }
        }
        Ok(Tree {
            root: root.to_path_buf(),
            digests,
            log_files,
        })
    }

    /// Per region, the span of time the digests' signing keys must cover:
    /// what to ask `ListPublicKeys` for. Widened by an hour before and two
    /// after, as `aws cloudtrail validate-logs` does, for late delivery.
    pub fn key_ranges(&self) -> Vec<KeyRange> {
        let mut ranges: BTreeMap<&str, (OffsetDateTime, OffsetDateTime)> = BTreeMap::new();
        for parsed in self.digests.iter().filter_map(|d| d.parsed.as_ref().ok()) {
            let range = ranges
                .entry(&parsed.region)
                .or_insert((parsed.start, parsed.end));
            range.0 = range.0.min(parsed.start);
            // A backfill digest is signed when it is generated, long after
            // its hours: ask up to now for its region.
            let end = match parsed.backfill {
                true => OffsetDateTime::now_utc().max(parsed.end),
                false => parsed.end,
            };
            range.1 = range.1.max(end);
        }
        ranges
            .into_iter()
            .map(|(region, (start, end))| KeyRange {
                region: region.to_string(),
                start: start - time::Duration::hours(1),
                end: end + time::Duration::hours(2),
            })
            .collect()
    }

    /// Number of digest files found.
    pub fn digest_count(&self) -> usize {
        self.digests.len()
    }

    /// Checks signatures, the chain, and every listed log file's hash.
    pub fn verify(&self, keys: &PublicKeys, options: VerifyOptions) -> Report {
        let mut problems = BTreeSet::new();
        let mut notes = BTreeSet::new();
        let mut counts = Counts {
            digests: self.digests.len(),
            ..Counts::default()
        };

        // 1. Each digest on its own: location (at scan), signature.
        let by_rel: HashMap<&str, usize> = self
            .digests
            .iter()
            .enumerate()
            .map(|(index, entry)| (entry.rel.as_str(), index))
            .collect();
        let mut signatures: Vec<Option<String>> = self
            .digests
            .iter()
            .map(|entry| entry.parsed.as_ref().ok().and_then(|p| p.signature.clone()))
            .collect();
        let mut outcomes: Vec<Result<(), Problem>> = self
            .digests
            .iter()
            .zip(&signatures)
            .map(|(entry, signature)| match &entry.parsed {
                Err(problem) => Err(problem.clone()),
                Ok(parsed) => {
                    let source = format!("{}.sig", entry.rel);
                    check_signature(&entry.rel, parsed, signature.as_deref(), &source, keys)
                }
            })
            .collect();
        // Offline, a digest without its `.sig` is verified with the
        // signature its verified successor names (`previousDigestSignature`,
        // the user guide's "Validating digest and log files offline"):
        // newest first, so one pass usually settles a whole chain.
        let mut newest_first: Vec<usize> = (0..self.digests.len()).collect();
        newest_first.sort_by_key(|&i| {
            std::cmp::Reverse(self.digests[i].parsed.as_ref().ok().map(|p| p.end))
        });
        loop {
            let mut changed = false;
            for &index in &newest_first {
                let (Ok(()), Ok(current)) = (&outcomes[index], &self.digests[index].parsed) else {
                    continue;
                };
                let (Some(previous_key), Some(named)) = (
                    &current.file.previous_digest_s3_object,
                    &current.file.previous_digest_signature,
                ) else {
                    continue;
                };
                let previous_rel = format!("{}{}", current.prefix, previous_key);
                let Some(&previous) = by_rel.get(previous_rel.as_str()) else {
                    continue;
                };
                let entry = &self.digests[previous];
                let Ok(before) = &entry.parsed else { continue };
                let unsigned =
                    matches!(&outcomes[previous], Err(p) if p.kind == ProblemKind::Unsigned);
                if !unsigned || before.signature.is_some() {
                    continue;
                }
                let source = format!("the previousDigestSignature of {}", self.digests[index].rel);
                outcomes[previous] =
                    check_signature(&entry.rel, before, Some(named), &source, keys);
                if outcomes[previous].is_ok() {
                    signatures[previous] = Some(named.clone());
                }
                changed = true;
            }
            if !changed {
                break;
            }
        }
        let valid: Vec<bool> = outcomes.iter().map(Result::is_ok).collect();
        // An unsigned digest whose successor failed its own check is that
        // failure's consequence, not a second problem.
        let mut failed_successor: HashMap<usize, &str> = HashMap::new();
        for (index, entry) in self.digests.iter().enumerate() {
            let Ok(current) = &entry.parsed else { continue };
            if valid[index] {
                continue;
            }
            if let Some(previous_key) = &current.file.previous_digest_s3_object {
                let previous_rel = format!("{}{}", current.prefix, previous_key);
                if let Some(&previous) = by_rel.get(previous_rel.as_str()) {
                    failed_successor.insert(previous, entry.rel.as_str());
                }
            }
        }
        for (index, outcome) in outcomes.into_iter().enumerate() {
            let Err(problem) = outcome else { continue };
            match failed_successor.get(&index) {
                Some(successor) if problem.kind == ProblemKind::Unsigned => {
                    notes.insert(Note {
                        path: problem.path,
                        detail: format!("not verifiable: no .sig, and {successor}, which names its signature, failed its own check"),
                    });
                }
                _ => {
                    problems.insert(problem);
                }
            }
        }
        counts.valid_digests = valid.iter().filter(|v| **v).count();

        // 2. The log files each verified digest lists, hashed on every core
        //    (gunzip and SHA-256 are the bulk of the work).
        let mut covered = BTreeSet::new();
        let mut unverified = BTreeSet::new();
        let mut jobs = Vec::new();
        for (index, entry) in self.digests.iter().enumerate() {
            let Ok(parsed) = &entry.parsed else { continue };
            for log in &parsed.file.log_files {
                let rel = format!("{}{}", parsed.prefix, log.s3_object);
                if !valid[index] {
                    unverified.insert(rel);
                    continue;
                }
                covered.insert(rel.clone());
                jobs.push((rel, log, entry.rel.as_str()));
            }
        }
        for outcome in self.check_log_files(&jobs) {
            match outcome {
                Ok(()) => counts.valid_log_files += 1,
                Err(problem) => {
                    problems.insert(problem);
                }
            }
        }
        unverified.retain(|rel| !covered.contains(rel));
        counts.unverified_log_files = unverified.len();

        // 3. The chains.
        self.check_chains(&valid, &signatures, &by_rel, &mut problems, &mut notes);

        // 4. Log files no digest lists.
        for rel in &self.log_files {
            if !covered.contains(rel) && !unverified.contains(rel) {
                counts.not_covered += 1;
                problems.insert(Problem {
                    kind: ProblemKind::NotCovered,
                    path: rel.clone(),
                    detail: "no digest file in the directory lists it (delivered after the newest digest, or its digest is not here)".into(),
                });
            }
        }

        let problems: Vec<Problem> = {
            let mut list: Vec<Problem> = problems.into_iter().collect();
            list.sort_by(|a, b| (&a.path, a.kind).cmp(&(&b.path, b.kind)));
            list
        };
        let failures = problems
            .iter()
            .filter(|p| p.kind != ProblemKind::NotCovered || options.strict)
            .count();
        Report {
            strict: options.strict,
            counts,
            problems,
            notes: notes.into_iter().collect(),
            failures,
        }
    }

    /// [`Tree::check_log_file`] for each job, on as many threads as cores.
    fn check_log_files(&self, jobs: &[(String, &LogFileEntry, &str)]) -> Vec<Result<(), Problem>> {
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(jobs.len().max(1));
        let mut outcomes: Vec<(usize, Result<(), Problem>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            let Some((rel, log, digest)) = jobs.get(index) else {
                                return done;
                            };
                            done.push((index, self.check_log_file(rel, log, digest)));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().expect("a hashing thread panicked"))
                .collect()
        });
        outcomes.sort_by_key(|(index, _)| *index);
        outcomes.into_iter().map(|(_, outcome)| outcome).collect()
    }

    fn check_log_file(&self, rel: &str, log: &LogFileEntry, digest: &str) -> Result<(), Problem> {
        let problem = |kind, detail: String| Problem {
            kind,
            path: rel.to_string(),
            detail,
        };
        // Signed digests name S3 keys; a key that climbs out of the
        // directory (`..`, a leading `/`) is never one CloudTrail writes.
        if log.s3_object.starts_with('/') || log.s3_object.split('/').any(|part| part == "..") {
            return Err(problem(
                ProblemKind::Malformed,
                format!("{digest} lists a key that leaves the directory"),
            ));
        }
        if log.hash_algorithm != HASH_ALGORITHM {
            return Err(problem(
                ProblemKind::Malformed,
                format!(
                    "{digest} lists it with hash algorithm {:?}, not {HASH_ALGORITHM}",
                    log.hash_algorithm
                ),
            ));
        }
        let file = match fs::File::open(self.root.join(rel)) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(problem(
                    ProblemKind::Missing,
                    format!("listed by {digest}, not in the directory"),
                ))
            }
            Err(error) => {
                return Err(problem(
                    ProblemKind::Missing,
                    format!("listed by {digest}, cannot be read: {error}"),
                ))
            }
        };
        match gunzip_sha256_hex(io::BufReader::new(file)) {
            Ok(hash) if hash.eq_ignore_ascii_case(&log.hash_value) => Ok(()),
            Ok(hash) => Err(problem(
                ProblemKind::Modified,
                format!(
                    "SHA-256 of its uncompressed content is {hash}, {digest} lists {}",
                    log.hash_value
                ),
            )),
            Err(error) => Err(problem(
                ProblemKind::Modified,
                format!("not the gzip file {digest} lists: {error}"),
            )),
        }
    }

    fn check_chains(
        &self,
        valid: &[bool],
        signatures: &[Option<String>],
        by_rel: &HashMap<&str, usize>,
        problems: &mut BTreeSet<Problem>,
        notes: &mut BTreeSet<Note>,
    ) {
        let parsed = |index: usize| self.digests[index].parsed.as_ref().ok();

        // The earliest digest of each chain in the directory.
        let mut earliest: HashMap<&str, usize> = HashMap::new();
        for (index, entry) in self.digests.iter().enumerate() {
            let Ok(p) = &entry.parsed else { continue };
            let slot = earliest.entry(p.chain.as_str()).or_insert(index);
            let current = parsed(*slot).expect("only parsed digests are recorded");
            if (p.end, &entry.rel) < (current.end, &self.digests[*slot].rel) {
                *slot = index;
            }
        }

        // Which digests name each digest as their previous one.
        let mut successors: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (index, entry) in self.digests.iter().enumerate() {
            // An unverified digest's fields prove nothing: its own problem
            // is already reported.
            if !valid[index] {
                continue;
            }
            let current = parsed(index).expect("a valid digest is parsed");
            let Some(previous_key) = &current.file.previous_digest_s3_object else {
                notes.insert(Note {
                    path: entry.rel.clone(),
                    detail: "starts a chain: its previous digest is null (validation was started or restarted)".into(),
                });
                continue;
            };
            let previous_rel = format!("{}{}", current.prefix, previous_key);
            let Some(&previous) = by_rel.get(previous_rel.as_str()) else {
                if earliest.get(current.chain.as_str()) == Some(&index) {
                    notes.insert(Note {
                        path: entry.rel.clone(),
                        detail: format!(
                            "starts the chain in this directory: its previous digest {previous_rel} lies before it"
                        ),
                    });
                } else {
                    problems.insert(Problem {
                        kind: ProblemKind::Missing,
                        path: previous_rel,
                        detail: format!(
                            "digest file missing from the chain: {} names it as its previous digest",
                            entry.rel
                        ),
                    });
                }
                continue;
            };
            successors.entry(previous).or_default().push(index);
            // A previous digest that failed its own check is reported there.
            if !valid[previous] {
                continue;
            }
            let before = parsed(previous).expect("a valid digest is parsed");
            let signature_matches = match (
                &signatures[previous],
                &current.file.previous_digest_signature,
            ) {
                (Some(actual), Some(named)) => actual.eq_ignore_ascii_case(named),
                _ => false,
            };
            let hash_matches = current
                .file
                .previous_digest_hash_value
                .as_deref()
                .is_some_and(|named| named.eq_ignore_ascii_case(&before.sha256));
            if !signature_matches || !hash_matches {
                problems.insert(Problem {
                    kind: ProblemKind::BrokenChain,
                    path: entry.rel.clone(),
                    detail: format!(
                        "its previous digest {} is not the one it was chained to (the {} differs)",
                        self.digests[previous].rel,
                        if signature_matches {
                            "hash"
                        } else {
                            "signature"
                        }
                    ),
                });
            } else if before.end > current.start {
                problems.insert(Problem {
                    kind: ProblemKind::BrokenChain,
                    path: entry.rel.clone(),
                    detail: format!(
                        "out of order: it starts at {} but its previous digest {} ends later, at {}",
                        current.file.digest_start_time,
                        self.digests[previous].rel,
                        before.file.digest_end_time
                    ),
                });
            }
        }
        for (previous, mut claimants) in successors {
            if claimants.len() < 2 {
                continue;
            }
            claimants.sort_by_key(|&i| (parsed(i).map(|p| p.end), self.digests[i].rel.clone()));
            for &index in &claimants[1..] {
                problems.insert(Problem {
                    kind: ProblemKind::BrokenChain,
                    path: self.digests[index].rel.clone(),
                    detail: format!(
                        "the chain forks: {} is also the previous digest of {}",
                        self.digests[previous].rel, self.digests[claimants[0]].rel
                    ),
                });
            }
        }
    }
}

/// The signature check of one digest, against `signature` (hex) found in
/// `source`.
fn check_signature(
    rel: &str,
    parsed: &Parsed,
    signature: Option<&str>,
    source: &str,
    keys: &PublicKeys,
) -> Result<(), Problem> {
    let problem = |kind, detail: String| Problem {
        kind,
        path: rel.to_string(),
        detail,
    };
    let Some(signature_hex) = signature else {
        return Err(problem(
            ProblemKind::Unsigned,
            format!("no {source} beside it, and no verified digest names its signature (pull with --digests)"),
        ));
    };
    let Ok(signature) = hex::decode(signature_hex) else {
        return Err(problem(
            ProblemKind::Unsigned,
            format!("{source} is not a hex signature"),
        ));
    };
    if parsed.file.digest_signature_algorithm != SIGNATURE_ALGORITHM {
        return Err(problem(
            ProblemKind::Malformed,
            format!(
                "signature algorithm {:?}, not {SIGNATURE_ALGORITHM}",
                parsed.file.digest_signature_algorithm
            ),
        ));
    }
    let fingerprint = &parsed.file.digest_public_key_fingerprint;
    let Some(key) = keys.get(fingerprint) else {
        return Err(problem(
            ProblemKind::UnknownKey,
            format!(
                "signed with key {fingerprint}, not among CloudTrail's public keys for {}",
                parsed.region
            ),
        ));
    };
    if !signature_is_valid(key, &parsed.file.signing_string(&parsed.sha256), &signature) {
        return Err(problem(
            ProblemKind::BadSignature,
            format!("the signature in {source} does not verify with key {fingerprint}: the digest or its signature was altered"),
        ));
    }
    Ok(())
}

/// Reads one digest and what validation needs of it.
fn parse_digest(root: &Path, rel: &str) -> io::Result<Result<Parsed, Problem>> {
    let malformed = |detail: String| {
        Ok(Err(Problem {
            kind: ProblemKind::Malformed,
            path: rel.to_string(),
            detail,
        }))
    };
    let compressed = fs::read(root.join(rel))?;
    let raw = match gunzip_digest(&compressed) {
        Ok(raw) => raw,
        Err(error) => return malformed(format!("not a gzip file: {error}")),
    };
    let file: DigestFile = match serde_json::from_slice(&raw) {
        Ok(file) => file,
        Err(error) => return malformed(format!("not a CloudTrail digest: {error}")),
    };
    let Some(prefix) = rel.strip_suffix(file.digest_s3_object.as_str()) else {
        return Ok(Err(Problem {
            kind: ProblemKind::Misplaced,
            path: rel.to_string(),
            detail: format!(
                "it is the digest file {} (signed for that key), moved here",
                file.digest_s3_object
            ),
        }));
    };
    let key = match LogKey::parse(&file.digest_s3_object) {
        Ok(key) if key.kind == crate::key::LogKind::Digest => key,
        _ => {
            return malformed(format!(
                "digestS3Object {} is not a CloudTrail digest key",
                file.digest_s3_object
            ))
        }
    };
    let (Ok(start), Ok(end)) = (
        OffsetDateTime::parse(&file.digest_start_time, &Rfc3339),
        OffsetDateTime::parse(&file.digest_end_time, &Rfc3339),
    ) else {
        return malformed("digestStartTime or digestEndTime is not a UTC timestamp".into());
    };
    let signature = match fs::read_to_string(root.join(format!("{rel}.sig"))) {
        Ok(text) => Some(text.trim().to_string()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => return Err(error),
    };
    // `<acct>_CloudTrail-Digest_<region>_<trail>_<home region>_<end>[_backfill].json.gz`:
    // all but the end time names the chain. Backfill digests chain apart.
    let stem = key.file.trim_end_matches(GZ_JSON);
    let (stem, backfill) = match stem.strip_suffix("_backfill") {
        Some(stem) => (stem, true),
        None => (stem, false),
    };
    let stem = stem.rsplit_once('_').map_or(stem, |(head, _)| head);
    let chain = format!(
        "{prefix}|{:?}|{:?}|{}|{}|{stem}|{backfill}",
        key.prefix, key.organization_id, key.account, key.region
    );
    Ok(Ok(Parsed {
        sha256: sha256_hex(&raw),
        file,
        signature,
        start,
        end,
        prefix: prefix.to_string(),
        chain,
        region: key.region,
        backfill,
    }))
}

/// Every regular file under `dir`, as `/`-joined paths relative to `root`,
/// sorted. Names that are not UTF-8 cannot be S3 keys CloudTrail wrote.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let parts: Option<Vec<&str>> = rel.iter().map(|part| part.to_str()).collect();
            if let Some(parts) = parts {
                out.push(parts.join("/"));
            }
        }
    }
    Ok(())
}
