//! An organization share in the Control Tower layout (issue 24 item 6): B
//! and C read their own files through one role with `trailshare
//! credentials` behind a real AWS CLI profile, are denied each other's,
//! and an account excluded later is cut off, its sessions already issued
//! included.
//!
//! Who judges: every read below is the stand-in's (moto with
//! scripts/moto_server.py's fix 7, which keeps a session's tags and
//! resolves `${aws:PrincipalTag/trailshare:account}` in the policy IAM
//! holds). The stand-in judges no trust across accounts, so whether IAM
//! would issue each session with its tag is asked of the independent
//! evaluator (tests/iam-eval), on the trust read back from IAM.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use stand_in::{iam_eval, put_log, repo_root, s3, trail_file, unique, StandIn, A, B, C};

use super::layouts::{CONTROL_TOWER_MEMBERS, ORG};
use super::{step, Report};

/// A member account's side: a reader (an IAM user with the share's
/// identity policy) whose keys are the `default` profile, and the share's
/// `cli_profile` pasted as it is, in a config directory of its own.
struct Member {
    /// "B" or "C", for the transcript.
    label: &'static str,
    account: &'static str,
    /// The stand-in's endpoint.
    url: String,
    reader_arn: String,
    dir: PathBuf,
    profile: String,
}

impl Member {
    async fn new(
        aws: &StandIn,
        label: &'static str,
        account: &'static str,
        share: &Value,
    ) -> Member {
        use aws_credential_types::provider::ProvideCredentials;
        let name = unique("trailshare-reader");
        let setup = &share["grantee_setup"];
        let reader = aws.user(account, &name, &setup["identity_policy"]).await;
        let keys = reader.credentials_provider().expect("keys");
        let keys = keys.provide_credentials().await.expect("the reader's key");
        let dir = repo_root().join("demo-out").join(unique("org-member"));
        std::fs::create_dir_all(&dir).expect("member dir");
        let cli_profile = setup["cli_profile"].as_str().unwrap_or_default();
        std::fs::write(dir.join("config"), format!("{cli_profile}\n")).expect("config");
        let base = format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            keys.access_key_id(),
            keys.secret_access_key()
        );
        std::fs::write(dir.join("credentials"), base).expect("credentials");
        let profile = cli_profile
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("[profile "))
            .and_then(|l| l.strip_suffix(']'))
            .unwrap_or_default()
            .to_string();
        Member {
            label,
            account,
            url: aws.url.clone(),
            reader_arn: format!("arn:aws:iam::{account}:user/{name}"),
            dir,
            profile,
        }
    }

    /// `program` with this member's files only (nothing from this
    /// machine's AWS environment), `trailshare` on PATH (the profile's
    /// credential_process names it so), the stand-in as the endpoint.
    fn command(&self, program: PathBuf) -> Command {
        let bin_dir = std::env::current_exe().expect("exe").with_file_name("");
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new(program);
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
            command.env_remove(key);
        }
        command
            .env("PATH", path)
            .env("AWS_CONFIG_FILE", self.dir.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("credentials"))
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .current_dir(&self.dir);
        command
    }

    /// Runs the pinned AWS CLI with `profile`: whether it succeeded, and
    /// its output.
    fn aws(&self, profile: &str, args: &[&str]) -> (bool, String) {
        println!(
            "    {}$ aws --profile {profile} {}",
            self.label,
            args.join(" ")
        );
        let out = self
            .command(repo_root().join(".venv-awscli/bin/aws"))
            .args(["--profile", profile])
            .args(args)
            .output()
            .expect("run the AWS CLI");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            println!("      {line}");
        }
        (out.status.success(), text)
    }

    /// `aws s3 cp` of `key` into this member's directory: read, denied
    /// (S3's 403, not any other failure), or something else.
    fn read(&self, profile: &str, trail: &str, key: &str) -> &'static str {
        let to = unique("read");
        let from = format!("s3://{trail}/{key}");
        let (ok, text) = self.aws(profile, &["s3", "cp", "--no-progress", &from, &to]);
        match (ok, self.dir.join(&to).is_file()) {
            (true, true) => "read",
            _ if text.contains("(403)") || text.contains("AccessDenied") => "denied",
            _ => "failed",
        }
    }

    /// Keeps a session the profile's credential process issues now, as
    /// the static profile `issued` (what a SIEM holding a session has).
    fn keep_session(&self, role: &str) -> bool {
        println!(
            "    {}$ trailshare credentials --role-arn {role}  (kept as profile issued)",
            self.label
        );
        let trailshare = std::env::current_exe()
            .expect("exe")
            .with_file_name("trailshare");
        let out = self
            .command(trailshare)
            .args(["credentials", "--role-arn", role])
            .output();
        let keys: Value = out.map_or(Value::Null, |o| {
            serde_json::from_slice(&o.stdout).unwrap_or_default()
        });
        let section = format!(
            "\n[profile issued]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            keys["AccessKeyId"].as_str().unwrap_or_default(),
            keys["SecretAccessKey"].as_str().unwrap_or_default(),
            keys["SessionToken"].as_str().unwrap_or_default()
        );
        let config = self.dir.join("config");
        let text = std::fs::read_to_string(&config).unwrap_or_default() + &section;
        keys["SessionToken"].is_string() && std::fs::write(config, text).is_ok()
    }
}

