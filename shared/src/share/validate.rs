//! Validating a request body into a [`ShareSpec`]: every field checked,
//! every failure naming its field, unknown fields refused.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::*;

/// A share request's fields, listed once: serde refuses any other, naming
/// it; each value is checked by hand below, so every rejection says what
/// its field must be (`null` is the same as leaving the field out).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ShareRequest {
    pub(super) name: Option<Value>,
    pub(super) grantee_account: Option<Value>,
    pub(super) grantee_principals: Option<Value>,
    pub(super) log_accounts: Option<Value>,
    pub(super) external_id: Option<Value>,
    pub(super) max_session_seconds: Option<Value>,
    pub(super) expires_at: Option<Value>,
    pub(super) delivery: Option<Value>,
    pub(super) notify: Option<Value>,
    /// An organization share (see `organization`).
    pub(super) organization: Option<Value>,
}

/// `delivery`'s fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryRequest {
    mode: Option<Value>,
    bucket: Option<Value>,
    prefix: Option<Value>,
    role_arn: Option<Value>,
}

/// `notify`'s fields: exactly one of them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyRequest {
    queue_arn: Option<Value>,
    topic_arn: Option<Value>,
}

/// Reads a JSON object's fields into `T`; a field `T` does not list is an
/// `unknown_field` error naming it (after `parent`, e.g. `delivery.`).
pub(super) fn fields<T: DeserializeOwned>(
    object: &Map<String, Value>,
    parent: &str,
) -> Result<T, Invalid> {
    serde_path_to_error::deserialize(&Value::Object(object.clone())).map_err(|error| {
        let known = error.inner().to_string();
        let known = known.split_once(", ").map_or("", |(_, expected)| expected);
        Invalid::new(
            format!("{parent}{}", error.path()),
            "unknown_field",
            format!("is not a known field ({known})"),
        )
    })
}

/// Validates a request body. `path_name` is the `{name}` of `PUT
/// /shares/{name}`; `trail_bucket` is never a valid copy destination.
pub fn validate(
    body: &Value,
    path_name: Option<&str>,
    trail_bucket: &str,
) -> Result<ShareSpec, Invalid> {
    let object = body
        .as_object()
        .ok_or_else(|| Invalid::new("", "invalid_body", "the body must be a JSON object"))?;
    let request: ShareRequest = fields(object, "")?;
    if let Some(organization) = &request.organization {
        return super::organization::validate_share(
            &request,
            organization,
            path_name,
            trail_bucket,
        );
    }
    let grantee_account = match &request.grantee_account {
        None => return Err(Invalid::missing("grantee_account", "is required")),
        Some(value) => account_id(value, "grantee_account")?,
    };
    let grantee = grantee_account.as_str();
    let mut spec = ShareSpec {
        name: String::new(),
        grantee_principals: match &request.grantee_principals {
            None => vec![format!("arn:aws:iam::{grantee}:root")],
            Some(value) => principals(value, grantee)?,
        },
        log_accounts: match &request.log_accounts {
            None => vec![grantee_account.clone()],
            Some(value) => log_accounts(value)?,
        },
        external_id: request.external_id.as_ref().map(external_id).transpose()?,
        max_session_seconds: match &request.max_session_seconds {
            None => MIN_SESSION_SECONDS,
            Some(value) => session_seconds(value)?,
        },
        expires_at: request.expires_at.as_ref().map(expires_at).transpose()?,
        delivery: match &request.delivery {
            None => Delivery::None,
            Some(value) => delivery(value, trail_bucket, grantee)?,
        },
        notify: request
            .notify
            .as_ref()
            .map(|value| notify(value, grantee))
            .transpose()?,
        grantee_account: grantee_account.clone(),
        organization: None,
    };
    if spec.reads_third_party_logs() && spec.external_id.is_none() {
        return Err(Invalid::missing(
            "external_id",
            "is required when the role reads log files of accounts other than the grantee's",
        ));
    }
    spec.name = share_name(request.name.as_ref(), path_name, &spec)?;
    Ok(spec)
}

/// The share's name: the path's and the body's must agree; without either,
/// a share of the grantee's own logs is `account-<grantee>`.
pub(super) fn share_name(
    body_name: Option<&Value>,
    path_name: Option<&str>,
    spec: &ShareSpec,
) -> Result<String, Invalid> {
    let body_name = match body_name {
        None => None,
        Some(Value::String(name)) => {
            validate_name(name)?;
            Some(name.clone())
        }
        Some(_) => return Err(Invalid::value("name", "must be a string")),
    };
    match (path_name, body_name) {
        (Some(path), Some(body)) if path != body => {
            Err(Invalid::value("name", "differs from the name in the path"))
        }
        (Some(path), _) => {
            validate_name(path)?;
            Ok(path.to_string())
        }
        (None, Some(body)) => Ok(body),
        (None, None) if spec.organization.is_some() => Err(Invalid::missing(
            "name",
            "is required for organization shares",
        )),
        (None, None) if !spec.reads_third_party_logs() => {
            Ok(format!("account-{}", spec.grantee_account))
        }
        (None, None) => Err(Invalid::missing(
            "name",
            "is required for shares that read other accounts' log files",
        )),
    }
}

