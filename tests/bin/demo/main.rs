//! `make demo`: the whole job on the local stand-in. Both functions run as
//! Lambda binaries behind the Lambda runtime interface (`cargo lambda
//! watch`); grantees act through the AWS SDK as they would with the CLI.
//! Prints what succeeded and what was denied; exits non-zero if anything
//! did not behave as expected.

mod activity;
mod backfill;
mod cli;
mod forwarding;
mod lambdas;
mod layouts;
mod organization;
mod redrive;
mod setup;
mod shares;
mod tamper;

use std::time::Instant;

use aws_config::SdkConfig;
use serde_json::Value;
use stand_in::{s3, s3_status, unique, StandIn};

use lambdas::Lambdas;
use layouts::LAYOUTS;

/// The platform team's administrator: the one caller in ADMIN_PRINCIPALS.
const ADMIN: &str = "arn:aws:iam::111111111111:user/platform-admin";

/// Counts checks and prints each one.
struct Report {
    passed: usize,
    failed: usize,
}

impl Report {
    fn check(&mut self, ok: bool, what: &str) {
        if ok {
            self.passed += 1;
            println!("    ok    {what}");
        } else {
            self.failed += 1;
            println!("    FAIL  {what}");
        }
    }
}

fn step(title: &str) {
    println!("\n== {title}");
}

/// What the steps share: the stand-in, account A's trail bucket with its
/// log files, and C's bucket for copies.
struct Demo {
    aws: &'static StandIn,
    trail: String,
    /// The log files of A, B and C, in that order.
    keys: Vec<String>,
    /// B's digest file.
    digest: String,
    c_bucket: String,
}

/// An object's tags, or None if they cannot be read.
async fn object_tags(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Option<Vec<aws_sdk_s3::types::Tag>> {
    let out = s3.get_object_tagging().bucket(bucket).key(key).send().await;
    out.ok().map(|t| t.tag_set)
}

/// A copy's ETag and last-modified time: a rewrite changes the latter.
async fn copy_state(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<(String, String)> {
    let head = s3.head_object().bucket(bucket).key(key).send().await.ok()?;
    Some((head.e_tag?, head.last_modified?.to_string()))
}

/// A user of `account` allowed to assume `share`'s role, as its
/// `grantee_setup` says.
async fn analyst(aws: &StandIn, account: &str, share: &Value) -> SdkConfig {
    aws.user(
        account,
        &unique("analyst"),
        &share["grantee_setup"]["identity_policy"],
    )
    .await
}

async fn read_status(session: &SdkConfig, bucket: &str, key: &str) -> u16 {
    s3_status(
        &s3(session)
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await,
    )
}

#[tokio::main]
async fn main() {
    let mut report = Report {
        passed: 0,
        failed: 0,
    };
    let started = Instant::now();
    let aws = setup::start_stand_in().await;
    let demo = setup::trail_bucket(aws).await;
    let deployment = setup::deploy(&demo).await;
    let lambdas = setup::run_functions(&demo, &deployment);
    let (b_share, c_share) =
        shares::scenario_one(&mut report, &demo, &lambdas, &deployment.b_queue).await;
    shares::scenario_two(&mut report, &demo, &lambdas).await;
    shares::who_may_grant(&mut report, &lambdas);
    shares::replace(&mut report, &demo, &lambdas).await;
    forwarding::new_files(&mut report, &demo, &lambdas, &deployment).await;
    let gateway = cli::admin_gateway(lambdas.port);
    activity::activity_step(
        &mut report,
        &demo,
        &lambdas,
        &gateway,
        &deployment,
        &b_share,
    )
    .await;
    tamper::tamper_step(&mut report, aws, &lambdas, &demo.trail, &demo.c_bucket).await;
    shares::expiry(&mut report, &lambdas).await;
    shares::revocation(&mut report, &demo, &lambdas, &b_share).await;
    cli::cli_step(
        &mut report,
        aws,
        &gateway,
        &demo.trail,
        &c_share,
        &demo.keys[2],
    )
    .await;
    drop(lambdas);

    for layout in LAYOUTS {
        layouts::layout_step(&mut report, aws, &layout, &demo.c_bucket).await;
    }
    organization::organization_step(&mut report, aws, &demo.c_bucket).await;
    redrive::redrive_step(&mut report, aws).await;
    println!(
        "\n== Done in {:.0} s: {} passed, {} failed",
        started.elapsed().as_secs_f64(),
        report.passed,
        report.failed
    );
    println!("demo: {} passed, {} failed", report.passed, report.failed);
    std::process::exit(if report.failed == 0 { 0 } else { 1 });
}
