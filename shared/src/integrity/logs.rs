//! The log files: each one a verified digest lists is hashed (on every
//! core); each one no digest lists is unlisted, not covered yet, or counted
//! against the deleted digests of its hours.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use time::OffsetDateTime;

use super::chains::{at, ChainFindings, SpanCause};
use super::digest::{for_each_log_file, gunzip_sha256_hex, read_digest, HASH_ALGORITHM};
use super::report::{Counts, Problem, ProblemKind};
use super::walk::{log_file_time, Tree};

/// What the digests say of a log file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listed {
    No,
    /// By a verified digest.
    Verified,
    /// Only by digests that failed their own check.
    Unverified,
}

/// One log file to hash: its index, the SHA-256 a verified digest lists,
/// and that digest's index. Small, so 100,000 of them take 4 MB.
struct Job {
    log: u32,
    hash: [u8; 32],
    digest: u32,
}

impl Tree {
    /// Hashes every log file a verified digest lists; returns, per log file,
    /// whether a digest lists it.
    pub(super) fn check_log_files(
        &self,
        valid: &[bool],
        window_start: Option<OffsetDateTime>,
        counts: &mut Counts,
        problems: &mut Vec<Problem>,
    ) -> Vec<bool> {
        let mut listed = vec![Listed::No; self.log_files.len()];
        let mut jobs = Vec::new();
        for (index, entry) in self.digests.iter().enumerate() {
            let Ok(parsed) = &entry.parsed else { continue };
            let verified = valid[index];
            let mut each = |log: super::LogFileEntry| {
                let rel = format!("{}{}", parsed.prefix, log.s3_object);
                let problem = |kind, detail: String| Problem {
                    kind,
                    path: rel.clone(),
                    detail,
                };
                let found = self.log_index(&rel);
                if !verified {
                    if let Some(i) = found {
                        if listed[i] == Listed::No {
                            listed[i] = Listed::Unverified;
                        }
                    }
                    return;
                }
                // Listed by a verified digest: any problem is with the entry.
                if let Some(i) = found {
                    listed[i] = Listed::Verified;
                }
                // Signed digests name S3 keys; a key that climbs out of the
                // directory (`..`, a leading `/`) is never one CloudTrail writes.
                if log.s3_object.starts_with('/') || log.s3_object.split('/').any(|p| p == "..") {
                    let detail = format!("{} lists a key that leaves the directory", entry.rel);
                    return problems.push(problem(ProblemKind::Malformed, detail));
                }
                let mut hash = [0u8; 32];
                if log.hash_algorithm != HASH_ALGORITHM
                    || hex::decode_to_slice(&log.hash_value, &mut hash).is_err()
                {
                    let detail = format!(
                        "{} lists it with hash algorithm {:?}, not a hex {HASH_ALGORITHM}",
                        entry.rel, log.hash_algorithm
                    );
                    return problems.push(problem(ProblemKind::Malformed, detail));
                }
                let Some(i) = found else {
                    // The first digest of a window lists the last files of
                    // the day before, which a pull of the window leaves out.
                    let before = log_file_time(&rel).map(|(_, t)| t);
                    if before.zip(window_start).is_some_and(|(t, start)| t < start) {
                        counts.before_window += 1;
                        return;
                    }
                    let detail = format!("listed by {}, not in the directory", entry.rel);
                    return problems.push(problem(ProblemKind::Missing, detail));
                };
                jobs.push(Job {
                    log: i as u32,
                    hash,
                    digest: index as u32,
                });
            };
            let read = read_digest(&self.root.join(&entry.rel), |reader| {
                for_each_log_file(reader, &mut each)
            });
            match read {
                Ok(Ok(((), sha256))) if sha256 == parsed.sha256 => {}
                Ok(Ok(_)) | Ok(Err(_)) | Err(_) => problems.push(Problem {
                    kind: ProblemKind::Malformed,
                    path: entry.rel.clone(),
                    detail: "it changed while being verified".into(),
                }),
            }
        }
        for outcome in self.hash_all(&jobs) {
            match outcome {
                Ok(()) => counts.valid_log_files += 1,
                Err(problem) => problems.push(problem),
            }
        }
        counts.unverified_log_files = listed.iter().filter(|l| **l == Listed::Unverified).count();
        listed.into_iter().map(|l| l != Listed::No).collect()
    }