pub(super) fn session_seconds(value: &Value) -> Result<u32, Invalid> {
    value
        .as_u64()
        .filter(|s| (u64::from(MIN_SESSION_SECONDS)..=u64::from(MAX_SESSION_SECONDS)).contains(s))
        .map(|s| s as u32)
        .ok_or_else(|| {
            Invalid::value(
                "max_session_seconds",
                "must be a whole number from 3600 to 43200",
            )
        })
}

pub(super) fn account_id(value: &Value, field: &str) -> Result<String, Invalid> {
    match value.as_str() {
        Some(id) if is_account_id(id) => Ok(id.to_string()),
        _ => Err(Invalid::value(
            field,
            "must be a 12-digit AWS account id, as a string",
        )),
    }
}

pub(super) fn string_array<'a>(value: &'a Value, field: &str) -> Result<&'a Vec<Value>, Invalid> {
    match value.as_array() {
        Some(items) if !items.is_empty() => Ok(items),
        Some(_) => Err(Invalid::value(
            field,
            "must not be empty (leave it out for the default)",
        )),
        None => Err(Invalid::value(field, "must be an array of strings")),
    }
}

pub(super) fn no_duplicate(seen: &[String], item: &str, field: &str) -> Result<(), Invalid> {
    if seen.iter().any(|s| s == item) {
        return Err(Invalid::value(field, "is listed twice"));
    }
    Ok(())
}

fn principals(value: &Value, grantee: &str) -> Result<Vec<String>, Invalid> {
    let mut arns: Vec<String> = Vec::new();
    for (i, item) in string_array(value, "grantee_principals")?
        .iter()
        .enumerate()
    {
        let field = format!("grantee_principals[{i}]");
        let arn = item
            .as_str()
            .ok_or_else(|| Invalid::value(&field, "must be a string"))?;
        match principal_account(arn) {
            None => {
                return Err(Invalid::value(
                    &field,
                    "must be an IAM principal ARN: arn:aws:iam::<account>:root, :user/<name> or :role/<name>, no wildcards",
                ))
            }
            Some(account) if account != grantee => {
                return Err(Invalid::value(&field, format!("must be in the grantee account {grantee}")));
            }
            Some(_) => {}
        }
        no_duplicate(&arns, arn, &field)?;
        arns.push(arn.to_string());
    }
    Ok(arns)
}

fn log_accounts(value: &Value) -> Result<Vec<String>, Invalid> {
    let items = string_array(value, "log_accounts")?;
    let mut accounts: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("log_accounts[{i}]");
        match item.as_str() {
            Some(ALL_ACCOUNTS) if items.len() == 1 => accounts.push(ALL_ACCOUNTS.to_string()),
            Some(ALL_ACCOUNTS) => {
                return Err(Invalid::value(
                    &field,
                    "\"*\" (every account) cannot be combined with account ids",
                ));
            }
            _ => {
                let account = account_id(item, &field)?;
                no_duplicate(&accounts, &account, &field)?;
                accounts.push(account);
            }
        }
    }
    Ok(accounts)
}

/// 2–1224 characters of `A-Za-z0-9+=,.@:/-`, as STS allows.
fn external_id(value: &Value) -> Result<String, Invalid> {
    match value.as_str() {
        Some(id)
            if (2..=1224).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-".contains(c)) =>
        {
            Ok(id.to_string())
        }
        _ => Err(Invalid::value(
            "external_id",
            "must be 2-1224 characters of A-Z a-z 0-9 + = , . @ : / -",
        )),
    }
}

/// RFC 3339 in UTC, stored as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds: IAM's
/// date conditions compare this form). Whether it is in the future is
/// [`check_not_expired`]'s question, so a stored share stays valid.
pub(super) fn expires_at(value: &Value) -> Result<String, Invalid> {
    use time::format_description::well_known::Rfc3339;
    const MESSAGE: &str = "must be an RFC 3339 UTC time such as 2027-03-31T00:00:00Z";
    let text = value
        .as_str()
        .ok_or_else(|| Invalid::value("expires_at", MESSAGE))?;
    let at = time::OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .filter(|at| at.offset().is_utc() && text.ends_with(['Z', 'z']) && at.year() < 10000)
        .ok_or_else(|| Invalid::value("expires_at", MESSAGE))?;
    // Sub-second parts round down: the share ends no later than asked.
    let at = at.replace_nanosecond(0).expect("0 ns is valid");
    Ok(at.format(&Rfc3339).expect("a UTC time formats"))
}

