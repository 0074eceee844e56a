//! The forwarder Lambda: configuration and clients built once, then the
//! runtime loop hands each S3, EventBridge, SNS or SQS event to the forwarder.
//! Every line it writes goes through `trailshare::telemetry` (JSON).

use forwarder::budget::Budget;
use forwarder::Forwarder;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use trailshare::aws::{
    load_sdk_config, AwsNotifier, IamRoles, S3Objects, S3Runs, SecretsManagerSecret, SqsQueue,
};
use trailshare::config::Config;
use trailshare::ports::RoleReader;
use trailshare::telemetry::{self, refuse_to_start};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env().unwrap_or_else(refuse_to_start);
    let secret_arn = config.share_secret_arn().unwrap_or_else(refuse_to_start);
    // ACTIVITY_BUCKET without a known account A would extract nothing.
    config.activity().unwrap_or_else(refuse_to_start);
    let namespace =
        forwarder::metrics::namespace(std::env::var("METRICS_NAMESPACE").ok().as_deref())
            .unwrap_or_else(refuse_to_start);
    let sdk = load_sdk_config().await;
    // The share secret and the first share listing, concurrently: a cold
    // start costs the slower of the two, not their sum.
    let roles = IamRoles::from_sdk(&sdk);
    let secret = SecretsManagerSecret::new(&sdk, secret_arn);
    let (key, listing) = tokio::join!(
        trailshare::seal::load(&secret),
        roles.list_summaries(&config.share_role_path)
    );
    let key = key.unwrap_or_else(refuse_to_start);
    // Announcements name the trail bucket's region, as cli_profile does.
    let region = config.trail_bucket_region.clone().unwrap_or_else(|| {
        sdk.region()
            .map_or_else(|| "us-east-1".to_string(), |r| r.to_string())
    });
    // Where backfill work fans out; unset, backfill work fails (and is
    // dead-lettered) instead of being dropped.
    let queue = config.forwarder_queue_url.as_ref().map(|url| {
        // On a message's last receive, it goes there with an explanation.
        let dead_letter = config.dead_letter.as_ref().map(|d| d.queue_url.clone());
        SqsQueue::new(&sdk, url).with_dead_letter(dead_letter)
    });
    // Where backfill runs keep their counts; unset, runs are not counted.
    let runs = config
        .backfill_bucket
        .as_ref()
        .map(|bucket| S3Runs::new(&sdk, bucket));
    // One forwarder for the life of the process.
    let mut forwarder = Forwarder::new(roles, S3Objects::new(&sdk), config, key)
        .with_queue(queue)
        .with_notifier(AwsNotifier::new(&sdk), region)
        .with_metrics_namespace(namespace);
    if let Some(runs) = runs {
        forwarder = forwarder.with_runs(runs);
    }
    let forwarder: &'static _ = Box::leak(Box::new(forwarder));
    // A listing that failed is read again by the first event.
    if let Ok(listing) = listing {
        forwarder.prime(listing).await;
    }
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // The invocation's deadline (Lambda-Runtime-Deadline-Ms) bounds
        // the batch: see forwarder::budget.
        let budget = Budget::from_deadline_ms(event.context.deadline);
        forwarder
            .handle_event_by(event.payload, budget)
            .await
            .map_err(Error::from)
    }))
    .await
}
