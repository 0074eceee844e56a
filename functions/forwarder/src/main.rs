//! The forwarder Lambda: configuration and clients built once, then the
//! runtime loop hands each S3, EventBridge or SQS event to the forwarder.

use forwarder::Forwarder;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use trailshare::aws::{load_sdk_config, IamRoles, S3Objects};
use trailshare::config::Config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = Config::from_env().unwrap_or_else(|error| {
        eprintln!("{error}");
        std::process::exit(1);
    });
    let sdk = load_sdk_config().await;
    let forwarder = Forwarder::new(IamRoles::from_sdk(&sdk), S3Objects::new(&sdk), config);
    let forwarder = &forwarder;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        forwarder
            .handle_event(event.payload)
            .await
            .map_err(Error::from)
    }))
    .await
}
