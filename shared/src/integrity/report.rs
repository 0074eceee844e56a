//! What `verify` found: problems (each at its cause, once), notes, counts.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

/// How strict `verify` is, and over which window.
#[derive(Clone, Copy, Debug, Default)]
pub struct VerifyOptions {
    /// Log files no digest lists *yet* (newer than every digest) are
    /// failures, not just reported.
    pub strict: bool,
    /// The time the tree is meant to cover (what `pull` fetched, or
    /// `--from`/`--until`). Without an end, deleted digests at the end of a
    /// chain cannot be told from digests not delivered yet.
    pub window: Window,
    /// "Now", for tests; the system clock when None.
    pub now: Option<OffsetDateTime>,
}

/// A time window; either end may be open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Window {
    #[serde(serialize_with = "rfc3339")]
    pub start: Option<OffsetDateTime>,
    #[serde(serialize_with = "rfc3339")]
    pub end: Option<OffsetDateTime>,
}

/// Where `trailshare pull` records the window it fetched, at the top of its
/// directory. No CloudTrail key can land there: pull writes only keys under
/// `…AWSLogs/…`.
pub const PULL_RECORD: &str = ".trailshare-pull.json";

impl Window {
    /// The window recorded in `dir` by earlier pulls, if any.
    pub fn recorded(dir: &std::path::Path) -> std::io::Result<Option<Window>> {
        let text = match std::fs::read_to_string(dir.join(PULL_RECORD)) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let bad = |why: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{PULL_RECORD}: {why}"),
            )
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        let field = |name: &str| -> std::io::Result<Option<OffsetDateTime>> {
            match &value[name] {
                serde_json::Value::Null => Ok(None),
                serde_json::Value::String(text) => {
                    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                        .map(Some)
                        .map_err(|_| bad(&format!("{name} is not an RFC 3339 time")))
                }
                _ => Err(bad(&format!("{name} is not a time"))),
            }
        };
        Ok(Some(Window {
            start: field("start")?,
            end: field("end")?,
        }))
    }

    /// Records that `self` was fetched into `dir`: the window recorded is
    /// the span of every pull into it.
    pub fn record(&self, dir: &std::path::Path) -> std::io::Result<Window> {
        let merged = match Window::recorded(dir)? {
            Some(old) => Window {
                start: old.start.zip(self.start).map(|(a, b)| a.min(b)),
                end: old.end.zip(self.end).map(|(a, b)| a.max(b)),
            },
            None => *self,
        };
        let part = dir.join(format!("{PULL_RECORD}.part"));
        std::fs::write(&part, serde_json::to_vec_pretty(&merged)?)?;
        std::fs::rename(&part, dir.join(PULL_RECORD))?;
        Ok(merged)
    }
}

fn rfc3339<S: serde::Serializer>(at: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    let text = at.and_then(|at| {
        at.format(&time::format_description::well_known::Rfc3339)
            .ok()
    });
    s.serialize_some(&text)
}

/// What is wrong with a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A log file whose uncompressed content does not hash to what its
    /// signed digest lists.
    Modified,
    /// A log file a signed digest lists is not in the directory.
    Missing,
    /// A digest file that its successor names as its previous one is not in
    /// the directory (with any digests before it, back to the last present).
    MissingDigest,
    /// A chain whose newest digest ends hours before the window does:
    /// digests deleted at its end, where no successor names them.
    Truncated,
    /// A log file no digest lists although CloudTrail has delivered a digest
    /// after it: not a file CloudTrail delivered (forged or replaced).
    Unlisted,
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
    /// A digest that is not a gzip JSON CloudTrail digest (or is larger than
    /// any), names an algorithm CloudTrail does not use, or lists a key
    /// outside the directory.
    Malformed,
    /// A log file no digest lists yet (newer than every digest), or one
    /// delivered while validation was off: a failure only when strict.
    NotCovered,
}

impl ProblemKind {
    pub fn label(self) -> &'static str {
        match self {
            ProblemKind::Modified => "modified",
            ProblemKind::Missing => "missing",
            ProblemKind::MissingDigest => "missing-digest",
            ProblemKind::Truncated => "truncated",
            ProblemKind::Unlisted => "unlisted",
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
    /// Log files that cannot be verified: listed only by digests that failed
    /// their own check, or delivered in the hours of missing digests.
    pub unverified_log_files: usize,
    /// Log files no digest lists yet.
    pub not_covered: usize,
    /// Log files a verified digest lists that were delivered before the
    /// window (not pulled): the first digest of a day lists the last files
    /// of the day before.
    pub before_window: usize,
}

/// The outcome of validating a directory.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub strict: bool,
    /// The window checked (ends open when unknown).
    pub window: Window,
    pub counts: Counts,
    /// Sorted by path, then kind.
    pub problems: Vec<Problem>,
    pub notes: Vec<Note>,
    /// Number of problems that fail validation.
    pub failures: usize,
}

impl Report {
    pub(super) fn new(
        options: &VerifyOptions,
        counts: Counts,
        problems: impl IntoIterator<Item = Problem>,
        notes: impl IntoIterator<Item = Note>,
    ) -> Report {
        let mut problems: Vec<Problem> = problems.into_iter().collect();
        problems.sort_by(|a, b| (&a.path, a.kind).cmp(&(&b.path, b.kind)));
        problems.dedup();
        let mut report = Report {
            strict: options.strict,
            window: options.window,
            counts,
            problems,
            notes: notes.into_iter().collect(),
            failures: 0,
        };
        report.failures = report
            .problems
            .iter()
            .filter(|p| report.is_failure(p))
            .count();
        report
    }

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
        line += &format!(", {} not covered by a digest yet", c.not_covered);
        if self.passed() {
            line += ": OK";
        } else {
            line += &format!(": {} problem(s)", self.failures);
        }
        line
    }
}
