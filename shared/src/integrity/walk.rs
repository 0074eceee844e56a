//! The tree walk: finds the digests and log files under a directory, reads
//! each digest's head as a stream (bounded memory whatever the file) and
//! lists the log files compactly (100,000 files take a few MiB).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use super::digest::{parse_head, read_digest, DigestHead};
use super::report::{Problem, ProblemKind};
use super::KeyRange;
use crate::key::{LogKey, LogKind};

/// The digests and log files found under a directory, digests' heads read;
/// log files are hashed only by [`Tree::verify`].
#[derive(Debug)]
pub struct Tree {
    pub(super) root: PathBuf,
    pub(super) digests: Vec<DigestEntry>,
    /// Event log files (`…/CloudTrail/…json.gz`), relative paths, sorted.
    pub(super) log_files: Vec<Box<str>>,
}

#[derive(Debug)]
pub(super) struct DigestEntry {
    pub rel: String,
    pub parsed: Result<Parsed, Problem>,
}

#[derive(Debug)]
pub(super) struct Parsed {
    pub head: DigestHead,
    /// Hex SHA-256 of the uncompressed digest.
    pub sha256: String,
    /// The `.sig` file's text, trimmed; None without one.
    pub signature: Option<String>,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// What lies before `digestS3Object` in the relative path.
    pub prefix: String,
    /// One trail's digests in one region (one chain, over time).
    pub chain: String,
    /// One account's files in one region under one prefix: the digests that
    /// should list a log file of the same group.
    pub group: String,
    /// The region of the digest's key: whose public keys sign it.
    pub region: String,
    /// A `…_backfill.json.gz` digest (CloudTrail's backfill of past hours).
    pub backfill: bool,
}

const DIGEST_FOLDER: &str = "/CloudTrail-Digest/";
const LOG_FOLDER: &str = "/CloudTrail/";
pub(super) const GZ_JSON: &str = ".json.gz";

/// The group of a file at `rel`: what lies before `AWSLogs/` (a copy's
/// prefix and the trail's, joined by anything), the organization, account
/// and region; with the parsed key from `AWSLogs/` on.
pub(super) fn group_of(rel: &str) -> Option<(String, LogKey)> {
    rel.rmatch_indices("AWSLogs/").find_map(|(at, _)| {
        let key = LogKey::parse(&rel[at..]).ok()?;
        let group = format!(
            "{}|{:?}|{}|{}",
            &rel[..at],
            key.organization_id,
            key.account,
            key.region
        );
        Some((group, key))
    })
}

/// The time in a log file's name (`<acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<id>.json.gz`),
/// which the user guide says is its newest event's time; with its group.
pub(super) fn log_file_time(rel: &str) -> Option<(String, OffsetDateTime)> {
    let (group, key) = group_of(rel)?;
    if key.kind != LogKind::Events {
        return None;
    }
    let stamp = key.file.split('_').nth(3)?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute]Z");
    let at = PrimitiveDateTime::parse(stamp, &format).ok()?.assume_utc();
    Some((group, at))
}

/// The end time in a digest's name (`…_<YYYYMMDDTHHmmssZ>[_backfill].json.gz`).
pub(super) fn digest_key_end(key: &str) -> Option<OffsetDateTime> {
    let stem = key.rsplit('/').next()?.strip_suffix(GZ_JSON)?;
    let stem = stem.strip_suffix("_backfill").unwrap_or(stem);
    let stamp = stem.rsplit('_').next()?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    Some(PrimitiveDateTime::parse(stamp, &format).ok()?.assume_utc())
}

impl Tree {
    /// Finds the digest files under `root`, reads their heads, and lists the
    /// log files. Only unreadable directories and files are errors; a bad
    /// digest is a problem reported by [`Tree::verify`].
    pub fn scan(root: &Path) -> io::Result<Tree> {
        let mut digests = Vec::new();
        let mut log_files = Vec::new();
        walk(root, root, &mut |rel| {
            if !rel.ends_with(GZ_JSON) {
                return Ok(());
            }
            // `/` + rel so a key at the top matches the folder patterns too.
            let slashed = format!("/{rel}");
            if slashed.contains(DIGEST_FOLDER) {
                let parsed = parse_digest(root, &rel)?;
                digests.push(DigestEntry { rel, parsed });
            } else if slashed.contains(LOG_FOLDER) {
                log_files.push(rel.into_boxed_str());
            }
            Ok(())
        })?;
        log_files.sort_unstable();
        log_files.shrink_to_fit();
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
                start: start - Duration::hours(1),
                end: end + Duration::hours(2),
            })
            .collect()
    }

    /// Number of digest files found.
    pub fn digest_count(&self) -> usize {
        self.digests.len()
    }

    /// Number of log files found.
    pub fn log_file_count(&self) -> usize {
        self.log_files.len()
    }

    /// The index of a log file in [`Tree::log_files`].
    pub(super) fn log_index(&self, rel: &str) -> Option<usize> {
        self.log_files.binary_search_by(|f| (**f).cmp(rel)).ok()
    }
}

/// Reads one digest's head and what validation needs of it.
fn parse_digest(root: &Path, rel: &str) -> io::Result<Result<Parsed, Problem>> {
    let problem = |kind, detail: String| {
        Ok(Err(Problem {
            kind,
            path: rel.to_string(),
            detail,
        }))
    };
    let (head, sha256) = match read_digest(&root.join(rel), parse_head)? {
        Ok(read) => read,
        Err(why) => return problem(ProblemKind::Malformed, why),
    };
    let Some(prefix) = rel.strip_suffix(head.digest_s3_object.as_str()) else {
        return problem(
            ProblemKind::Misplaced,
            format!(
                "it is the digest file {} (signed for that key), moved here",
                head.digest_s3_object
            ),
        );
    };
    let (key, group) = match (LogKey::parse(&head.digest_s3_object), group_of(rel)) {
        (Ok(key), Some((group, _))) if key.kind == LogKind::Digest => (key, group),
        _ => {
            return problem(
                ProblemKind::Malformed,
                format!(
                    "digestS3Object {} is not a CloudTrail digest key",
                    head.digest_s3_object
                ),
            )
        }
    };
    let (Ok(start), Ok(end)) = (
        OffsetDateTime::parse(&head.digest_start_time, &Rfc3339),
        OffsetDateTime::parse(&head.digest_end_time, &Rfc3339),
    ) else {
        return problem(
            ProblemKind::Malformed,
            "digestStartTime or digestEndTime is not a UTC timestamp".into(),
        );
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
    Ok(Ok(Parsed {
        chain: format!("{group}|{prefix}|{stem}|{backfill}"),
        group,
        head,
        sha256,
        signature,
        start,
        end,
        prefix: prefix.to_string(),
        region: key.region,
        backfill,
    }))
}

/// Calls `each` with every regular file under `dir`, as a `/`-joined path
/// relative to `root`, in sorted order. Names that are not UTF-8 cannot be
/// S3 keys CloudTrail wrote.
fn walk(root: &Path, dir: &Path, each: &mut dyn FnMut(String) -> io::Result<()>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &path, each)?;
        } else if kind.is_file() {
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let parts: Option<Vec<&str>> = rel.iter().map(|part| part.to_str()).collect();
            if let Some(parts) = parts {
                each(parts.join("/"))?;
            }
        }
    }
    Ok(())
}
