//! `trailshare pull`: the grantee side. Lists only the account, region and
//! day prefixes a share role may list (never the bucket root), downloads
//! concurrently into a directory with the bucket's key layout, and resumes
//! where an interrupted run stopped.

use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{anyhow, bail};
use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::Client;
use futures_util::{stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use time::{Date, Duration, OffsetDateTime};
use tokio::io::AsyncWriteExt;

use crate::global::Global;

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

/// CloudTrail began in November 2013: no log file is older.
const FIRST_DAY: Date = time::macros::date!(2013 - 11 - 01);

/// A day, YYYY-MM-DD, between CloudTrail's start and tomorrow (UTC): a
/// date outside is refused here (clap: exit 2), never a panic later.
fn parse_date(text: &str) -> Result<Date, String> {
    let date = parse_calendar_date(text)?;
    let tomorrow = OffsetDateTime::now_utc().date().next_day();
    if date < FIRST_DAY || tomorrow.is_some_and(|t| date > t) {
        return Err(format!(
            "{text} is out of range: CloudTrail has log files from {FIRST_DAY} to today"
        ));
    }
    Ok(date)
}

fn parse_calendar_date(text: &str) -> Result<Date, String> {
    let bad = || format!("{text:?} is not a date (YYYY-MM-DD)");
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return Err(bad());
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return Err(bad());
    }
    let number = |s: &str| s.parse::<u8>().map_err(|_| bad());
    let month = time::Month::try_from(number(month)?).map_err(|_| bad())?;
    Date::from_calendar_date(year.parse().map_err(|_| bad())?, month, number(day)?)
        .map_err(|_| bad())
}

/// The longest window one pull lists (each day is a request per region).
const MAX_DAYS: i64 = 3660;

/// Which files to list: the days and the account roots they live under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `<prefix>/AWSLogs/` (or `AWSLogs/`).
    pub logs_root: String,
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
        let mut days = Vec::new();
        let mut day = Some(since);
        while let Some(current) = day.filter(|d| *d <= until) {
            days.push(current);
            day = current.next_day();
        }
        let mut kinds = vec!["CloudTrail"];
        if args.digests {
            kinds.push("CloudTrail-Digest");
        }
        Ok(Plan {
            logs_root: if prefix.is_empty() {
                "AWSLogs/".to_string()
            } else {
                format!("{prefix}/AWSLogs/")
            },
            days,
            kinds,
        })
    }

    /// The account roots (`…/AWSLogs/<acct>/`, and the organization layout
    /// `…/AWSLogs/<org>/<acct>/` when the org is known).
    pub fn account_roots(&self, accounts: &[String], org: Option<&str>) -> Vec<String> {
        let mut roots = Vec::new();
        for account in accounts {
            roots.push(format!("{}{account}/", self.logs_root));
            if let Some(org) = org {
                roots.push(format!("{}{org}/{account}/", self.logs_root));
            }
        }
        roots
    }

    /// The day prefixes under `<root><kind>/<region>/`.
    pub fn day_prefixes(&self, region_root: &str) -> Vec<String> {
        self.days
            .iter()
            .map(|d| {
                format!(
                    "{region_root}{:04}/{:02}/{:02}/",
                    d.year(),
                    u8::from(d.month()),
                    d.day()
                )
            })
            .collect()
    }
}

/// One file to fetch.
#[derive(Debug, Clone)]
struct Remote {
    key: String,
    size: u64,
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
    let base = global.sdk_config().await;
    let accounts_given = !args.accounts.is_empty();
    let own_account = if accounts_given {
        None
    } else {
        Some(caller_account(&base).await?)
    };
    let sdk = match &args.role_arn {
        Some(role) => assume(&base, role, args.external_id.as_deref(), &args.session_name).await?,
        None => base,
    };
    let s3 = trailshare::aws::s3_client(&sdk);
    let concurrency = usize::from(args.concurrency);
    let started = Instant::now();
    let mut failures: Vec<String> = Vec::new();

