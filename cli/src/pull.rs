//! `trailshare pull`: the grantee side. Lists only the account, region and
//! day prefixes a share role may list (never the bucket root), downloads
//! concurrently into a directory with the bucket's key layout, and resumes
//! where an interrupted run stopped.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::bail;
use futures_util::{stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use time::{Date, Duration, OffsetDateTime};
use trailshare::key::LogKind;
use trailshare::layout::{day_folder, days, parse_day, Layout, FIRST_DAY};

use crate::global::Global;

mod download;
mod remote;
use crate::sts::caller_account;
use download::{fetch, Outcome};
use remote::{assume, common_prefixes, discover_accounts, list_files};

/// Grantee: download the log files a share lets you read
///
/// With --role-arn, assumes the share role (with --external-id when the
/// share has one); without it, reads with your own credentials (e.g. the
/// forwarded copies in your own bucket). Lists only
/// <prefix>/AWSLogs/[<org>/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/
/// for the days asked for, never the bucket root, and keeps the key layout
/// under --to. Files already there with the same size are skipped, so a rerun
/// resumes an interrupted pull.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = PULL_EXAMPLES)]
pub struct Args {
    /// The share role to assume (from `trailshare shares get`)
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// The external id the share requires
    #[arg(long, value_name = "ID", requires = "role_arn")]
    pub external_id: Option<String>,
    /// Session name for the assumed role (shows in the owner's CloudTrail)
    #[arg(long, value_name = "NAME", default_value = "trailshare-pull")]
    pub session_name: String,
    /// The bucket holding the log files
    #[arg(long)]
    pub bucket: String,
    /// The trail's key prefix, if any (the part before AWSLogs/)
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Organization id of an organization trail: also reads
    /// AWSLogs/<org>/<account>/
    #[arg(long, value_name = "o-ID")]
    pub org: Option<String>,
    /// Whose log files: comma-separated account ids, or '*' to discover
    /// every account the role can list [default: your own account]
    #[arg(long, value_name = "a,b|*", value_delimiter = ',')]
    pub accounts: Vec<String>,
    /// Regions, comma-separated [default: every region found]
    #[arg(long, value_name = "r,..", value_delimiter = ',')]
    pub regions: Vec<String>,
    /// First day, YYYY-MM-DD (UTC) [default: 6 days before --until]
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub since: Option<Date>,
    /// Last day, inclusive, YYYY-MM-DD (UTC) [default: today]
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub until: Option<Date>,
    /// Also fetch digest files, each with its signature beside it as <file>.sig
    #[arg(long)]
    pub digests: bool,
    /// Downloads and listings in flight at once
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub concurrency: u16,
    /// Directory to download into
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
}

const PULL_EXAMPLES: &str = "\
Examples:
  # Scenario 1: your own account's files of the last week
  trailshare pull --role-arn arn:aws:iam::111111111111:role/trailshare/trailshare-account-222222222222 \\
      --bucket central-trail --to ./logs
  # Scenario 2: every account's files of May, with digests
  trailshare pull --role-arn ROLE --external-id X --bucket central-trail --accounts '*' \\
      --since 2024-05-01 --until 2024-05-31 --digests --to ./logs
  # Forwarded copies in your own bucket, with your own credentials
  trailshare pull --bucket my-copies --prefix central --to ./logs";

/// A day, YYYY-MM-DD, between CloudTrail's start and tomorrow (UTC): a
/// date outside is refused here (clap: exit 2), never a panic later.
fn parse_date(text: &str) -> Result<Date, String> {
    let date = parse_day(text).ok_or_else(|| format!("{text:?} is not a date (YYYY-MM-DD)"))?;
    let tomorrow = OffsetDateTime::now_utc().date().next_day();
    if date < FIRST_DAY || tomorrow.is_some_and(|t| date > t) {
        return Err(format!(
            "{text} is out of range: CloudTrail has log files from {FIRST_DAY} to today"
        ));
    }
    Ok(date)
}

/// The longest window one pull lists (each day is a request per region).
const MAX_DAYS: i64 = 3660;

/// Which files to list: the days and the account roots they live under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The trail's folders, with the organization layout for `--org`.
    pub layout: Layout,
    pub days: Vec<Date>,
    pub kinds: Vec<&'static str>,
}

impl Plan {
    /// The time the pulled days cover, recorded in the directory for
    /// `verify`: from the first day's start to the day after the last.
    pub fn window(&self) -> trailshare::integrity::Window {
        let start = self.days.first().map(|d| d.midnight().assume_utc());
        let end = self
            .days
            .last()
            .map(|d| d.next_day().unwrap_or(*d).midnight().assume_utc());
        trailshare::integrity::Window { start, end }
    }

