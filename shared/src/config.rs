//! Configuration from the environment, checked once at start-up so that a
//! bad deployment fails loudly, naming the variable, before any request.

mod dead_letter;

pub use dead_letter::DeadLetter;

use crate::ids::{
    arn_account, is_account_id, is_admin_entry, is_bucket_name, is_iam_path, is_kms_key_arn,
    is_organization_id, is_trail_arn, notify_target_account, role_account,
};

/// Everything both functions read from their environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TRAIL_BUCKET`: the central log bucket.
    pub trail_bucket: String,
    /// `TRAIL_PREFIX`: the trail's key prefix, without leading or trailing `/`.
    pub trail_prefix: Option<String>,
    /// `ORGANIZATION_ID`: grants then also cover `AWSLogs/<org>/<acct>/`.
    pub organization_id: Option<String>,
    /// `KMS_KEY_ARN`: the trail's SSE-KMS key.
    pub kms_key_arn: Option<String>,
    /// `SHARE_ROLE_PATH`: the IAM path that fences every share role.
    pub share_role_path: String,
    /// `PERMISSIONS_BOUNDARY_ARN`: set as every share role's boundary.
    pub permissions_boundary_arn: Option<String>,
    /// `SHARE_CACHE_SECONDS`: how long the forwarder trusts its share list.
    pub share_cache_seconds: u64,
    /// `FORWARDER_ROLE_ARN`: the forwarder's role, named in the destination
    /// bucket policy that copy-mode grantees are told to add.
    pub forwarder_role_arn: Option<String>,
    /// `TRAIL_ARN`: the encryption context of every log file of an
    /// organization trail (members' files carry the management trail's ARN).
    pub trail_arn: Option<String>,
    /// `ADMIN_PRINCIPALS` (provisioner): who may change shares; empty: nobody.
    pub admin_principals: Vec<String>,
    /// `GRANTEE_ACCOUNTS` (provisioner): the only accounts that may be
    /// grantees; empty: any.
    pub grantee_accounts: Vec<String>,
    /// `COPY_DESTINATION_BUCKETS` (provisioner): the buckets the forwarder may
    /// write to with its own credentials. Set but empty (the template's
    /// default) allows none; unset: not checked.
    pub copy_destination_buckets: Option<Vec<String>>,
    /// `COPY_WRITER_ROLE_ARNS` (provisioner): the writer roles the forwarder
    /// may assume. Set but empty allows none; unset: not checked.
    pub copy_writer_role_arns: Option<Vec<String>>,
    /// `NOTIFICATION_TARGET_ARNS` (provisioner): the SQS queues and SNS
    /// topics the forwarder may send to; a share naming another is a 400.
    /// Set but empty (the template's default) allows none: the template
    /// then grants the forwarder no send at all. Unset: not checked.
    pub notification_target_arns: Option<Vec<String>>,
    /// `FORWARDER_QUEUE_URL` (both): the forwarder's SQS queue, where
    /// backfill work is queued and fans out; `None`: backfill is a 503.
    pub forwarder_queue_url: Option<String>,
    /// The trail bucket's Region, named in the grantee's CLI profile:
    /// `TRAIL_BUCKET_REGION`, else the trail key's Region (an SSE-KMS key
    /// lives in its bucket's Region), else the function's own `AWS_REGION`
    /// (the template deploys in the bucket's Region).
    pub trail_bucket_region: Option<String>,
    /// `SHARE_SECRET_ARN` (both): the Secrets Manager secret that keys the
    /// seals of share records and routes. Both functions refuse to start
    /// without it ([`Config::share_secret_arn`]).
    pub share_secret_arn: Option<String>,
    /// `BACKFILL_BUCKET` (both): where each backfill run keeps its counts
    /// (one sealed object per run); `None`: runs are carried out, not
    /// counted, and `GET …/backfill/{id}` is a 503.
    pub backfill_bucket: Option<String>,
    /// `DEAD_LETTER_QUEUE_URL` and `MAX_RECEIVES` (forwarder): on a
    /// message's last receive the forwarder dead-letters it itself, with
    /// attributes naming what failed; `None`: the queue's redrive alone.
    pub dead_letter: Option<DeadLetter>,
    /// `ACTIVITY_BUCKET` (both): where the forwarder writes share activity
    /// (DESIGN.md "Activity") and the provisioner reads it back; `None`:
    /// activity is not extracted and `GET …/activity` is a 503.
    pub activity_bucket: Option<String>,
    /// `OWNER_ACCOUNT` (forwarder): account A, whose own log files carry
    /// the activity; `None`: the stack's own account ([`Config::activity_owner`]).
    pub owner_account: Option<String>,
}

