//! The `trailshare` CLI on both sides.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use aws_credential_types::provider::ProvideCredentials;
use serde_json::{json, Value};
use stand_in::api_gateway::{handler, ApiGateway, TestKey};
use stand_in::{unique, StandIn, A, C};

use super::{analyst, step, Report};

/// The `trailshare` CLI on both sides: C's analyst pulls C's log files with
/// one command; A's admin lists the shares through a local API Gateway
/// stand-in (SigV4 checked) in front of the provisioner Lambda.
/// The `trailshare` binary built beside the demo, run with the stand-in's
/// Region and no profile; prints its output indented.
pub(crate) struct Trailshare(PathBuf);

impl Trailshare {
    pub(crate) fn find() -> Option<Trailshare> {
        let exe = std::env::current_exe().ok()?;
        let bin = exe.parent()?.join("trailshare");
        bin.is_file().then_some(Trailshare(bin))
    }

    /// Runs `trailshare args…` with `env`, printing what it prints;
    /// (succeeded, stdout).
    pub(crate) fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        println!("    $ trailshare {}", args.join(" "));
        let out = self.output(args, env);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        for line in stdout
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
        {
            println!("      {line}");
        }
        (out.status.success(), stdout)
    }

    /// The same, printing nothing (for answers the demo checks).
    pub(crate) fn run_quiet(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        let out = self.output(args, env);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success(), stdout)
    }

    fn output(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        Command::new(&self.0)
            .args(args)
            .env_remove("AWS_PROFILE")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .output()
            .expect("run trailshare")
    }
}

/// A's administrator's access key, known to the API Gateway stand-in.
pub(crate) const ADMIN_KEY: (&str, &str) = ("AKIADEMOPLATFORMADMN", "demo-admin-secret");

/// The API Gateway stand-in (SigV4 checked, A's admin's key) in front of the
/// provisioner Lambda on the runtime interface at `lambdas_port`.
pub(crate) fn admin_gateway(lambdas_port: u16) -> ApiGateway {
    let url =
        format!("http://127.0.0.1:{lambdas_port}/2015-03-31/functions/provisioner/invocations");
    ApiGateway::start(
        vec![TestKey::new(
            ADMIN_KEY.0,
            ADMIN_KEY.1,
            &format!("arn:aws:iam::{A}:user/platform-admin"),
        )],
        handler(move |event: Value| {
            let url = url.clone();
            async move {
                let mut curl = Command::new("curl")
                    .args(["-sS", "-X", "POST", "--data-binary", "@-", &url])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("curl");
                let _ = curl
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(event.to_string().as_bytes());
                let out = curl.wait_with_output().expect("curl output");
                serde_json::from_slice(&out.stdout)
                    .unwrap_or(json!({"statusCode": 502, "body": ""}))
            }
        }),
    )
}

/// The `trailshare` CLI on both sides: C's analyst pulls C's log files with
/// one command; A's admin lists the shares through a local API Gateway
/// stand-in (SigV4 checked) in front of the provisioner Lambda.
pub(crate) async fn cli_step(
    report: &mut Report,
    aws: &StandIn,
    gateway: &ApiGateway,
    trail: &str,
    c_share: &Value,
    c_key: &str,
) {
    step("The trailshare CLI: C's analyst pulls C's logs; A's admin lists the shares");
    let (Some(bin), Some(role)) = (Trailshare::find(), c_share["role_arn"].as_str()) else {
        report.check(false, "trailshare binary beside demo, and C's share");
        return;
    };
    let trailshare = |args: &[&str], env: &[(&str, &str)]| bin.run(args, env).0;

    let analyst = analyst(aws, C, c_share).await;
    let key = analyst
        .credentials_provider()
        .expect("credentials")
        .provide_credentials()
        .await
        .expect("the analyst's key");
    let dir = stand_in::repo_root()
        .join("demo-out")
        .join(unique("pull-c"));
    let to = dir.to_string_lossy().into_owned();
    let ok = trailshare(
        &[
            "pull",
            "--role-arn",
            role,
            "--bucket",
            trail,
            "--since",
            "2024-05-01",
            "--until",
            "2024-05-01",
            "--to",
            &to,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", key.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", key.secret_access_key()),
            ("AWS_ENDPOINT_URL", &aws.url),
        ],
    );
    let own = dir.join(c_key).is_file();
    let others = std::fs::read_dir(dir.join("AWSLogs"))
        .map(|d| d.count())
        .unwrap_or(0);
    report.check(
        ok && own && others == 1,
        &format!("trailshare pull as C -> C's log file in {to}, no other account's"),
    );

    let (id, secret) = ADMIN_KEY;
    let ok = trailshare(
        &["shares", "list", "--api", &gateway.url],
        &[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)],
    );
    let signed = gateway
        .seen()
        .iter()
        .all(|s| s.caller.is_some() && s.status == 200);
    report.check(
        ok && signed,
        "trailshare shares list as A's admin, SigV4-signed through the gateway -> 200",
    );
}