    /// Whether `key` is a file of a kind this pull fetches, by CloudTrail's
    /// key grammar: anything else in the bucket (a `<digest>.sig`, a
    /// `.part`, a stray object) is never downloaded, so nothing lands on
    /// the side files pull itself writes.
    pub fn takes(&self, key: &str) -> bool {
        trailshare::key::LogKey::parse(key)
            .is_ok_and(|parsed| self.kinds.contains(&parsed.kind.folder()))
    }
}

impl Plan {
    pub fn new(args: &Args, today: Date) -> anyhow::Result<Plan> {
        let until = args.until.unwrap_or(today);
        let since = args
            .since
            .unwrap_or_else(|| until.checked_sub(Duration::days(6)).unwrap_or(until));
        if since > until {
            bail!("--since {since} is after --until {until}");
        }
        if (until - since).whole_days() >= MAX_DAYS {
            bail!("--since/--until span more than {MAX_DAYS} days");
        }
        let prefix = args.prefix.as_deref().unwrap_or("").trim_matches('/');
        if prefix.contains("//") {
            bail!("--prefix {prefix:?} contains //");
        }
        if let Some(org) = &args.org {
            if !trailshare::ids::is_organization_id(org) {
                bail!("--org {org:?} is not an organization id (o-…)");
            }
        }
        for account in &args.accounts {
            if account != "*" && !trailshare::ids::is_account_id(account) {
                bail!("--accounts: {account:?} is not a 12-digit account id or '*'");
            }
        }
        let mut kinds = vec![LogKind::Events.folder()];
        if args.digests {
            kinds.push(LogKind::Digest.folder());
        }
        Ok(Plan {
            layout: Layout::new(Some(prefix), args.org.as_deref()),
            days: days(since, until).collect(),
            kinds,
        })
    }

    /// The account roots, in every layout the plan knows.
    pub fn account_roots(&self, accounts: &[String]) -> Vec<String> {
        accounts
            .iter()
            .flat_map(|account| self.layout.account_roots(account))
            .collect()
    }

    /// The day prefixes under `<root><kind>/<region>/`.
    pub fn day_prefixes(&self, region_root: &str) -> Vec<String> {
        self.days
            .iter()
            .map(|day| day_folder(region_root, *day))
            .collect()
    }
}

/// One file to fetch.
#[derive(Debug, Clone)]
struct Remote {
    key: String,
    size: u64,
}

/// What the listings found.
#[derive(Default)]
struct Found {
    files: Vec<Remote>,
    /// Objects under the day folders outside CloudTrail's key grammar.
    not_cloudtrail: usize,
    failures: Vec<String>,
}

