//! Options every subcommand takes, and the AWS configuration they select.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Options shared by every subcommand.
#[derive(clap::Args, Clone, Debug)]
pub struct Global {
    /// Named profile from ~/.aws/config (SSO, role chains and
    /// credential_process work as in the AWS CLI) [env: AWS_PROFILE]
    #[arg(long, global = true, help_heading = "Global options")]
    pub profile: Option<String>,
    /// AWS region [env: AWS_REGION; default: the profile's region]
    #[arg(long, global = true, help_heading = "Global options")]
    pub region: Option<String>,
    /// Print JSON for scripts instead of tables and summaries
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
}

impl Global {
    /// The standard credential chain (environment, profiles, SSO, container
    /// and instance roles), narrowed by `--profile` and `--region`.
    /// `AWS_ENDPOINT_URL` is honoured, as by every AWS SDK.
    pub async fn sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        loader.load().await
    }
}
