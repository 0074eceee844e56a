//! Each digest's signature, then the chains they form: what pointers show
//! (a deleted digest inside a chain, however many in a row), what only time
//! shows (deleted digests at a chain's end), and where chains restart.
//!
//! CloudTrail delivers a digest file every hour for every account and region
//! of a trail with validation on, "even when there has been no API activity
//! ... during the one hour period that the digest file represents" (user
//! guide, "CloudTrail digest file structure", section "'Empty' Digest
//! Files"; "Every hour, CloudTrail also creates and delivers a file that
//! references the log files for the last hour", "Validating CloudTrail log
//! file integrity"). So hours without a digest are deleted digests, unless a
//! starting digest (previous fields null) shows validation or logging was
//! off (section "Starting Digest File").

use std::collections::{BTreeMap, HashMap};

use time::{Duration, OffsetDateTime};

use super::digest::{signature_is_valid, SIGNATURE_ALGORITHM};
use super::report::{Note, Problem, ProblemKind, VerifyOptions};
use super::walk::{digest_key_end, Parsed, Tree};
use super::PublicKeys;

/// How long after its newest event CloudTrail may deliver a log file, and so
/// how far before a digest's start a file it lists may be named. CloudTrail
/// delivers within minutes on average, not guaranteed; `validate-logs`
/// widens its own ranges by an hour for late delivery.
pub(super) const DELIVERY_LAG: Duration = Duration::hours(1);

/// How long after the window's end (or now) a chain may end before it is
/// truncated: an hour per digest plus delivery.
const TRUNCATED_AFTER: Duration = Duration::hours(2);

/// Hours (by log file name time) in a group whose log files no present
/// digest can list, and why.
#[derive(Debug)]
pub(super) struct Span {
    pub group: String,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub cause: SpanCause,
}

#[derive(Debug)]
pub(super) enum SpanCause {
    /// Digests deleted: the problem (missing-digest or truncated) counts
    /// the log files as unverifiable.
    Deleted(usize),
    /// Validation was off, or the digest lies outside the directory: the
    /// files are not covered (a note, a failure when strict); the text says why.
    Uncovered(String),
    /// A digest that cannot be read lists them: unverifiable, its own
    /// problem is reported.
    Unreadable,
}

/// What the chains show.
#[derive(Debug, Default)]
pub(super) struct ChainFindings {
    pub problems: Vec<Problem>,
    /// Problems whose detail gets ", N log files … cannot be verified".
    pub deletions: Vec<(Problem, usize)>,
    pub notes: Vec<Note>,
    pub spans: Vec<Span>,
}

