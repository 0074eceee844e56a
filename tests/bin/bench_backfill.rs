//! `make bench`: backfill of one account's full-size day — 17 regions, 288
//! log files and 24 digests each (5,304 files), as CloudTrail writes them —
//! by the release forwarder under the fake Lambda runtime (Lambda's 60 s
//! deadline per invocation, Lambda's SQS event source mapping), through a
//! proxy that counts every request it makes. Then the same window again
//! (every file already done). Prints files per second and requests per file
//! on the stand-in, the forwarder's CPU time per file and peak RSS, and the
//! extrapolation to an account-year and to 2,000 accounts (how: below).
//! usage: bench-backfill [FORWARDER_BINARY]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::fault_proxy::{Counts, FaultProxy};
use stand_in::lambda::{Function, QueueTrigger};
use stand_in::{s3, stand_in, unique, A, B};
use trailshare::aws::{IamRoles, S3Runs, SqsQueue};

use stand_in::SEVENTEEN_REGIONS as REGIONS;
/// One log file every five minutes, one digest an hour.
const LOGS: usize = 288;
const DIGESTS: usize = 24;
const ADMIN: &str = "arn:aws:iam::111111111111:user/admin";
/// Lambda's share of a vCPU at the template's 128 MB (1,769 MB is one vCPU).
const VCPU_AT_128_MB: f64 = 128.0 / 1769.0;
/// Assumed, not measured here: a warm in-Region S3 request's latency.
const S3_LATENCY: f64 = 0.025;

fn keys() -> Vec<String> {
    let mut keys = Vec::new();
    for region in REGIONS {
        let root = format!("AWSLogs/{B}");
        for n in 0..LOGS {
            keys.push(format!(
                "{root}/CloudTrail/{region}/2024/05/01/{B}_CloudTrail_{region}_20240501T{:02}{:02}Z_Bench{n:03}.json.gz",
                n / 12,
                n % 12 * 5
            ));
        }
        for hour in 0..DIGESTS {
            keys.push(format!(
                "{root}/CloudTrail-Digest/{region}/2024/05/01/{B}_CloudTrail-Digest_{region}_main_{region}_20240501T{hour:02}0500Z.json.gz"
            ));
        }
    }
    keys
}

/// What one pass cost.
struct Pass {
    seconds: f64,
    cpu: f64,
    counts: Counts,
    run: Value,
    drained: stand_in::lambda::Drained,
}