    // Account roots: given, discovered, or the caller's own.
    let roots = if args.accounts.iter().any(|a| a == "*") {
        discover_accounts(&s3, &args.bucket, &plan, args.org.as_deref()).await?
    } else {
        let accounts = if accounts_given {
            args.accounts.clone()
        } else {
            vec![own_account.expect("looked up without --accounts")]
        };
        plan.account_roots(&accounts, args.org.as_deref())
    };

    // Region roots: given, or discovered per account root and kind.
    let mut kind_roots = Vec::new();
    for root in &roots {
        for kind in &plan.kinds {
            kind_roots.push(format!("{root}{kind}/"));
        }
    }
    let region_roots: Vec<String> = if args.regions.is_empty() {
        let found: Vec<Result<Vec<String>, String>> = stream::iter(kind_roots)
            .map(|prefix| {
                let s3 = &s3;
                let bucket = &args.bucket;
                async move { common_prefixes(s3, bucket, &prefix).await }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut regions = Vec::new();
        for result in found {
            match result {
                Ok(found) => regions.extend(found),
                Err(error) => failures.push(error),
            }
        }
        regions
    } else {
        kind_roots
            .iter()
            .flat_map(|root| args.regions.iter().map(move |r| format!("{root}{r}/")))
            .collect()
    };

    // Day prefixes, listed concurrently.
    let day_prefixes: Vec<String> = region_roots
        .iter()
        .flat_map(|r| plan.day_prefixes(r))
        .collect();
    let listed: Vec<Result<Vec<Remote>, String>> = stream::iter(day_prefixes)
        .map(|prefix| {
            let s3 = &s3;
            let bucket = &args.bucket;
            async move { list_files(s3, bucket, &prefix).await }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut files = Vec::new();
    let mut not_cloudtrail = 0usize;
    for result in listed {
        match result {
            Ok(found) => {
                let (taken, others): (Vec<_>, Vec<_>) =
                    found.into_iter().partition(|f| plan.takes(&f.key));
                not_cloudtrail += others.len();
                files.extend(taken);
            }
            Err(error) => failures.push(error),
        }
    }
    files.sort_by(|a, b| a.key.cmp(&b.key));

    // Downloads.
    let total_bytes: u64 = files.iter().map(|f| f.size).sum();
    let progress = progress_bar(files.len() as u64, total_bytes, global.json);
    let fetched_bytes = AtomicU64::new(0);
    let done_files = AtomicU64::new(0);
    let outcomes: Vec<(String, Result<Outcome, String>)> = stream::iter(files.iter())
        .map(|file| {
            let (s3, bucket, dir) = (&s3, &args.bucket, &args.to);
            let (progress, fetched_bytes, done_files) = (&progress, &fetched_bytes, &done_files);
            async move {
                let outcome = fetch(s3, bucket, dir, file).await;
                if let Ok(Outcome::Downloaded) = outcome {
                    fetched_bytes.fetch_add(file.size, Ordering::Relaxed);
                }
                progress.inc(file.size);
                let done = done_files.fetch_add(1, Ordering::Relaxed) + 1;
                progress.set_message(done.to_string());
                (file.key.clone(), outcome)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    progress.finish_and_clear();

    let (mut downloaded, mut skipped) = (0usize, 0usize);
    for (key, outcome) in &outcomes {
        match outcome {
            Ok(Outcome::Downloaded) => downloaded += 1,
            Ok(Outcome::Skipped) => skipped += 1,
            Err(error) => failures.push(format!("s3://{}/{key}: {error}", args.bucket)),
        }
    }
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
    let seconds = started.elapsed().as_secs_f64();
    let bytes = fetched_bytes.load(Ordering::Relaxed);
    if global.json {
        println!(
            "{}",
            json!({"downloaded": downloaded, "skipped": skipped,
                   "not_cloudtrail": not_cloudtrail, "failed": failures,
                   "bytes": bytes, "seconds": (seconds * 1000.0).round() / 1000.0,
                   "to": args.to})
        );
    }
    for failure in &failures {
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
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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

/// The account of the caller's own credentials (the grantee's account).
async fn caller_account(sdk: &SdkConfig) -> anyhow::Result<String> {
    let identity = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "finding your account (sts:GetCallerIdentity): {}",
                DisplayErrorContext(e)
            )
        })?;
    identity
        .account
        .ok_or_else(|| anyhow!("sts:GetCallerIdentity returned no account; pass --accounts"))
}

/// Credentials of the share role, refreshed as they expire (long pulls).
async fn assume(
    base: &SdkConfig,
    role_arn: &str,
    external_id: Option<&str>,
    session_name: &str,
) -> anyhow::Result<SdkConfig> {
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name(session_name)
        .configure(base);
    if let Some(id) = external_id {
        builder = builder.external_id(id);
    }
    let provider = builder.build().await;
    // Fail here, naming the role, rather than at the first download.
    provider
        .provide_credentials()
        .await
        .map_err(|e| anyhow!("assuming {role_arn}: {}", DisplayErrorContext(e)))?;
    Ok(base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

/// `*`: the accounts (and organization folders) under `AWSLogs/`.
async fn discover_accounts(
    s3: &Client,
    bucket: &str,
    plan: &Plan,
    org: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let mut roots = Vec::new();
    let mut orgs: Vec<String> = org
        .map(|o| vec![format!("{}{o}/", plan.logs_root)])
        .unwrap_or_default();
    for prefix in common_prefixes(s3, bucket, &plan.logs_root)
        .await
        .map_err(|e| anyhow!("discovering accounts: {e}"))?
    {
        let folder = prefix[plan.logs_root.len()..].trim_end_matches('/');
        if trailshare::ids::is_account_id(folder) {
            roots.push(prefix);
        } else if trailshare::ids::is_organization_id(folder) && !orgs.contains(&prefix) {
            orgs.push(prefix);
        }
    }
    for org_root in orgs {
        for prefix in common_prefixes(s3, bucket, &org_root)
            .await
            .map_err(|e| anyhow!("discovering accounts: {e}"))?
        {
            if trailshare::ids::is_account_id(prefix[org_root.len()..].trim_end_matches('/')) {
                roots.push(prefix);
            }
        }
    }
    Ok(roots)
}

/// The "folders" directly under `prefix` (delimiter listing).
async fn common_prefixes(s3: &Client, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| listing_error(bucket, prefix, e))?;
        found.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string)),
        );
    }
    Ok(found)
}

/// Every object under one day prefix.
async fn list_files(s3: &Client, bucket: &str, prefix: &str) -> Result<Vec<Remote>, String> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut files = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| listing_error(bucket, prefix, e))?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                if !key.ends_with('/') {
                    files.push(Remote {
                        key: key.to_string(),
                        size: object.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
        }
    }
    Ok(files)
}

fn listing_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    bucket: &str,
    prefix: &str,
    error: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    format!("listing s3://{bucket}/{prefix}: {}", sdk_error_text(&error))
}

/// AWS's code and message, or the transport's error chain.
fn sdk_error_text<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    let status = error.raw_response().map(|r| r.status().as_u16());
    match (error.code(), status) {
        (Some(code), _) => format!("{code}: {}", error.message().unwrap_or("")),
        (None, Some(status)) => format!("HTTP {status}"),
        (None, None) => DisplayErrorContext(error).to_string(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Downloaded,
    Skipped,
}

/// Where `key` lands under `dir`; refuses keys that would leave it.
pub fn local_path(dir: &Path, key: &str) -> Result<PathBuf, String> {
    let relative = Path::new(key);
    let safe = !key.is_empty()
        && !key.contains('\\')
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        && !key
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if !safe {
        return Err("the key is not a safe relative path; not written".to_string());
    }
    Ok(dir.join(relative))
}

/// Downloads one file unless it is already there with the same size. The
/// body streams into `<file>.part`, renamed only when complete, so an
/// interrupted file is never taken for a finished one.
async fn fetch(s3: &Client, bucket: &str, dir: &Path, file: &Remote) -> Result<Outcome, String> {
    let path = local_path(dir, &file.key)?;
    let is_digest = file.key.contains("/CloudTrail-Digest/");
    let sig = sidecar(&path, ".sig");
    let present = match tokio::fs::metadata(&path).await {
        Ok(meta) => meta.is_file() && meta.len() == file.size,
        Err(_) => false,
    };
    if present && (!is_digest || tokio::fs::metadata(&sig).await.is_ok()) {
        return Ok(Outcome::Skipped);
    }
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(&file.key)
        .send()
        .await
        .map_err(|e| sdk_error_text(&e))?;
    let signature = object.metadata().and_then(|m| m.get("signature")).cloned();
    let part = sidecar(&path, ".part");
    let written = write_stream(&part, object.body).await;
    let written = match written {
        Ok(n) => n,
        Err(error) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(error);
        }
    };
    if written != file.size {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(format!(
            "got {written} bytes, the listing said {}; not kept",
            file.size
        ));
    }
    if is_digest {
        let signature = signature.ok_or("the digest file has no 'signature' metadata; not kept")?;
        let sig_part = sidecar(&path, ".sig.part");
        tokio::fs::write(&sig_part, signature.as_bytes())
            .await
            .map_err(|e| format!("writing {}: {e}", sig_part.display()))?;
        tokio::fs::rename(&sig_part, &sig)
            .await
            .map_err(|e| format!("renaming {}: {e}", sig_part.display()))?;
    }
    tokio::fs::rename(&part, &path)
        .await
        .map_err(|e| format!("renaming {}: {e}", part.display()))?;
    Ok(Outcome::Downloaded)
}

async fn write_stream(
    path: &Path,
    mut body: aws_sdk_s3::primitives::ByteStream,
) -> Result<u64, String> {
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("reading the body: {e}"))?;
        out.write_all(&chunk)
            .await
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        written += chunk.len() as u64;
    }
    out.flush()
        .await
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(written)
}

