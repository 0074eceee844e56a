//! What pull asks S3 and STS: who the caller is, the role, the folders and files.

use super::*;
use anyhow::anyhow;
use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::Client;
use trailshare::layout::{account_of_folder, is_organization_folder};

/// Credentials of the share role, refreshed as they expire (long pulls).
pub(crate) async fn assume(
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

/// `*`: the accounts under every account parent of the layout, and under
/// the organization folders found beside them.
pub(crate) async fn discover_accounts(
    s3: &Client,
    bucket: &str,
    layout: &Layout,
) -> anyhow::Result<Vec<String>> {
    let mut parents = layout.account_parents();
    let mut roots = Vec::new();
    let mut next = 0;
    while let Some(parent) = parents.get(next).cloned() {
        next += 1;
        for folder in common_prefixes(s3, bucket, &parent)
            .await
            .map_err(|e| anyhow!("discovering accounts: {e}"))?
        {
            if account_of_folder(&folder).is_some() {
                roots.push(folder);
            } else if parent == layout.root()
                && is_organization_folder(&folder)
                && !parents.contains(&folder)
            {
                parents.push(folder);
            }
        }
    }
    Ok(roots)
}

/// The "folders" directly under `prefix` (delimiter listing).
pub(crate) async fn common_prefixes(
    s3: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, String> {
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
pub(crate) async fn list_files(
    s3: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Remote>, String> {
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

pub(crate) fn listing_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    bucket: &str,
    prefix: &str,
    error: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    format!("listing s3://{bucket}/{prefix}: {}", sdk_error_text(&error))
}

/// AWS's code and message, or the transport's error chain.
pub(crate) fn sdk_error_text<
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
>(
    error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    let status = error.raw_response().map(|r| r.status().as_u16());
    match (error.code(), status) {
        (Some(code), _) => format!("{code}: {}", error.message().unwrap_or("")),
        (None, Some(status)) => format!("HTTP {status}"),
        (None, None) => DisplayErrorContext(error).to_string(),
    }
}
