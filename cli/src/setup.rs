//! `trailshare setup …`: what the log-archive admin sets up once, outside
//! the stack, for every share.

use std::process::ExitCode;

use serde_json::json;
use trailshare::key_policy::{key_policy_statement, KeyGrant};

use crate::global::Global;

/// Admin: set-up done once for all shares
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Print the key-policy statement that lets every share role decrypt
    /// the trail's log files
    ///
    /// A trail encrypted with SSE-KMS needs its key's policy to allow the
    /// share roles, or every grantee is refused. This one statement covers
    /// every share role under the share path, present and future: only
    /// kms:Decrypt, only through S3 in the key's Region, only for the
    /// named trails' files. Add it to the key policy once (in the key's
    /// account); no share needs an edit after that. The stack's output
    /// KeyPolicyStatement is the same statement for its TrailArn.
    #[command(after_help = KEY_POLICY_EXAMPLES)]
    KeyPolicy(KeyPolicyArgs),
    /// Print the member accounts' CloudFormation template of an
    /// organization share (for a service-managed StackSet)
    ///
    /// It creates the reader role (--principal-name) in each member account,
    /// allowed to assume the share role with its session tag; see
    /// docs/organization.md for the create-stack-set commands.
    MemberTemplate(MemberTemplateArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct MemberTemplateArgs {
    /// The organization share's role
    #[arg(long, value_name = "ARN")]
    pub role_arn: String,
    /// The reader role's name in each account (the share's principal_name)
    #[arg(long, value_name = "NAME", default_value = trailshare::member_template::DEFAULT_READER)]
    pub principal_name: String,
}

#[derive(clap::Args, Debug, Clone)]
pub struct KeyPolicyArgs {
    /// The trail bucket's KMS key
    #[arg(long, value_name = "ARN")]
    pub key_arn: String,
    /// A trail whose files the bucket holds (repeat for several; for an
    /// organization trail, the management account's trail)
    #[arg(long, value_name = "ARN", required = true)]
    pub trail_arn: Vec<String>,
    /// Account A, where the share roles are
    #[arg(long, value_name = "ID")]
    pub account: String,
    /// The share roles' IAM path (the stack's SharePath)
    #[arg(long, value_name = "PATH", default_value = "/trailshare/")]
    pub share_role_path: String,
}

const KEY_POLICY_EXAMPLES: &str = "\
Example:
  trailshare setup key-policy --account 111111111111 \\
      --key-arn arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab \\
      --trail-arn arn:aws:cloudtrail:us-east-1:999999999999:trail/aws-controltower-BaselineCloudTrail";

pub fn run(command: Command, global: &Global) -> anyhow::Result<ExitCode> {
    match command {
        Command::KeyPolicy(args) => key_policy(args, global),
        Command::MemberTemplate(args) => {
            match trailshare::member_template::member_template(&args.role_arn, &args.principal_name)
            {
                Ok(template) => {
                    println!("{}", serde_json::to_string_pretty(&template)?);
                    Ok(ExitCode::SUCCESS)
                }
                Err(invalid) => {
                    eprintln!(
                        "error: --{}: {}",
                        invalid.field.replace('_', "-"),
                        invalid.message
                    );
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

fn key_policy(args: KeyPolicyArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let grant = KeyGrant {
        account: &args.account,
        share_role_path: &args.share_role_path,
        key_arn: &args.key_arn,
        trail_arns: &args.trail_arn,
    };
    let statement = match key_policy_statement(&grant) {
        Ok(statement) => statement,
        Err(invalid) => {
            // Bad input: exit 2, naming the option.
            eprintln!(
                "error: --{}: {}",
                invalid.field.replace('_', "-"),
                invalid.message
            );
            return Ok(ExitCode::from(2));
        }
    };
    if global.json {
        println!(
            "{}",
            json!({"key_arn": args.key_arn, "statement": statement})
        );
    } else {
        println!("{}", serde_json::to_string_pretty(&statement)?);
        eprintln!(
            "Add this statement to the key policy of {} (its Statement list).",
            args.key_arn
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(subcommand)]
        command: Command,
    }

    #[test]
    fn a_trail_is_required_and_the_path_has_a_default() {
        let base = [
            "t",
            "key-policy",
            "--account",
            "111111111111",
            "--key-arn",
            "arn:aws:kms:us-east-1:999999999999:key/k",
        ];
        assert!(Wrapper::try_parse_from(base).is_err());
        let parsed = Wrapper::try_parse_from(base.iter().copied().chain([
            "--trail-arn",
            "arn:aws:cloudtrail:us-east-1:999999999999:trail/t",
        ]))
        .unwrap();
        let Command::KeyPolicy(args) = parsed.command else {
            panic!("key-policy parses as KeyPolicy");
        };
        assert_eq!(args.share_role_path, "/trailshare/");
        assert_eq!(args.trail_arn.len(), 1);
    }

    /// The stack's `KeyPolicyStatement` output, its `!Sub` resolved by hand
    /// for one deployment, is the statement this command prints: the two
    /// writings of it cannot drift apart.
    #[test]
    fn the_stacks_output_is_the_statement_this_command_prints() {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
                .expect("read template.yaml");
        let start = template
            .find("  KeyPolicyStatement:")
            .expect("the KeyPolicyStatement output");
        let folded: Vec<&str> = template[start..]
            .lines()
            .skip_while(|line| line.trim() != "- >-")
            .skip(1)
            .take_while(|line| !line.trim().starts_with("- KeyRegion"))
            .map(str::trim)
            .collect();
        // YAML's `>-` folds the lines with spaces.
        let key = "arn:aws:kms:eu-west-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let trail = "arn:aws:cloudtrail:eu-west-1:999999999999:trail/org";
        let resolved = folded
            .join(" ")
            .replace("${AWS::Partition}", "aws")
            .replace("${AWS::AccountId}", "111111111111")
            .replace("${SharePath}", "/logs/shares/")
            .replace("${KeyRegion}", "eu-west-1")
            .replace("${TrailArn}", trail);
        let output: serde_json::Value = serde_json::from_str(&resolved).expect(&resolved);
        let printed = key_policy_statement(&KeyGrant {
            account: "111111111111",
            share_role_path: "/logs/shares/",
            key_arn: key,
            trail_arns: &[trail.to_string()],
        })
        .unwrap();
        assert_eq!(output, printed);
    }
}