fn notify(value: &Value, grantee: &str) -> Result<Notify, Invalid> {
    let shape = || {
        Invalid::value(
            "notify",
            "must be an object with exactly one of queue_arn or topic_arn",
        )
    };
    let object = value.as_object().ok_or_else(shape)?;
    let request: NotifyRequest = fields(object, "notify.")?;
    let (field, arn, service, kind) = match (&request.queue_arn, &request.topic_arn) {
        (Some(arn), None) => ("notify.queue_arn", arn, "sqs", "an SQS queue"),
        (None, Some(arn)) => ("notify.topic_arn", arn, "sns", "an SNS topic"),
        _ => return Err(shape()),
    };
    let arn = arn
        .as_str()
        .ok_or_else(|| Invalid::value(field, "must be a string"))?;
    match notify_target_account(arn, service) {
        None => Err(Invalid::value(
            field,
            format!("must be the ARN of {kind} (arn:aws:{service}:<region>:<account>:<name>), standard, not FIFO"),
        )),
        Some(account) if account != grantee => Err(Invalid::value(
            field,
            format!("must be in the grantee account {grantee}: notifications go to the grantee only"),
        )),
        Some(_) => Ok(if service == "sqs" {
            Notify::QueueArn(arn.to_string())
        } else {
            Notify::TopicArn(arn.to_string())
        }),
    }
}

pub(super) fn delivery(
    value: &Value,
    trail_bucket: &str,
    grantee: &str,
) -> Result<Delivery, Invalid> {
    let object = value
        .as_object()
        .ok_or_else(|| Invalid::value("delivery", "must be an object with a mode"))?;
    let request: DeliveryRequest = fields(object, "delivery.")?;
    let copy_fields = [
        ("bucket", &request.bucket),
        ("prefix", &request.prefix),
        ("role_arn", &request.role_arn),
    ];
    match text("mode", &request.mode)?.unwrap_or("none") {
        mode @ ("none" | "tag") => {
            for (name, value) in copy_fields {
                if text(name, value)?.is_some() {
                    return Err(Invalid::value(
                        format!("delivery.{name}"),
                        "is only for mode \"copy\"",
                    ));
                }
            }
            Ok(match mode {
                "tag" => Delivery::Tag,
                _ => Delivery::None,
            })
        }
        "copy" => copy_delivery(&request, trail_bucket, grantee),
        _ => Err(Invalid::value(
            "delivery.mode",
            "must be \"none\", \"tag\" or \"copy\"",
        )),
    }
}

/// A `delivery` field's text (`None` when left out).
fn text<'a>(name: &str, value: &'a Option<Value>) -> Result<Option<&'a str>, Invalid> {
    match value {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(_) => Err(Invalid::value(
            format!("delivery.{name}"),
            "must be a string",
        )),
    }
}

/// `mode: "copy"`: a bucket other than the trail's, a well-formed prefix,
/// and a writer role (if any) in the grantee's account.
fn copy_delivery(
    request: &DeliveryRequest,
    trail_bucket: &str,
    grantee: &str,
) -> Result<Delivery, Invalid> {
    let bucket = text("bucket", &request.bucket)?
        .ok_or_else(|| Invalid::missing("delivery.bucket", "is required for mode \"copy\""))?;
    if !is_bucket_name(bucket) {
        return Err(Invalid::value(
            "delivery.bucket",
            "is not a valid S3 bucket name",
        ));
    }
    if bucket == trail_bucket {
        return Err(Invalid::value(
            "delivery.bucket",
            "must not be the trail bucket: every copy would trigger another copy",
        ));
    }
    let prefix = text("prefix", &request.prefix)?.unwrap_or_default();
    if !is_delivery_prefix(prefix) {
        return Err(Invalid::value(
            "delivery.prefix",
            "must be at most 256 characters ending in '/', not start with '/', and have no '//', '*', '?', '$' or control characters",
        ));
    }
    let role_arn = text("role_arn", &request.role_arn)?;
    match role_arn.map(role_account) {
        None => {}
        Some(None) => {
            return Err(Invalid::value(
                "delivery.role_arn",
                "must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
            ));
        }
        Some(Some(account)) if account != grantee => {
            return Err(Invalid::value(
                "delivery.role_arn",
                format!("must be a role in the grantee account {grantee}: copies go to the grantee only"),
            ));
        }
        Some(Some(_)) => {}
    }
    Ok(Delivery::Copy {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        role_arn: role_arn.map(str::to_string),
    })
}