/// The stack on the stand-in, with a tag share for B.
struct Bench {
    admin: aws_config::SdkConfig,
    trail: String,
    runs: String,
    queue: String,
    queue_name: String,
    vars: Vec<(&'static str, String)>,
    api: Provisioner<IamRoles, SqsQueue>,
    share: String,
}

impl Bench {
    async fn new(aws: &stand_in::StandIn) -> Bench {
        let admin = aws.admin(A).await;
        let trail = aws.bucket(A, "bench-trail").await;
        let runs = aws.bucket(A, "bench-runs").await;
        let sqs = aws_sdk_sqs::Client::new(&admin);
        let dlq = sqs
            .create_queue()
            .queue_name(unique("bench-dlq"))
            .send()
            .await
            .unwrap();
        let dlq = dlq.queue_url.unwrap();
        let dlq_arn = format!(
            "arn:aws:sqs:us-east-1:{A}:{}",
            dlq.rsplit('/').next().unwrap()
        );
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5});
        let queue_name = unique("bench-forwarder");
        use aws_sdk_sqs::types::QueueAttributeName as Attribute;
        let queue = sqs
            .create_queue()
            .queue_name(&queue_name)
            .attributes(Attribute::RedrivePolicy, redrive.to_string())
            .attributes(Attribute::VisibilityTimeout, "360")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let vars: Vec<(&str, String)> = vec![
            ("TRAIL_BUCKET", trail.clone()),
            ("SHARE_ROLE_PATH", format!("/{}/", unique("bench"))),
            ("ADMIN_PRINCIPALS", ADMIN.into()),
            ("FORWARDER_QUEUE_URL", queue.clone()),
            ("BACKFILL_BUCKET", runs.clone()),
            (
                "SHARE_SECRET_ARN",
                stand_in::create_share_secret(&admin).await,
            ),
        ];
        let lookup = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        let config = trailshare::config::Config::from_lookup(lookup).expect("config");
        let api = Provisioner::new(IamRoles::from_sdk(&admin), config, stand_in::share_key())
            .with_queue(SqsQueue::new(&admin, &queue))
            .with_runs(S3Runs::new(&admin, &runs));
        let bench = Bench {
            admin,
            trail,
            runs,
            queue,
            queue_name,
            vars,
            api,
            share: unique("bench-b"),
        };
        let share = json!({"name": bench.share, "grantee_account": B, "delivery": {"mode": "tag"}});
        bench.call("POST", "/shares".into(), share).await;
        bench
    }

    async fn call(&self, method: &'static str, path: String, body: Value) -> Value {
        let event = stand_in::api_event(method, &path, &body, ADMIN);
        let response = self.api.handle_event(event).await;
        serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
    }

    /// One run over the day, drained by `function`, measured through `proxy`.
    async fn pass(&self, function: &Function, proxy: &FaultProxy) -> Pass {
        let (before, cpu_before) = (proxy.counts(), function.cpu_seconds());
        let started = Instant::now();
        let window = json!({"from": "2024-05-01", "until": "2024-05-01"});
        let answer = self
            .call("POST", format!("/shares/{}/backfill", self.share), window)
            .await;
        let id = answer["backfill"]["id"]
            .as_str()
            .expect("a run id")
            .to_string();
        let trigger = QueueTrigger::new(&self.admin, &self.queue);
        let drained = trigger.drain(function, Duration::from_secs(60)).await;
        let seconds = started.elapsed().as_secs_f64();
        let mut counts = proxy.counts();
        counts.requests -= before.requests;
        counts.log.drain(..before.log.len());
        for (bucket, n) in &before.by_bucket {
            *counts.by_bucket.get_mut(bucket).unwrap() -= n;
        }
        let run = self
            .call(
                "GET",
                format!("/shares/{}/backfill/{id}", self.share),
                Value::Null,
            )
            .await;
        let cpu = function.cpu_seconds() - cpu_before;
        Pass {
            seconds,
            cpu,
            counts,
            run,
            drained,
        }
    }
}

#[tokio::main]
async fn main() {
    let bin = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/release/forwarder".into()),
    );
    let aws = stand_in();
    let bench = Bench::new(aws).await;
    let keys = keys();
    let started = Instant::now();
    let a_s3 = s3(&bench.admin);
    stream::iter(&keys)
        .map(|k| stand_in::put_log(&a_s3, &bench.trail, k, b"{}".to_vec()))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    println!(
        "bench-backfill: one account's day, {} regions x ({LOGS} log files + {DIGESTS} digests) = {} files, written in {:.0} s",
        REGIONS.len(),
        keys.len(),
        started.elapsed().as_secs_f64()
    );
    let proxy = FaultProxy::start(&aws.url);
    let user = forwarder_user(aws, &bench.trail, &bench.runs, &bench.queue_name).await;
    let mut env = bench.vars.clone();
    env.extend(stand_in::binary_env(&user, &proxy.url).await);
    env.push(("RUST_LOG", "warn".to_string()));
    let function = Function::start_binary(&bin, &env);
    let first = bench.pass(&function, &proxy).await;
    let again = bench.pass(&function, &proxy).await;
    let files = keys.len() as f64;
    report(
        &first,
        "first pass (every file tagged)",
        files,
        &bench.trail,
        &bench.runs,
    );
    report(
        &again,
        "the same window again (every file already done)",
        files,
        &bench.trail,
        &bench.runs,
    );
    println!(
        "  forwarder peak RSS over both passes: {:.1} MiB (one instance of {})",
        function.peak_rss_kib() as f64 / 1024.0,
        bin.display()
    );
    extrapolate(&first, files);
}

