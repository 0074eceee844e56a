//! Who the caller is, by STS: the grantee's own account.

use anyhow::anyhow;
use aws_config::SdkConfig;
use aws_sdk_s3::error::DisplayErrorContext;

/// The account of the caller's own credentials (the grantee's account).
pub(crate) async fn caller_account(sdk: &SdkConfig) -> anyhow::Result<String> {
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