    /// [`Tree::hash_one`] for each job, on as many threads as cores.
    fn hash_all(&self, jobs: &[Job]) -> Vec<Result<(), Problem>> {
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
                            let Some(job) = jobs.get(index) else {
                                return done;
                            };
                            if let Err(problem) = self.hash_one(job) {
                                done.push((index, Err(problem)));
                            } else {
                                done.push((index, Ok(())));
                            }
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

    fn hash_one(&self, job: &Job) -> Result<(), Problem> {
        let rel = &self.log_files[job.log as usize];
        let digest = &self.digests[job.digest as usize].rel;
        let problem = |kind, detail: String| Problem {
            kind,
            path: rel.to_string(),
            detail,
        };
        let file = fs::File::open(self.root.join(&**rel)).map_err(|error| {
            problem(
                ProblemKind::Missing,
                format!("listed by {digest}, cannot be read: {error}"),
            )
        })?;
        let listed = hex::encode(job.hash);
        match gunzip_sha256_hex(io::BufReader::new(file)) {
            Ok(hash) if hash == listed => Ok(()),
            Ok(hash) => Err(problem(
                ProblemKind::Modified,
                format!("SHA-256 of its uncompressed content is {hash}, {digest} lists {listed}"),
            )),
            Err(error) => Err(problem(
                ProblemKind::Modified,
                format!("not the gzip file {digest} lists: {error}"),
            )),
        }
    }

    /// The log files no digest lists: in the hours of deleted digests
    /// (counted there), while validation was off (not covered), before a
    /// verified digest of their group started (unlisted), or newer than
    /// every digest (not covered yet).
    pub(super) fn classify_unlisted(
        &self,
        listed: &[bool],
        valid: &[bool],
        found: &mut ChainFindings,
        counts: &mut Counts,
        problems: &mut Vec<Problem>,
    ) {
        let mut latest_start: HashMap<&str, OffsetDateTime> = HashMap::new();
        for (entry, _) in self.digests.iter().zip(valid).filter(|(_, v)| **v) {
            let Ok(p) = &entry.parsed else { continue };
            let slot = latest_start.entry(p.group.as_str()).or_insert(p.start);
            *slot = (*slot).max(p.start);
        }
        // Deletions first: a deleted digest's hours are its problem.
        let mut spans: Vec<&super::chains::Span> = found.spans.iter().collect();
        spans.sort_by_key(|s| matches!(s.cause, SpanCause::Uncovered(_)));
        for (rel, _) in self.log_files.iter().zip(listed).filter(|(_, l)| !**l) {
            let mut problem = |kind, detail: String| {
                problems.push(Problem {
                    kind,
                    path: rel.to_string(),
                    detail,
                })
            };
            let Some((group, time)) = log_file_time(rel) else {
                problem(ProblemKind::Unlisted, "no digest lists it, and its name is not a CloudTrail log file's (<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<id>.json.gz)".into());
                continue;
            };
            let span = spans.iter().find(|s| {
                s.group == group
                    && s.from.is_none_or(|from| from < time)
                    && s.to.is_none_or(|to| time <= to)
            });
            match span.map(|s| &s.cause) {
                Some(SpanCause::Deleted(index)) => {
                    found.deletions[*index].1 += 1;
                    counts.unverified_log_files += 1;
                }
                Some(SpanCause::Unreadable) => counts.unverified_log_files += 1,
                Some(SpanCause::Uncovered(why)) => {
                    counts.not_covered += 1;
                    problem(ProblemKind::NotCovered, format!("no digest lists it: {why}"));
                }
                None => match latest_start.get(group.as_str()) {
                    Some(&start) if start > time => problem(
                        ProblemKind::Unlisted,
                        format!(
                            "no digest lists it, though its name says {} and a verified digest of its account and region starts later, at {}: CloudTrail did not deliver it",
                            at(time),
                            at(start)
                        ),
                    ),
                    _ => {
                        counts.not_covered += 1;
                        problem(ProblemKind::NotCovered, "no digest lists it yet: it is newer than every digest here".into());
                    }
                },
            }
        }
    }
}