/// The signature check of each digest, with the offline rule: a digest
/// without its `.sig` is verified with the signature its verified successor
/// names (`previousDigestSignature`, the user guide's "Validating digest and
/// log files offline"); newest first, so one pass usually settles a chain.
pub(super) fn check_signatures(
    tree: &Tree,
    keys: &PublicKeys,
    by_rel: &HashMap<&str, usize>,
) -> (Vec<Result<(), Problem>>, Vec<Option<String>>) {
    let digests = &tree.digests;
    let mut signatures: Vec<Option<String>> = digests
        .iter()
        .map(|entry| entry.parsed.as_ref().ok().and_then(|p| p.signature.clone()))
        .collect();
    let mut outcomes: Vec<Result<(), Problem>> = digests
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
    let mut newest_first: Vec<usize> = (0..digests.len()).collect();
    newest_first
        .sort_by_key(|&i| std::cmp::Reverse(digests[i].parsed.as_ref().ok().map(|p| p.end)));
    loop {
        let mut changed = false;
        for &index in &newest_first {
            let (Ok(()), Ok(current)) = (&outcomes[index], &digests[index].parsed) else {
                continue;
            };
            let (Some(previous_key), Some(named)) = (
                &current.head.previous_digest_s3_object,
                &current.head.previous_digest_signature,
            ) else {
                continue;
            };
            let previous_rel = format!("{}{}", current.prefix, previous_key);
            let Some(&previous) = by_rel.get(previous_rel.as_str()) else {
                continue;
            };
            let entry = &digests[previous];
            let Ok(before) = &entry.parsed else { continue };
            let unsigned = matches!(&outcomes[previous], Err(p) if p.kind == ProblemKind::Unsigned);
            if !unsigned || before.signature.is_some() {
                continue;
            }
            let source = format!("the previousDigestSignature of {}", digests[index].rel);
            outcomes[previous] = check_signature(&entry.rel, before, Some(named), &source, keys);
            if outcomes[previous].is_ok() {
                signatures[previous] = Some(named.clone());
            }
            changed = true;
        }
        if !changed {
            return (outcomes, signatures);
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
    if parsed.head.digest_signature_algorithm != SIGNATURE_ALGORITHM {
        return Err(problem(
            ProblemKind::Malformed,
            format!(
                "signature algorithm {:?}, not {SIGNATURE_ALGORITHM}",
                parsed.head.digest_signature_algorithm
            ),
        ));
    }
    let fingerprint = &parsed.head.digest_public_key_fingerprint;
    let Some(key) = keys.get(fingerprint) else {
        return Err(problem(
            ProblemKind::UnknownKey,
            format!(
                "signed with key {fingerprint}, not among CloudTrail's public keys for {}",
                parsed.region
            ),
        ));
    };
    if !signature_is_valid(key, &parsed.head.signing_string(&parsed.sha256), &signature) {
        return Err(problem(
            ProblemKind::BadSignature,
            format!("the signature in {source} does not verify with key {fingerprint}: the digest or its signature was altered"),
        ));
    }
    Ok(())
}

/// Formats a time as RFC 3339 (for messages).
pub(super) fn at(time: OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| time.to_string())
}

/// Whole hours in a span, rounded up.
fn hours(span: Duration) -> i64 {
    (span.whole_seconds() + 3599).div_euclid(3600).max(1)
}

/// Links each verified digest to its previous one, chain by chain, oldest
/// first; finds deleted digests (inside and at the end) and restarts.
pub(super) fn check_chains(
    tree: &Tree,
    valid: &[bool],
    signatures: &[Option<String>],
    by_rel: &HashMap<&str, usize>,
    options: &VerifyOptions,
    now: OffsetDateTime,
    out: &mut ChainFindings,
) {
    let digests = &tree.digests;
    let parsed = |index: usize| digests[index].parsed.as_ref().ok();
    let mut chains: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, entry) in digests.iter().enumerate() {
        if let Ok(p) = &entry.parsed {
            chains.entry(p.chain.as_str()).or_default().push(index);
        }
    }
    let mut successors: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for members in chains.values_mut() {
        members.sort_by_key(|&i| (parsed(i).map(|p| p.end), digests[i].rel.clone()));
        for (position, &index) in members.iter().enumerate() {
            // An unverified digest's fields prove nothing: its own problem
            // is already reported.
            if !valid[index] {
                continue;
            }
            let current = parsed(index).expect("a valid digest is parsed");
            // The newest digest of the chain before this one.
            let earlier = members[..position]
                .iter()
                .rev()
                .filter_map(|&i| parsed(i))
                .find(|p| p.end <= current.start)
                .or_else(|| position.checked_sub(1).and_then(|i| parsed(members[i])))
                .map(|p| p.end);
            let Some(previous_key) = &current.head.previous_digest_s3_object else {
                restart(&digests[index].rel, current, earlier, options, out);
                continue;
            };
            let previous_rel = format!("{}{}", current.prefix, previous_key);
            let Some(&previous) = by_rel.get(previous_rel.as_str()) else {
                let ctx = (digests[index].rel.as_str(), current, previous_rel.as_str());
                missing_previous(ctx, previous_key, earlier, options, out);
                continue;
            };
            successors.entry(previous).or_default().push(index);
            if valid[previous] {
                let before = parsed(previous).expect("a valid digest is parsed");
                link(
                    &digests[index].rel,
                    current,
                    &digests[previous].rel,
                    before,
                    &signatures[previous],
                    out,
                );
            }
        }
        if let Some(&newest) = members.last() {
            truncated(
                &digests[newest].rel,
                parsed(newest).expect("parsed"),
                options,
                now,
                out,
            );
        }
    }
    for (previous, mut claimants) in successors {
        if claimants.len() < 2 {
            continue;
        }
        claimants.sort_by_key(|&i| (parsed(i).map(|p| p.end), digests[i].rel.clone()));
        for &index in &claimants[1..] {
            out.problems.push(Problem {
                kind: ProblemKind::BrokenChain,
                path: digests[index].rel.clone(),
                detail: format!(
                    "the chain forks: {} is also the previous digest of {}",
                    digests[previous].rel, digests[claimants[0]].rel
                ),
            });
        }
    }
}

/// A digest whose previous fields are null: validation started (or
/// restarted, after being off). A note naming the gap, not a failure.
fn restart(
    rel: &str,
    current: &Parsed,
    earlier: Option<OffsetDateTime>,
    options: &VerifyOptions,
    out: &mut ChainFindings,
) {
    let (detail, from) = match earlier {
        Some(end) => (
            format!(
                "restarts the chain: no digest from {} to {} ({} h): validation or logging was off then",
                at(end),
                current.head.digest_start_time,
                hours(current.start - end)
            ),
            Some(end - DELIVERY_LAG),
        ),
        // Files from before validation started are legitimately never
        // listed: within the window, or (without one) in the hour before.
        None => (
            "starts a chain: its previous digest is null (validation was started or restarted)"
                .to_string(),
            Some(
                options
                    .window
                    .start
                    .unwrap_or(current.start - Duration::hours(1) - DELIVERY_LAG),
            ),
        ),
    };
    out.notes.push(Note {
        path: rel.to_string(),
        detail,
    });
    out.spans.push(Span {
        group: current.group.clone(),
        from,
        to: Some(current.start),
        cause: SpanCause::Uncovered(format!(
            "delivered while validation was off, before {rel} (re)started the chain"
        )),
    });
}