/// What the downloads did.
#[derive(Default)]
struct Fetched {
    downloaded: usize,
    skipped: usize,
    bytes: u64,
    failures: Vec<String>,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    // Bad input: exit 2, naming the option, before any request.
    let plan = match Plan::new(&args, OffsetDateTime::now_utc().date()) {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("error: {error:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let (s3, roots) = connect(&args, &plan, global).await?;
    let started = Instant::now();
    let found = list(&s3, &args, &plan, roots).await;
    let fetched = download(&s3, &args, &found.files, global.json).await;
    let mut failures = found.failures;
    failures.extend(fetched.failures.iter().cloned());
    // What verify checks the directory against (deleted digests at the end
    // of a chain show only against it); only once every file is there.
    let recorded = match failures.is_empty() {
        true => std::fs::create_dir_all(&args.to).and_then(|()| plan.window().record(&args.to)),
        false => Ok(plan.window()),
    };
    if let Err(error) = recorded {
        failures.push(format!(
            "recording the window in {}: {error}",
            args.to.join(trailshare::integrity::PULL_RECORD).display()
        ));
    }
    failures.sort();
    report(
        &args,
        global,
        &fetched,
        found.not_cloudtrail,
        &failures,
        started,
    );
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The S3 client to read with (the share role's, or the caller's own) and
/// the account roots: given, discovered (`*`), or the caller's own account.
async fn connect(
    args: &Args,
    plan: &Plan,
    global: &Global,
) -> anyhow::Result<(aws_sdk_s3::Client, Vec<String>)> {
    let base = global.sdk_config().await;
    let own_account = match args.accounts.is_empty() {
        true => Some(caller_account(&base).await?),
        false => None,
    };
    let sdk = match &args.role_arn {
        Some(role) => assume(&base, role, args.external_id.as_deref(), &args.session_name).await?,
        None => base,
    };
    let s3 = trailshare::aws::s3_client(&sdk);
    let roots = match own_account {
        Some(own) => plan.account_roots(&[own]),
        None if args.accounts.iter().any(|a| a == "*") => {
            discover_accounts(&s3, &args.bucket, &plan.layout).await?
        }
        None => plan.account_roots(&args.accounts),
    };
    Ok((s3, roots))
}

/// Lists the region folders (unless `--regions` names them), then every
/// day folder under them, concurrently; keeps CloudTrail's files.
async fn list(s3: &aws_sdk_s3::Client, args: &Args, plan: &Plan, roots: Vec<String>) -> Found {
    let concurrency = usize::from(args.concurrency);
    let mut found = Found::default();
    let kind_roots: Vec<String> = roots
        .iter()
        .flat_map(|root| plan.kinds.iter().map(move |kind| format!("{root}{kind}/")))
        .collect();
    let region_roots: Vec<String> = if args.regions.is_empty() {
        let listed: Vec<Result<Vec<String>, String>> = stream::iter(kind_roots)
            .map(|prefix| async move { common_prefixes(s3, &args.bucket, &prefix).await })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut regions = Vec::new();
        for result in listed {
            match result {
                Ok(listed) => regions.extend(listed),
                Err(error) => found.failures.push(error),
            }
        }
        regions
    } else {
        kind_roots
            .iter()
            .flat_map(|root| args.regions.iter().map(move |r| format!("{root}{r}/")))
            .collect()
    };
    let day_prefixes: Vec<String> = region_roots
        .iter()
        .flat_map(|r| plan.day_prefixes(r))
        .collect();
    let listed: Vec<Result<Vec<Remote>, String>> = stream::iter(day_prefixes)
        .map(|prefix| async move { list_files(s3, &args.bucket, &prefix).await })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for result in listed {
        match result {
            Ok(files) => {
                let (taken, others): (Vec<_>, Vec<_>) =
                    files.into_iter().partition(|f| plan.takes(&f.key));
                found.not_cloudtrail += others.len();
                found.files.extend(taken);
            }
            Err(error) => found.failures.push(error),
        }
    }
    found.files.sort_by(|a, b| a.key.cmp(&b.key));
    found
}

/// Downloads concurrently, with a progress bar on a terminal.
async fn download(s3: &aws_sdk_s3::Client, args: &Args, files: &[Remote], json: bool) -> Fetched {
    let total_bytes: u64 = files.iter().map(|f| f.size).sum();
    let progress = progress_bar(files.len() as u64, total_bytes, json);
    let done_files = AtomicU64::new(0);
    let outcomes: Vec<(&Remote, Result<Outcome, String>)> = stream::iter(files)
        .map(|file| {
            let (progress, done_files) = (&progress, &done_files);
            async move {
                let outcome = fetch(s3, &args.bucket, &args.to, file).await;
                progress.inc(file.size);
                let done = done_files.fetch_add(1, Ordering::Relaxed) + 1;
                progress.set_message(done.to_string());
                (file, outcome)
            }
        })
        .buffer_unordered(usize::from(args.concurrency))
        .collect()
        .await;
    progress.finish_and_clear();
    let mut fetched = Fetched::default();
    for (file, outcome) in outcomes {
        match outcome {
            Ok(Outcome::Downloaded) => {
                fetched.downloaded += 1;
                fetched.bytes += file.size;
            }
            Ok(Outcome::Skipped) => fetched.skipped += 1,
            Err(error) => fetched
                .failures
                .push(format!("s3://{}/{}: {error}", args.bucket, file.key)),
        }
    }
    fetched
}

/// The summary: one JSON object with `--json`, else a line on stderr; the
/// failures on stderr either way.
fn report(
    args: &Args,
    global: &Global,
    fetched: &Fetched,
    not_cloudtrail: usize,
    failures: &[String],
    started: Instant,
) {
    let seconds = started.elapsed().as_secs_f64();
    let Fetched {
        downloaded,
        skipped,
        bytes,
        ..
    } = *fetched;
    if global.json {
        println!(
            "{}",
            json!({"downloaded": downloaded, "skipped": skipped,
                   "not_cloudtrail": not_cloudtrail, "failed": failures,
                   "bytes": bytes, "seconds": (seconds * 1000.0).round() / 1000.0,
                   "to": args.to})
        );
    }
    for failure in failures {
        eprintln!("failed: {failure}");
    }
    if !global.json {
        let rate = (downloaded as f64) / seconds.max(0.001);
        eprintln!(
            "pulled {} ({}) into {}, skipped {skipped} already there and {not_cloudtrail} not CloudTrail's (outside its key grammar), {} failed, in {seconds:.1} s ({rate:.0} files/s)",
            files_text(downloaded),
            indicatif::HumanBytes(bytes),
            args.to.display(),
            failures.len()
        );
    }
}

fn files_text(n: usize) -> String {
    match n {
        1 => "1 file".to_string(),
        n => format!("{n} files"),
    }
}

/// A bar on a terminal (files, bytes, rate, ETA), nothing otherwise: the
/// summary line is printed at the end either way.
fn progress_bar(files: u64, bytes: u64, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(bytes);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:30}} {{msg}}/{files} files {{bytes}}/{{total_bytes}} {{binary_bytes_per_sec}} ETA {{eta}}"
        ))
        .expect("a valid template"),
    );
    bar.set_message("0");
    bar
}

#[cfg(test)]
mod tests;
