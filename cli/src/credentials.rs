//! `trailshare credentials`: an AWS CLI `credential_process` for an
//! organization share. Its role trusts the organization's principals only
//! when they tag the session with their own account
//! (`trailshare:account` = `${aws:PrincipalAccount}`), which a profile's
//! `role_arn` cannot do: this command looks up the caller's account, assumes
//! the role with that one tag (not transitive), and prints the credentials
//! in the documented format, so the AWS CLI, every SDK and SIEM tools that
//! read profiles use them unchanged.
//! ([Sourcing credentials with an external process](https://docs.aws.amazon.com/cli/v1/userguide/cli-configure-sourcing-external.html):
//! `Version` 1, `AccessKeyId`, `SecretAccessKey`, `SessionToken`,
//! `Expiration` in RFC 3339.)

use std::process::ExitCode;

use anyhow::anyhow;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_sts::operation::assume_role::builders::AssumeRoleFluentBuilder;
use aws_sdk_sts::types::Tag;
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use crate::global::Global;
use crate::sts::caller_account;

/// The session tag an organization share's trust requires.
pub const ACCOUNT_TAG: &str = "trailshare:account";

/// Grantee: credentials of an organization share's role (credential_process)
///
/// Put it in ~/.aws/config (grantee_setup.cli_profile gives this section):
///   [profile trailshare-members]
///   credential_process = trailshare credentials --role-arn ROLE_ARN
///   region = us-east-1
/// Base credentials come from the standard chain (or --profile).
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The organization share's role
    #[arg(long, value_name = "ARN")]
    pub role_arn: String,
    /// Session name (shows in the log-archive account's CloudTrail)
    #[arg(long, value_name = "NAME", default_value = "trailshare-credentials")]
    pub session_name: String,
    /// How long the credentials last (at most the share's max_session_seconds)
    #[arg(long, value_name = "SECONDS", default_value_t = 3600,
          value_parser = clap::value_parser!(i32).range(900..=43200))]
    pub duration_seconds: i32,
}

/// The `AssumeRole` request: the caller's account as the one session tag,
/// not transitive (a role chained from this session cannot pass it on).
fn tagged_assume_role(
    sts: &aws_sdk_sts::Client,
    args: &Args,
    account: &str,
) -> anyhow::Result<AssumeRoleFluentBuilder> {
    Ok(sts
        .assume_role()
        .role_arn(&args.role_arn)
        .role_session_name(&args.session_name)
        .duration_seconds(args.duration_seconds)
        .tags(Tag::builder().key(ACCOUNT_TAG).value(account).build()?))
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let mut base = global.sdk_config().await;
    // The AWS CLI runs a credential_process without the profile's region;
    // STS answers in every Region, so one is picked rather than failing.
    if base.region().is_none() {
        base = base
            .to_builder()
            .region(aws_config::Region::new("us-east-1"))
            .build();
    }
    let account = caller_account(&base).await?;
    let assumed = tagged_assume_role(&aws_sdk_sts::Client::new(&base), &args, &account)?
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "assuming {} with {ACCOUNT_TAG}={account}: {}",
                args.role_arn,
                DisplayErrorContext(e)
            )
        })?;
    let keys = assumed
        .credentials
        .ok_or_else(|| anyhow!("sts:AssumeRole returned no credentials"))?;
    let expiration = time::OffsetDateTime::from_unix_timestamp(keys.expiration.secs())?;
    println!(
        "{}",
        json!({
            "Version": 1,
            "AccessKeyId": keys.access_key_id,
            "SecretAccessKey": keys.secret_access_key,
            "SessionToken": keys.session_token,
            "Expiration": expiration.format(&Rfc3339)?,
        })
    );
    Ok(ExitCode::SUCCESS)
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

    #[test]
    fn the_request_carries_exactly_the_callers_account_tag_and_nothing_transitive() {
        let args = Wrapper::try_parse_from([
            "t",
            "--role-arn",
            "arn:aws:iam::111111111111:role/trailshare/trailshare-members",
        ])
        .unwrap()
        .args;
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
                .build(),
        );
        let request = tagged_assume_role(&sts, &args, "222222222222").unwrap();
        let input = request.as_input();
        let tags: Vec<(&str, &str)> = input
            .get_tags()
            .iter()
            .flatten()
            .map(|tag| (tag.key(), tag.value()))
            .collect();
        assert_eq!(tags, [("trailshare:account", "222222222222")]);
        assert_eq!(input.get_transitive_tag_keys(), &None);
        assert_eq!(input.get_duration_seconds(), &Some(3600));
        assert_eq!(
            input.get_role_session_name().as_deref(),
            Some("trailshare-credentials")
        );
        // Bounds clap enforces: STS's 900 s minimum, a role's 12 h maximum.
        for bad in ["60", "43201"] {
            assert!(
                Wrapper::try_parse_from(["t", "--role-arn", "r", "--duration-seconds", bad])
                    .is_err()
            );
        }
    }
}
