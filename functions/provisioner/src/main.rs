//! The provisioner Lambda: configuration and clients built once, then the
//! runtime loop hands each API Gateway event to the share API, and each
//! daily `Scheduled Event` to the sweep of expired shares. Every line it
//! writes goes through `trailshare::telemetry` (JSON).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use provisioner::Provisioner;
use serde_json::Value;
use trailshare::aws::{
    load_sdk_config, IamRoles, S3Activity, S3Runs, SecretsManagerSecret, SqsQueue,
};
use trailshare::config::Config;
use trailshare::telemetry::{self, refuse_to_start};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env().unwrap_or_else(refuse_to_start);
    let secret_arn = config.share_secret_arn().unwrap_or_else(refuse_to_start);
    let sdk = load_sdk_config().await;
    // The key that seals every share record and route: read once per cold
    // start; without it no share could be written or believed.
    let secret = SecretsManagerSecret::new(&sdk, secret_arn);
    let key = trailshare::seal::load(&secret)
        .await
        .unwrap_or_else(refuse_to_start);
    // The forwarder's queue, where backfill work goes (unset: backfill 503).
    let queue = config
        .forwarder_queue_url
        .as_ref()
        .map(|url| SqsQueue::new(&sdk, url));
    // Where backfill runs are kept (unset: runs are not kept, GET 503).
    let runs = config
        .backfill_bucket
        .as_ref()
        .map(|bucket| S3Runs::new(&sdk, bucket));
    // Where share activity is read back (unset: GET …/activity 503).
    let activity = config
        .activity_bucket
        .as_ref()
        .map(|bucket| S3Activity::new(&sdk, bucket));
    let iam = IamRoles::from_sdk(&sdk);
    // The same IAM client looks up an administrator's role path.
    let mut provisioner = Provisioner::new(iam.clone(), config, key)
        .with_queue(queue)
        .with_role_paths(iam);
    if let Some(runs) = runs {
        provisioner = provisioner.with_runs(runs);
    }
    if let Some(activity) = activity {
        provisioner = provisioner.with_activity(activity);
    }
    let provisioner = &provisioner;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(provisioner.handle_invocation(event.payload).await?)
    }))
    .await
}