/// The evaluator's decision on the AssumeRole a member's reader makes with
/// `tag` (`sts:AssumeRole` and `sts:TagSession`, as IAM asks both): the
/// request context as AWS builds it, the reader's identity policy, and
/// the trust IAM holds. The reader's account is stated to be in `ORG`.
fn issued(trust: &Value, share: &Value, reader: &str, tag: &str) -> bool {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let context = json!({"aws:PrincipalArn": reader, "aws:PrincipalOrgID": ORG,
        "aws:RequestTag/trailshare:account": tag, "aws:TagKeys": ["trailshare:account"],
        "aws:CurrentTime": now});
    let cases: Vec<Value> = ["sts:AssumeRole", "sts:TagSession"]
        .iter()
        .map(|action| {
            json!({"name": format!("{reader} {action} {tag}"),
                "identityPolicies": [share["grantee_setup"]["identity_policy"]], "resourcePolicy": trust,
                "request": {"principal": reader, "action": action, "resource": share["role_arn"],
                            "resourceAccount": A, "context": context}})
        })
        .collect();
    iam_eval(&json!(cases)).iter().all(|d| d == "Allowed")
}

/// The share role's trust as IAM holds it (URL-encoded by the API).
pub(crate) async fn trust(aws: &StandIn, role: &str) -> Value {
    let name = role.rsplit('/').next().unwrap_or_default();
    let iam = aws_sdk_iam::Client::new(&aws.admin(A).await);
    let text = iam.get_role().role_name(name).send().await.ok();
    let text = text.and_then(|r| r.role?.assume_role_policy_document);
    let text = text.unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(&text).decode_utf8_lossy();
    serde_json::from_str(&decoded).unwrap_or_default()
}

pub(crate) async fn organization_step(report: &mut Report, aws: &StandIn, c_bucket: &str) {
    step("Organization share (Control Tower layout): B and C read their own files through one role, `trailshare credentials` behind an AWS CLI profile; B is excluded later");
    let layout = &CONTROL_TOWER_MEMBERS;
    let stack = layout.deploy(aws, c_bucket).await;
    let trail = &stack.trail;
    let a_s3 = s3(&aws.admin(A).await);
    let keys = [layout.key(B, 1), layout.key(C, 1)];
    for (account, key) in [(B, &keys[0]), (C, &keys[1])] {
        put_log(&a_s3, trail, key, trail_file(account)).await;
        println!("    s3://{trail}/{key}");
    }
    let body = json!({"name": "members", "organization": {}});
    let (status, share) = stack.lambdas.api("POST", "/shares", Some(body));
    let role = share["role_arn"].as_str().unwrap_or_default().to_string();
    let profile = share["grantee_setup"]["cli_profile"]
        .as_str()
        .unwrap_or_default();
    println!("    {}", profile.replace('\n', "\n    "));
    report.check(
        status == 201 && profile.contains("credential_process = trailshare credentials --role-arn"),
        &format!("POST /shares members (ORGANIZATION_ID={ORG}) -> {status}: one role {role}, grantee_setup.cli_profile above"),
    );
    let b = Member::new(aws, "B", B, &share).await;
    let c = Member::new(aws, "C", C, &share).await;
    println!("    judged by the evaluator (the stand-in judges no trust across accounts): the trust IAM holds");
    let trust = trust(aws, &role).await;
    let own = issued(&trust, &share, &b.reader_arn, B) && issued(&trust, &share, &c.reader_arn, C);
    let forged = issued(&trust, &share, &c.reader_arn, B);
    let verdict = |issued: bool| if issued { "issued" } else { "refused" };
    report.check(
        own && !forged,
        &format!("AssumeRole tagged trailshare:account = the reader's own account (B's, C's) -> {}; C's reader asking for B's tag -> {}", verdict(own), verdict(forged)),
    );
    println!("    judged by the stand-in (moto + scripts/moto_server.py fix 7: the session's tag resolves ${{aws:PrincipalTag/trailshare:account}}):");
    reads(report, trail, &role, &keys, [&b, &c]);
    let kept = b.keep_session(&role);
    let before = b.read("issued", trail, &keys[0]);
    let body = json!({"organization": {"exclude_accounts": [B]}});
    let (status, _) = stack.lambdas.api("PUT", "/shares/members", Some(body));
    report.check(
        status == 200 && kept && before == "read",
        &format!("PUT /shares/members with exclude_accounts [B] -> {status} (B's session kept before it: {before})"),
    );
    let old = b.read("issued", trail, &keys[0]);
    let new = b.read(&b.profile, trail, &keys[0]);
    let c_own = c.read(&c.profile, trail, &keys[1]);
    report.check(
        old == "denied" && new == "denied" && c_own == "read",
        &format!("after the exclusion: B's session issued before -> {old}, B's new session -> {new}; C still reads its own -> {c_own}"),
    );
}

/// Each member reads its own file and lists its own CloudTrail folder
/// through the profile, and is denied the other's file.
fn reads(report: &mut Report, trail: &str, role: &str, keys: &[String; 2], members: [&Member; 2]) {
    let role_name = role.rsplit('/').next().unwrap_or_default();
    for (i, member) in members.iter().enumerate() {
        let (ok, who) = member.aws(
            &member.profile,
            &["sts", "get-caller-identity", "--output", "text"],
        );
        let folder = keys[i].rsplit_once("/us-east-1/").map_or("", |(f, _)| f);
        let session = ok && who.contains(&format!("assumed-role/{role_name}/"));
        let (listed, text) = member.aws(
            &member.profile,
            &[
                "s3",
                "ls",
                &format!("s3://{trail}/{folder}/"),
                "--recursive",
            ],
        );
        let own = member.read(&member.profile, trail, &keys[i]);
        let other = member.read(&member.profile, trail, &keys[1 - i]);
        report.check(
            session && listed && text.contains(&keys[i]) && own == "read" && other == "denied",
            &format!("{} ({}) lists and reads through the share role's session: its own file -> {own}, the other member's -> {other}", member.label, member.account),
        );
    }
}