/// A verified digest whose previous digest is not in the directory: deleted
/// (with any before it back to `earlier`), unless it lies before the window.
fn missing_previous(
    (rel, current, previous_rel): (&str, &Parsed, &str),
    previous_key: &str,
    earlier: Option<OffsetDateTime>,
    options: &VerifyOptions,
    out: &mut ChainFindings,
) {
    let previous_end = digest_key_end(previous_key).unwrap_or(current.start);
    let from = match (earlier, options.window.start) {
        (Some(end), _) => end,
        (None, Some(start)) if previous_end > start => start,
        (None, _) => {
            let window = match options.window.start {
                Some(_) => ", before the window",
                None => "",
            };
            out.notes.push(Note {
                path: rel.to_string(),
                detail: format!(
                    "starts the chain in this directory: its previous digest {previous_rel} lies before it{window}"
                ),
            });
            out.spans.push(Span {
                group: current.group.clone(),
                from: Some(current.start - Duration::hours(1) - DELIVERY_LAG),
                to: Some(current.start),
                cause: SpanCause::Uncovered(format!(
                    "its digest, before {rel}, is not in the directory"
                )),
            });
            return;
        }
    };
    let problem = Problem {
        kind: ProblemKind::MissingDigest,
        path: previous_rel.to_string(),
        detail: format!(
            "deleted: {rel} names it as its previous digest, and no digest covers {} to {} ({} h; CloudTrail delivers one every hour)",
            at(from),
            current.head.digest_start_time,
            hours(current.start - from)
        ),
    };
    out.spans.push(Span {
        group: current.group.clone(),
        from: Some(from - DELIVERY_LAG),
        to: Some(current.start),
        cause: SpanCause::Deleted(out.deletions.len()),
    });
    out.deletions.push((problem, 0));
}

/// Checks that a verified digest's previous digest is the one it names, and
/// ends before it starts.
fn link(
    rel: &str,
    current: &Parsed,
    previous_rel: &str,
    before: &Parsed,
    signature: &Option<String>,
    out: &mut ChainFindings,
) {
    let signature_matches = match (signature, &current.head.previous_digest_signature) {
        (Some(actual), Some(named)) => actual.eq_ignore_ascii_case(named),
        _ => false,
    };
    let hash_matches = current
        .head
        .previous_digest_hash_value
        .as_deref()
        .is_some_and(|named| named.eq_ignore_ascii_case(&before.sha256));
    let detail = if !signature_matches || !hash_matches {
        let which = if signature_matches {
            "hash"
        } else {
            "signature"
        };
        format!("its previous digest {previous_rel} is not the one it was chained to (the {which} differs)")
    } else if before.end > current.start {
        format!(
            "out of order: it starts at {} but its previous digest {previous_rel} ends later, at {}",
            current.head.digest_start_time, before.head.digest_end_time
        )
    } else {
        return;
    };
    out.problems.push(Problem {
        kind: ProblemKind::BrokenChain,
        path: rel.to_string(),
        detail,
    });
}

/// A chain (not backfill) whose newest digest ends more than two hours
/// before the earlier of the window's end and now: its last digests were
/// deleted, which no pointer can show.
fn truncated(
    rel: &str,
    newest: &Parsed,
    options: &VerifyOptions,
    now: OffsetDateTime,
    out: &mut ChainFindings,
) {
    let Some(end) = options.window.end else {
        return;
    };
    if newest.backfill {
        return;
    }
    let (limit, what) = match end <= now {
        true => (end, "the window's end"),
        false => (now, "now"),
    };
    if limit - newest.end <= TRUNCATED_AFTER {
        return;
    }
    let problem = Problem {
        kind: ProblemKind::Truncated,
        path: rel.to_string(),
        detail: format!(
            "the chain's newest digest ends at {}, {} h before {what} ({}): CloudTrail delivers a digest every hour, so the later ones were deleted (or logging or validation was turned off then)",
            newest.head.digest_end_time,
            hours(limit - newest.end),
            at(limit)
        ),
    };
    out.spans.push(Span {
        group: newest.group.clone(),
        from: Some(newest.end - DELIVERY_LAG),
        to: None,
        cause: SpanCause::Deleted(out.deletions.len()),
    });
    out.deletions.push((problem, 0));
}