/// A missing or malformed variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn fail(variable: &'static str, problem: &str) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.to_string(),
    }
}

/// `TRAIL_PREFIX` becomes part of policy resources: no leading, trailing or
/// doubled `/`, and none of a policy's wildcards or variables.
fn check_prefix(prefix: &str) -> Result<(), ConfigError> {
    if prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
        return Err(fail(
            "TRAIL_PREFIX",
            "must not start or end with '/' or contain '//'",
        ));
    }
    if prefix.chars().any(|c| c.is_control() || "*?$".contains(c)) {
        return Err(fail("TRAIL_PREFIX", "must not contain control characters, '*', '?' or '$' (they are wildcards or variables in policies)"));
    }
    Ok(())
}

fn is_managed_policy_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws:iam::") && arn.contains(":policy/") && arn_account(arn).is_some()
}

/// The environment as `from_lookup` reads it: an empty value is unset.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|value| !value.is_empty())
    }

    /// An optional variable that, when set, must be `valid`.
    fn checked(
        &self,
        name: &'static str,
        valid: impl Fn(&str) -> bool,
        problem: &str,
    ) -> Result<Option<String>, ConfigError> {
        match self.get(name) {
            Some(value) if !valid(&value) => Err(fail(name, problem)),
            value => Ok(value),
        }
    }

    /// A comma-separated list, every item `valid`; `None` when unset or
    /// holding no item.
    fn list(
        &self,
        name: &'static str,
        valid: impl Fn(&str) -> bool,
        what: &str,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let items: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect();
        match items.iter().find(|item| !valid(item)) {
            Some(bad) => Err(fail(name, &format!("item {bad:?} is not {what}"))),
            None => Ok((!items.is_empty()).then_some(items)),
        }
    }

    /// A list of what the template grants the forwarder: set but empty (the
    /// template's default) allows none, since the template then grants
    /// nothing; unset is not checked.
    fn allow_list(
        &self,
        name: &'static str,
        valid: impl Fn(&str) -> bool,
        what: &str,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        Ok(self
            .list(name, valid, what)?
            .or_else(|| (self.0)(name).map(|_| Vec::new())))
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`; an empty value counts as unset, so a
    /// template can pass an empty parameter straight through.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env(&lookup);
        let mut config = Config::trail(&env)?;
        config.read_functions(&env)?;
        config.read_grants(&env)?;
        Ok(config)
    }

    /// The trail's bucket, layout and encryption; every other setting at
    /// its default.
    fn trail(env: &Env<'_>) -> Result<Config, ConfigError> {
        let trail_bucket = env
            .get("TRAIL_BUCKET")
            .ok_or_else(|| fail("TRAIL_BUCKET", "is required"))?;
        if !is_bucket_name(&trail_bucket) {
            return Err(fail("TRAIL_BUCKET", "is not a valid S3 bucket name"));
        }
        let trail_prefix = env.get("TRAIL_PREFIX");
        if let Some(prefix) = &trail_prefix {
            check_prefix(prefix)?;
        }
        let organization_id = env.checked(
            "ORGANIZATION_ID",
            is_organization_id,
            "must be o- followed by 10-32 lowercase letters or digits",
        )?;
        let kms_key_arn = env.checked(
            "KMS_KEY_ARN",
            is_kms_key_arn,
            "must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
        )?;
        let trail_arn = env.checked(
            "TRAIL_ARN",
            is_trail_arn,
            "must be a CloudTrail trail ARN (arn:aws:cloudtrail:<region>:<account>:trail/<name>)",
        )?;
        if trail_arn.is_none() && kms_key_arn.is_some() && organization_id.is_some() {
            return Err(fail(
                "TRAIL_ARN",
                "is required when KMS_KEY_ARN and ORGANIZATION_ID are both set: an organization trail encrypts every member's files with the management account's trail ARN as encryption context",
            ));
        }
        let trail_bucket_region = env
            .checked(
                "TRAIL_BUCKET_REGION",
                is_region,
                "must be an AWS Region such as us-east-1",
            )?
            .or_else(|| {
                kms_key_arn
                    .as_deref()
                    .and_then(|arn| arn.split(':').nth(3))
                    .map(str::to_string)
            })
            .or_else(|| env.get("AWS_REGION"))
            .filter(|region| is_region(region));
        Ok(Config {
            trail_bucket,
            trail_prefix,
            organization_id,
            kms_key_arn,
            trail_arn,
            trail_bucket_region,
            share_role_path: "/trailshare/".to_string(),
            permissions_boundary_arn: None,
            share_cache_seconds: 60,
            forwarder_role_arn: None,
            forwarder_queue_url: None,
            share_secret_arn: None,
            admin_principals: Vec::new(),
            grantee_accounts: Vec::new(),
            copy_destination_buckets: None,
            copy_writer_role_arns: None,
            notification_target_arns: None,
            backfill_bucket: None,
            dead_letter: None,
            activity_bucket: None,
            owner_account: None,
        })
    }

    /// What the functions are and use: the share roles' path and boundary,
    /// the forwarder's role and queue, the share secret, the cache time.
    fn read_functions(&mut self, env: &Env<'_>) -> Result<(), ConfigError> {
        let share_role_path = env
            .get("SHARE_ROLE_PATH")
            .unwrap_or_else(|| "/trailshare/".to_string());
        if !is_iam_path(&share_role_path) || share_role_path == "/" {
            return Err(fail(
                "SHARE_ROLE_PATH",
                "must be an IAM path like /trailshare/ (not /)",
            ));
        }
        let permissions_boundary_arn = env.checked(
            "PERMISSIONS_BOUNDARY_ARN",
            is_managed_policy_arn,
            "must be a managed policy ARN (arn:aws:iam::<account>:policy/<name>)",
        )?;
        let share_cache_seconds = match env.get("SHARE_CACHE_SECONDS") {
            None => 60,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|seconds| *seconds <= 3600)
                .ok_or_else(|| {
                    fail(
                        "SHARE_CACHE_SECONDS",
                        "must be a whole number of seconds from 0 to 3600",
                    )
                })?,
        };
        let forwarder_role_arn = env.checked(
            "FORWARDER_ROLE_ARN",
            |arn| role_account(arn).is_some(),
            "must be an IAM role ARN",
        )?;
        let forwarder_queue_url = env.checked(
            "FORWARDER_QUEUE_URL",
            |url| url.starts_with("https://") || url.starts_with("http://"),
            "must be an SQS queue URL",
        )?;
        let share_secret_arn = env.checked(
            "SHARE_SECRET_ARN",
            |arn| arn.starts_with("arn:") && arn.contains(":secretsmanager:"),
            "must be a Secrets Manager secret ARN",
        )?;
        self.share_role_path = share_role_path;
        self.permissions_boundary_arn = permissions_boundary_arn;
        self.share_cache_seconds = share_cache_seconds;
        self.forwarder_role_arn = forwarder_role_arn;
        self.forwarder_queue_url = forwarder_queue_url;
        self.share_secret_arn = share_secret_arn;
        self.dead_letter = dead_letter::read(env)?;
        // Where backfill runs keep their counts.
        self.backfill_bucket = env.checked(
            "BACKFILL_BUCKET",
            is_bucket_name,
            "is not a valid S3 bucket name",
        )?;
        self.activity_bucket = env.checked(
            "ACTIVITY_BUCKET",
            is_bucket_name,
            "is not a valid S3 bucket name",
        )?;
        self.owner_account = env.checked(
            "OWNER_ACCOUNT",
            is_account_id,
            "must be a 12-digit AWS account id",
        )?;
        Ok(())
    }

    /// Who may grant and what a share may name: administrators, grantee
    /// accounts and the delivery allow-lists.
    fn read_grants(&mut self, env: &Env<'_>) -> Result<(), ConfigError> {
        let admin_principals = env
            .list(
                "ADMIN_PRINCIPALS",
                is_admin_entry,
                "an IAM user or role ARN (a '*' only at the end of the name)",
            )?
            .unwrap_or_default();
        let grantee_accounts = env
            .list("GRANTEE_ACCOUNTS", is_account_id, "a 12-digit account id")?
            .unwrap_or_default();
        let copy_destination_buckets = env.allow_list(
            "COPY_DESTINATION_BUCKETS",
            is_bucket_name,
            "an S3 bucket name",
        )?;
        let copy_writer_role_arns = env.allow_list(
            "COPY_WRITER_ROLE_ARNS",
            |arn| role_account(arn).is_some(),
            "an IAM role ARN",
        )?;
        let notification_target_arns = env.allow_list(
            "NOTIFICATION_TARGET_ARNS",
            |arn| {
                notify_target_account(arn, "sqs").is_some()
                    || notify_target_account(arn, "sns").is_some()
            },
            "an SQS queue or SNS topic ARN",
        )?;
        self.admin_principals = admin_principals;
        self.grantee_accounts = grantee_accounts;
        self.copy_destination_buckets = copy_destination_buckets;
        self.copy_writer_role_arns = copy_writer_role_arns;
        self.notification_target_arns = notification_target_arns;
        Ok(())
    }

    /// The share secret's ARN: required by both functions, which cannot
    /// seal or believe a share without it.
    pub fn share_secret_arn(&self) -> Result<&str, ConfigError> {
        self.share_secret_arn.as_deref().ok_or(ConfigError {
            variable: "SHARE_SECRET_ARN",
            problem: "is required".into(),
        })
    }

    /// The key prefix under which the trail writes, ending in `AWSLogs/`.
    pub fn logs_root(&self) -> String {
        self.layout().root().to_string()
    }

    /// The trail bucket's folder layout (with the organization layout when
    /// `ORGANIZATION_ID` is set).
    pub fn layout(&self) -> crate::layout::Layout {
        crate::layout::Layout::new(
            self.trail_prefix.as_deref(),
            self.organization_id.as_deref(),
        )
    }
}

impl Config {
    /// What `ADMIN_PRINCIPALS` says of `caller`: a role session is an
    /// administrator only once its role's path is known to match.
    pub fn admin_match(&self, caller: &str) -> crate::admin::AdminMatch {
        crate::admin::admin_match(&self.admin_principals, caller)
    }

    /// Whether `account` may be a grantee (`GRANTEE_ACCOUNTS`, empty: any).
    pub fn grantee_allowed(&self, account: &str) -> bool {
        self.grantee_accounts.is_empty() || self.grantee_accounts.iter().any(|a| a == account)
    }

    /// The stack's own account (A: the share roles' and the trail bucket's),
    /// as the ARNs of its permissions boundary or its share secret name it
    /// (the template makes both in the stack's account).
    pub fn stack_account(&self) -> Option<&str> {
        self.permissions_boundary_arn
            .as_deref()
            .or(self.share_secret_arn.as_deref())
            .and_then(arn_account)
    }

    /// Account A, whose own log files carry share activity: `OWNER_ACCOUNT`,
    /// else the stack's own account (the share roles' account).
    pub fn activity_owner(&self) -> Option<&str> {
        self.owner_account
            .as_deref()
            .or_else(|| self.stack_account())
    }

    /// What the forwarder needs to extract activity: `None` when
    /// `ACTIVITY_BUCKET` is unset; an error naming `OWNER_ACCOUNT` when it
    /// is set but account A cannot be known.
    pub fn activity(&self) -> Result<Option<(String, crate::activity::ShareRoles)>, ConfigError> {
        let Some(bucket) = &self.activity_bucket else {
            return Ok(None);
        };
        let account = self.activity_owner().ok_or_else(|| {
            fail(
                "OWNER_ACCOUNT",
                "is required with ACTIVITY_BUCKET when the stack's account is not known from SHARE_SECRET_ARN or PERMISSIONS_BOUNDARY_ARN",
            )
        })?;
        let roles = crate::activity::ShareRoles {
            account: account.to_string(),
            path: self.share_role_path.clone(),
            trail_bucket: self.trail_bucket.clone(),
            known: None,
        };
        Ok(Some((bucket.clone(), roles)))
    }

    /// The Region of the trail's key, which is the bucket's (SSE-KMS keys
    /// must be in the bucket's Region): `kms:ViaService` names S3 there.
    pub fn kms_region(&self) -> Option<&str> {
        self.kms_key_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(3))
    }
}

/// An AWS Region name (`us-east-1`, `us-gov-west-1`): it is written into
/// the grantee's CLI profile, so nothing else may pass.
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

#[cfg(test)]
mod tests;