/// A user of A with the forwarder's permissions (as the template grants).
async fn forwarder_user(
    aws: &stand_in::StandIn,
    trail: &str,
    runs: &str,
    queue: &str,
) -> aws_config::SdkConfig {
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"], "Resource": format!("arn:aws:s3:::{trail}/AWSLogs/*")},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": [format!("arn:aws:s3:::{trail}"), format!("arn:aws:s3:::{runs}")]},
        {"Effect": "Allow", "Action": ["iam:ListRoles", "iam:GetRole"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:SendMessageBatch"], "Resource": format!("arn:aws:sqs:us-east-1:{A}:{queue}")},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": format!("arn:aws:s3:::{runs}/runs/*")}]});
    aws.user(A, &unique("bench-forwarder"), &policy).await
}

fn report(pass: &Pass, title: &str, files: f64, trail: &str, runs: &str) {
    let c = &pass.counts;
    let lines = |start: &str, has: &str| {
        c.log
            .iter()
            .filter(|l| l.starts_with(start) && l.contains(has))
            .count()
    };
    let tags_read = lines(&format!("s3 GET /{trail}/"), "tagging");
    let tags_written = lines(&format!("s3 PUT /{trail}/"), "tagging");
    let listings = lines(&format!("s3 GET /{trail}"), "list-type");
    let sqs = lines("sqs ", "");
    let run_requests = c.by_bucket.get(runs).copied().unwrap_or(0);
    let d = &pass.drained;
    println!("  {title}:");
    println!(
        "    {:.1} s, {:.0} files/s on the stand-in; {} invocations, {} messages received, {} handed back by the budget, {} timeouts",
        pass.seconds,
        files / pass.seconds,
        d.invocations,
        d.received,
        d.reported_failures,
        d.timeouts
    );
    println!(
        "    {:.3} requests per file ({} in all): tags read {tags_read}, written {tags_written}; listings {listings}; SQS sends {sqs}; run counts {run_requests}; other {}",
        c.requests as f64 / files,
        c.requests,
        (c.requests as usize)
            .saturating_sub(tags_read + tags_written + listings + sqs + run_requests as usize)
    );
    println!(
        "    forwarder CPU {:.2} s ({:.0} µs per file); run: state {}, items {}, files {}",
        pass.cpu,
        pass.cpu / files * 1e6,
        pass.run["state"],
        pass.run["items"],
        pass.run["files"]
    );
}

/// How the one measured day scales, with the assumptions named.
fn extrapolate(first: &Pass, files_per_day: f64) {
    let year_files = files_per_day * 366.0;
    let requests_per_file = first.counts.requests as f64 / files_per_day;
    let cpu_per_file = first.cpu / files_per_day;
    println!("  extrapolation (a day's work is independent of the others', so a year is 366 days of it):");
    println!(
        "    one account-year ({:.2} M files) at the stand-in's speed: {:.1} h (366 x {:.0} s; the stand-in is one Python process at ~200 requests/s)",
        year_files / 1e6,
        366.0 * first.seconds / 3600.0,
        first.seconds
    );
    // One instance keeps 16 files in flight; each costs `requests_per_file`
    // requests of S3_LATENCY, and `cpu_per_file` of a 128 MB function's
    // share of a vCPU: the slower bound holds.
    let io_bound = 16.0 / (requests_per_file * S3_LATENCY);
    let cpu_bound = VCPU_AT_128_MB / cpu_per_file;
    let per_instance = io_bound.min(cpu_bound);
    println!(
        "    on Lambda, one instance: min(16 in flight / ({requests_per_file:.2} requests x {:.0} ms assumed S3 latency) = {io_bound:.0}, {:.3} vCPU at 128 MB / {:.0} µs CPU a file = {cpu_bound:.0}) = {per_instance:.0} files/s",
        S3_LATENCY * 1000.0,
        VCPU_AT_128_MB,
        cpu_per_file * 1e6
    );
    for concurrency in [5.0, 50.0, 1000.0] {
        let rate = per_instance * concurrency;
        println!(
            "    {concurrency:>4} instances (SQS MaximumConcurrency; the template: 5): {rate:.0} files/s, an account-year in {}, 2,000 account-years ({:.1} G files) in {}",
            human(year_files / rate),
            year_files * 2000.0 / 1e9,
            human(year_files * 2000.0 / rate)
        );
    }
    println!(
        "    limits this leaves out: S3's 3,500 writes / 5,500 reads per second per partitioned prefix (each account-region folder is its own prefix once S3 has split it), and one run object's conditional writes (one per invocation and run: at 1,000 instances a 2,000-account run would be written ~100 times a second, so split such a backfill into runs of fewer accounts)"
    );
}

/// Seconds as minutes, hours or days.
fn human(seconds: f64) -> String {
    match seconds {
        s if s < 3600.0 => format!("{:.0} min", s / 60.0),
        s if s < 2.0 * 86400.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86400.0),
    }
}
