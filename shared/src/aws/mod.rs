//! The thin AWS adapters: each port of `ports` implemented with the SDK.
//! Nothing here decides anything; it translates calls and classifies errors.

mod activity;
mod iam;
mod notify;
mod runs;
mod s3;
mod secret;
mod sqs;

pub use activity::S3Activity;
pub use iam::IamRoles;
pub use notify::AwsNotifier;
pub use runs::S3Runs;
pub use s3::S3Objects;
pub use secret::SecretsManagerSecret;
pub use sqs::SqsQueue;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::ports::{AwsError, ListedObject};

/// `GetObject`, with a missing object (or bucket) as `None` rather than an
/// error: the callers treat "gone" as an answer of its own.
pub(crate) async fn get_if_present(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<aws_sdk_s3::operation::get_object::GetObjectOutput>, AwsError> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => Ok(Some(out)),
        Err(error) => match classify("s3:GetObject", error) {
            AwsError::NotFound { .. } => Ok(None),
            other => Err(other),
        },
    }
}

/// A `GetObject` body, whole (callers bound its length first).
pub(crate) async fn read_body(
    body: aws_sdk_s3::primitives::ByteStream,
) -> Result<Vec<u8>, AwsError> {
    let bytes = body.collect().await.map_err(|e| AwsError::Failed {
        call: "s3:GetObject",
        message: e.to_string(),
    })?;
    Ok(bytes.into_bytes().to_vec())
}

/// A `PutObject` failure: a 404 on a write is the destination bucket,
/// never a source that is gone, so it is a rejection naming `NoSuchBucket`.
pub(crate) fn put_error<E>(error: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match classify("s3:PutObject", error) {
        AwsError::NotFound { call } => AwsError::Rejected {
            call,
            message: "NoSuchBucket".into(),
        },
        other => other,
    }
}

/// One object of a listing, as the ports see it.
pub(crate) fn listed(object: aws_sdk_s3::types::Object) -> Option<ListedObject> {
    Some(ListedObject {
        key: object.key?,
        etag: s3::unquote(object.e_tag),
        size: object.size.map(|s| s.max(0) as u64),
    })
}

/// Loads the shared SDK configuration once per process (region, credentials
/// and `AWS_ENDPOINT_URL` from the standard environment).
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// S3 against a local endpoint (the stand-in) needs path-style addressing.
/// A stalled request ends in time for the forwarder (60 s Lambda timeout) to
/// report exactly which records failed, rather than the whole batch timing out.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let local = sdk.endpoint_url().is_some();
    let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_millis(3100))
        .operation_attempt_timeout(std::time::Duration::from_secs(20))
        .operation_timeout(std::time::Duration::from_secs(45))
        .build();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(local)
            .timeout_config(timeouts)
            .build(),
    )
}

/// Sorts an SDK failure into the few kinds callers act on.
pub(crate) fn classify<E>(call: &'static str, error: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.code().unwrap_or_default().to_string();
    let message = match error.message() {
        Some(message) => format!("{code}: {message}"),
        None if !code.is_empty() => code.clone(),
        None => aws_smithy_error_chain(&error),
    };
    match (code.as_str(), status) {
        // A missing bucket is a setting to fix, not a missing object: it must
        // never pass for "the source is gone" (which is the only skip).
        ("NoSuchBucket", _) => AwsError::Rejected { call, message },
        ("NoSuchEntity" | "NoSuchKey" | "NotFound", _) | (_, Some(404)) => {
            AwsError::NotFound { call }
        }
        ("EntityAlreadyExists", _) => AwsError::AlreadyExists { call },
        (
            "Throttling"
            | "ThrottlingException"
            | "SlowDown"
            | "RequestLimitExceeded"
            | "TooManyRequestsException",
            _,
        )
        | (_, Some(429 | 503)) => AwsError::Throttled { call, message },
        (
            "AccessDenied"
            | "AccessDeniedException"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch",
            _,
        )
        | (_, Some(403)) => AwsError::Denied { call, message },
        // Other 4xx: the request as it stands will not succeed by retrying.
        (_, Some(400..=499)) => AwsError::Rejected { call, message },
        // 5xx, timeouts, resets, credential (STS) failures: transient.
        _ => AwsError::Failed { call, message },
    }
}

/// The full cause chain of an error without metadata (a timeout, a refused
/// connection), so the message says what actually happened.
fn aws_smithy_error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
