//! `trailshare verify DIR`: proves the log files in a directory are the ones
//! CloudTrail delivered, unmodified, from CloudTrail's signed digest files
//! (the validation itself is `trailshare::integrity`; this is its command line).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use aws_config::Region;
use aws_sdk_cloudtrail::primitives::DateTime;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use trailshare::integrity::{KeyRange, PublicKeys, Report, Tree, VerifyOptions, Window};

use crate::global::Global;

/// Verify log files against CloudTrail's signed digest files.
///
/// DIR holds the files at their S3 keys, each digest's signature beside it
/// in `<digest>.sig` — what `trailshare pull --digests` writes, from the
/// trail's bucket or a forwarded copy. Every digest's signature, the chain
/// of digests and every listed log file's SHA-256 are checked, as
/// CloudTrail's documented custom validation does. One line per problem,
/// then a summary; exit status 1 on any problem.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to verify
    pub dir: PathBuf,
    /// The JSON of `aws cloudtrail list-public-keys`, to verify offline.
    /// Without it, CloudTrail's ListPublicKeys is asked for each digest
    /// region's keys over the digests' time range
    #[arg(long, value_name = "FILE")]
    pub public_keys: Option<PathBuf>,
    /// Fail on log files no digest lists yet (by default they are reported:
    /// the newest hour's files have no digest yet). Log files no digest
    /// lists although a later digest exists always fail (unlisted)
    #[arg(long)]
    pub strict: bool,
    /// Start of the window the directory covers: YYYY-MM-DD (UTC) or RFC
    /// 3339 [default: what `pull` recorded in DIR]
    #[arg(long, value_name = "TIME", value_parser = parse_start)]
    pub from: Option<OffsetDateTime>,
    /// End of the window, inclusive day YYYY-MM-DD (UTC) or RFC 3339: a
    /// chain ending more than 2 h before it (or now) is truncated
    /// [default: what `pull` recorded in DIR]
    #[arg(long, value_name = "TIME", value_parser = parse_end)]
    pub until: Option<OffsetDateTime>,
}

/// RFC 3339, or a day: its start (`from`) or the next day's start (`until`).
fn parse_time(text: &str, end: bool) -> Result<OffsetDateTime, String> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = Date::parse(text, &format)
        .map_err(|_| format!("{text:?} is not YYYY-MM-DD or an RFC 3339 time"))?;
    let day = match end {
        true => day
            .next_day()
            .ok_or_else(|| format!("{text} is out of range"))?,
        false => day,
    };
    Ok(day.midnight().assume_utc())
}

fn parse_start(text: &str) -> Result<OffsetDateTime, String> {
    parse_time(text, false)
}

fn parse_end(text: &str) -> Result<OffsetDateTime, String> {
    parse_time(text, true)
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let recorded = Window::recorded(&args.dir)
        .with_context(|| format!("reading the window pull recorded in {}", args.dir.display()))?
        .unwrap_or_default();
    let window = Window {
        start: args.from.or(recorded.start),
        end: args.until.or(recorded.end),
    };
    if let (Some(start), Some(end)) = (window.start, window.end) {
        if start >= end {
            eprintln!("error: the window's start ({start}) is not before its end ({end}): check --from/--until");
            return Ok(ExitCode::from(2));
        }
    }
    let dir = args.dir.clone();
    let tree = tokio::task::spawn_blocking(move || Tree::scan(&dir))
        .await?
        .with_context(|| format!("cannot read {}", args.dir.display()))?;
    if tree.digest_count() == 0 {
        bail!(
            "no CloudTrail digest files (…/CloudTrail-Digest/…json.gz) under {}: nothing can be verified; pull with --digests",
            args.dir.display()
        );
    }
    let keys = match &args.public_keys {
        Some(path) => {
            let json = std::fs::read_to_string(path)
                .with_context(|| format!("--public-keys: cannot read {}", path.display()))?;
            PublicKeys::from_list_public_keys_json(&json)
                .with_context(|| format!("--public-keys {}", path.display()))?
        }
        None => list_public_keys(&tree.key_ranges(), global).await?,
    };
    let options = VerifyOptions {
        strict: args.strict,
        window,
        now: None,
    };
    let report = tokio::task::spawn_blocking(move || tree.verify(&keys, options)).await?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human(&report));
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One line per problem and note, then the summary.
fn human(report: &Report) -> String {
    let mut out = String::new();
    for problem in &report.problems {
        out += &format!(
            "{:<13} {}: {}\n",
            problem.kind.label(),
            problem.path,
            problem.detail
        );
    }
    for note in &report.notes {
        out += &format!("{:<13} {}: {}\n", "note", note.path, note.detail);
    }
    if report.window.end.is_none() {
        out += "note          no window (pull records one, or give --from/--until): digests deleted at the end of a chain cannot be detected\n";
    }
    out += &report.summary();
    if report.counts.not_covered > 0 && !report.strict {
        out += " (not covered yet is not a failure without --strict)";
    }
    out.push('\n');
    out
}

/// CloudTrail's public keys for each region's digests: one paged
/// ListPublicKeys per region, whatever the number of digests.
async fn list_public_keys(ranges: &[KeyRange], global: &Global) -> anyhow::Result<PublicKeys> {
    let config = global.sdk_config().await;
    let mut keys = PublicKeys::default();
    for range in ranges {
        let client = aws_sdk_cloudtrail::Client::from_conf(
            aws_sdk_cloudtrail::config::Builder::from(&config)
                .region(Region::new(range.region.clone()))
                .build(),
        );
        let mut token = None;
        loop {
            let page = client
                .list_public_keys()
                .start_time(DateTime::from_secs(range.start.unix_timestamp()))
                .end_time(DateTime::from_secs(range.end.unix_timestamp()))
                .set_next_token(token)
                .send()
                .await
                .with_context(|| {
                    format!(
                        "CloudTrail ListPublicKeys in {} (or pass --public-keys FILE)",
                        range.region
                    )
                })?;
            for key in page.public_key_list() {
                let (Some(value), Some(fingerprint)) = (key.value(), key.fingerprint()) else {
                    continue;
                };
                keys.insert_der(fingerprint, value.as_ref())
                    .with_context(|| format!("ListPublicKeys in {}", range.region))?;
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ends_are_days_or_rfc3339_and_bad_ones_are_refused() {
        let day_start = parse_start("2026-03-02").unwrap();
        assert_eq!(day_start, time::macros::datetime!(2026-03-02 0:00 UTC));
        // --until a day: that whole day.
        assert_eq!(
            parse_end("2026-03-02").unwrap(),
            time::macros::datetime!(2026-03-03 0:00 UTC)
        );
        assert_eq!(
            parse_end("2026-03-02T10:30:00Z").unwrap(),
            time::macros::datetime!(2026-03-02 10:30 UTC)
        );
        assert!(parse_end("9999-12-31")
            .unwrap_err()
            .contains("out of range"));
        for bad in ["2026-13-01", "yesterday", "2026-03-02 10:00"] {
            assert!(parse_start(bad).is_err(), "{bad}");
        }
    }
}