/// `<path><suffix>`, e.g. `x.json.gz.sig`.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: Args,
    }

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["pull", "--bucket", "trail", "--to", "out"];
        argv.extend_from_slice(extra);
        Wrapper::try_parse_from(argv).unwrap().args
    }

    fn date(text: &str) -> Date {
        parse_calendar_date(text).unwrap()
    }

    #[test]
    fn the_plan_lists_only_account_region_day_prefixes() {
        let plan = Plan::new(
            &args(&[
                "--since",
                "2024-02-28",
                "--until",
                "2024-03-01",
                "--prefix",
                "/o-abc/",
            ]),
            date("2030-01-01"),
        )
        .unwrap();
        assert_eq!(plan.logs_root, "o-abc/AWSLogs/");
        let roots = plan.account_roots(&["222222222222".into()], Some("o-abcdefghij"));
        assert_eq!(
            roots,
            [
                "o-abc/AWSLogs/222222222222/",
                "o-abc/AWSLogs/o-abcdefghij/222222222222/"
            ]
        );
        assert_eq!(
            plan.day_prefixes("AWSLogs/2/CloudTrail/eu-west-1/"),
            [
                "AWSLogs/2/CloudTrail/eu-west-1/2024/02/28/",
                "AWSLogs/2/CloudTrail/eu-west-1/2024/02/29/",
                "AWSLogs/2/CloudTrail/eu-west-1/2024/03/01/"
            ]
        );
        assert_eq!(plan.kinds, ["CloudTrail"]);
    }

    #[test]
    fn defaults_are_the_last_seven_days_and_digests_add_their_folder() {
        let plan = Plan::new(&args(&["--digests"]), date("2024-05-07")).unwrap();
        assert_eq!(plan.days.first(), Some(&date("2024-05-01")));
        assert_eq!(plan.days.len(), 7);
        assert_eq!(plan.kinds, ["CloudTrail", "CloudTrail-Digest"]);
        assert_eq!(plan.logs_root, "AWSLogs/");
    }

    #[test]
    fn bad_windows_accounts_and_orgs_are_refused() {
        let today = date("2024-05-07");
        for bad in [
            &["--since", "2024-05-08", "--until", "2024-05-07"][..],
            &["--since", "2014-01-01"],
            &["--accounts", "12345"],
            &["--org", "abc"],
            &["--prefix", "a//b"],
        ] {
            assert!(Plan::new(&args(bad), today).is_err(), "{bad:?}");
        }
        assert!(Wrapper::try_parse_from([
            "pull", "--bucket", "b", "--to", "d", "--since", "May 1"
        ])
        .is_err());
        assert!(Wrapper::try_parse_from([
            "pull",
            "--bucket",
            "b",
            "--to",
            "d",
            "--concurrency",
            "0"
        ])
        .is_err());
        assert!(Wrapper::try_parse_from([
            "pull",
            "--bucket",
            "b",
            "--to",
            "d",
            "--external-id",
            "x"
        ])
        .is_err());
    }

    #[test]
    fn dates_out_of_range_are_refused_by_name_not_a_panic() {
        for bad in ["9999-12-31", "2013-10-31", "0000-01-01"] {
            let error =
                Wrapper::try_parse_from(["pull", "--bucket", "b", "--to", "d", "--until", bad])
                    .err()
                    .unwrap_or_else(|| panic!("{bad} accepted"));
            // clap's usage error: exit status 2, naming the option.
            assert_eq!(error.exit_code(), 2);
            assert!(error.to_string().contains("--until"), "{error}");
            assert!(error.to_string().contains("out of range"), "{error}");
        }
        // The first day CloudTrail has, to today, plan without a panic.
        let plan = Plan::new(
            &args(&["--since", "2013-11-01", "--until", "2013-11-02"]),
            date("2030-01-01"),
        )
        .unwrap();
        assert_eq!(plan.days.len(), 2);
        let window = plan.window();
        assert_eq!(
            window.start.unwrap().to_string(),
            "2013-11-01 0:00:00.0 +00:00:00"
        );
        assert_eq!(
            window.end.unwrap().to_string(),
            "2013-11-03 0:00:00.0 +00:00:00"
        );
    }

    #[test]
    fn only_keys_of_cloudtrails_grammar_are_taken() {
        let plan = Plan::new(&args(&["--digests"]), date("2024-05-07")).unwrap();
        let log = "AWSLogs/222222222222/CloudTrail/us-east-1/2024/05/01/222222222222_CloudTrail_us-east-1_20240501T1205Z_AbCd.json.gz";
        let digest = "AWSLogs/222222222222/CloudTrail-Digest/us-east-1/2024/05/01/222222222222_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T120500Z.json.gz";
        assert!(plan.takes(log) && plan.takes(digest));
        for other in [
            format!("{digest}.sig"),
            format!("{log}.part"),
            format!("{digest}.sig.part"),
            "AWSLogs/222222222222/CloudTrail/us-east-1/2024/05/01/notes.txt".to_string(),
            "AWSLogs/222222222222/CloudTrail/us-east-1/2024/05/01/333333333333_CloudTrail_us-east-1_20240501T1205Z_AbCd.json.gz".to_string(),
        ] {
            assert!(!plan.takes(&other), "{other}");
        }
        // Digests only with --digests.
        let plan = Plan::new(&args(&[]), date("2024-05-07")).unwrap();
        assert!(plan.takes(log) && !plan.takes(digest));
    }

    #[test]
    fn keys_cannot_escape_the_directory() {
        let dir = Path::new("/tmp/out");
        assert_eq!(
            local_path(dir, "AWSLogs/2/CloudTrail/x.json.gz").unwrap(),
            Path::new("/tmp/out/AWSLogs/2/CloudTrail/x.json.gz")
        );
        for bad in [
            "",
            "/etc/passwd",
            "AWSLogs/../../x",
            "AWSLogs//x",
            "./x",
            "a\\..\\b",
            "a/.",
        ] {
            assert!(local_path(dir, bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_stream_lands_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.part");
        let n = write_stream(
            &path,
            aws_sdk_s3::primitives::ByteStream::from(vec![7u8; 70_000]),
        )
        .await
        .unwrap();
        assert_eq!(n, 70_000);
        assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; 70_000]);
        assert_eq!(sidecar(&path, ".sig"), dir.path().join("f.part.sig"));
    }
}
