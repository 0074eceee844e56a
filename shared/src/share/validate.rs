//! Validating a request body into a [`ShareSpec`]: every field checked,
//! every failure naming its field, unknown fields refused.

use serde_json::{Map, Value};

use super::*;

const TOP_FIELDS: &[&str] = &[
    "name",
    "grantee_account",
    "grantee_principals",
    "log_accounts",
    "external_id",
    "max_session_seconds",
    "expires_at",
    "delivery",
    "notify",
];
const DELIVERY_FIELDS: &[&str] = &["mode", "bucket", "prefix", "role_arn"];
const NOTIFY_FIELDS: &[&str] = &["queue_arn", "topic_arn"];

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
    reject_unknown(object, TOP_FIELDS, "")?;

    let grantee_account = match object.get("grantee_account") {
        None | Some(Value::Null) => return Err(Invalid::missing("grantee_account", "is required")),
        Some(value) => account_id(value, "grantee_account")?,
    };
    let grantee_principals = match object.get("grantee_principals") {
        None | Some(Value::Null) => vec![format!("arn:aws:iam::{grantee_account}:root")],
        Some(value) => principals(value, &grantee_account)?,
    };
    let log_accounts = match object.get("log_accounts") {
        None | Some(Value::Null) => vec![grantee_account.clone()],
        Some(value) => log_accounts(value)?,
    };
    let external_id = match object.get("external_id") {
        None | Some(Value::Null) => None,
        Some(value) => Some(external_id(value)?),
    };
    let max_session_seconds = match object.get("max_session_seconds") {
        None | Some(Value::Null) => MIN_SESSION_SECONDS,
        Some(value) => value
            .as_u64()
            .filter(|s| {
                (u64::from(MIN_SESSION_SECONDS)..=u64::from(MAX_SESSION_SECONDS)).contains(s)
            })
            .map(|s| s as u32)
            .ok_or_else(|| {
                Invalid::value(
                    "max_session_seconds",
                    "must be a whole number from 3600 to 43200",
                )
            })?,
    };
    let expires_at = match object.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(value) => Some(expires_at(value)?),
    };
    let delivery = match object.get("delivery") {
        None | Some(Value::Null) => Delivery::None,
        Some(value) => delivery(value, trail_bucket, &grantee_account)?,
    };
    let notify = match object.get("notify") {
        None | Some(Value::Null) => None,
        Some(value) => Some(notify(value, &grantee_account)?),
    };

    let mut spec = ShareSpec {
        name: String::new(),
        grantee_account,
        grantee_principals,
        log_accounts,
        external_id,
        max_session_seconds,
        expires_at,
        delivery,
        notify,
    };
    if spec.reads_third_party_logs() && spec.external_id.is_none() {
        return Err(Invalid::missing(
            "external_id",
            "is required when the role reads log files of accounts other than the grantee's",
        ));
    }
    let body_name = match object.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => {
            validate_name(name)?;
            Some(name.clone())
        }
        Some(_) => return Err(Invalid::value("name", "must be a string")),
    };
    spec.name = match (path_name, body_name) {
        (Some(path), Some(body)) if path != body => {
            return Err(Invalid::value("name", "differs from the name in the path"));
        }
        (Some(path), _) => {
            validate_name(path)?;
            path.to_string()
        }
        (None, Some(body)) => body,
        (None, None) if !spec.reads_third_party_logs() => {
            format!("account-{}", spec.grantee_account)
        }
        (None, None) => {
            return Err(Invalid::missing(
                "name",
                "is required for shares that read other accounts' log files",
            ));
        }
    };
    Ok(spec)
}

fn reject_unknown(
    object: &Map<String, Value>,
    known: &[&str],
    parent: &str,
) -> Result<(), Invalid> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        Some(unknown) => Err(Invalid::new(
            format!("{parent}{unknown}"),
            "unknown_field",
            format!("is not a known field (known: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

fn account_id(value: &Value, field: &str) -> Result<String, Invalid> {
    match value.as_str() {
        Some(id) if is_account_id(id) => Ok(id.to_string()),
        _ => Err(Invalid::value(
            field,
            "must be a 12-digit AWS account id, as a string",
        )),
    }
}

fn string_array<'a>(value: &'a Value, field: &str) -> Result<&'a Vec<Value>, Invalid> {
    match value.as_array() {
        Some(items) if !items.is_empty() => Ok(items),
        Some(_) => Err(Invalid::value(
            field,
            "must not be empty (leave it out for the default)",
        )),
        None => Err(Invalid::value(field, "must be an array of strings")),
    }
}

fn no_duplicate(seen: &[String], item: &str, field: &str) -> Result<(), Invalid> {
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
fn expires_at(value: &Value) -> Result<String, Invalid> {
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
    let object = value.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
        Invalid::value(
            "notify",
            "must be an object with exactly one of queue_arn or topic_arn",
        )
    })?;
    reject_unknown(object, NOTIFY_FIELDS, "notify.")?;
    let (key, arn) = object.iter().next().expect("one entry");
    let field = format!("notify.{key}");
    let (service, kind) = if key == "queue_arn" {
        ("sqs", "an SQS queue")
    } else {
        ("sns", "an SNS topic")
    };
    let arn = arn
        .as_str()
        .ok_or_else(|| Invalid::value(&field, "must be a string"))?;
    match notify_target_account(arn, service) {
        None => Err(Invalid::value(
            &field,
            format!("must be the ARN of {kind} (arn:aws:{service}:<region>:<account>:<name>), standard, not FIFO"),
        )),
        Some(account) if account != grantee => Err(Invalid::value(
            &field,
            format!("must be in the grantee account {grantee}: notifications go to the grantee only"),
        )),
        Some(_) => Ok(if service == "sqs" {
            Notify::QueueArn(arn.to_string())
        } else {
            Notify::TopicArn(arn.to_string())
        }),
    }
}

fn delivery(value: &Value, trail_bucket: &str, grantee: &str) -> Result<Delivery, Invalid> {
    let object = value
        .as_object()
        .ok_or_else(|| Invalid::value("delivery", "must be an object with a mode"))?;
    reject_unknown(object, DELIVERY_FIELDS, "delivery.")?;
    let field_str = |name: &str| -> Result<Option<&str>, Invalid> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.as_str())),
            Some(_) => Err(Invalid::value(
                format!("delivery.{name}"),
                "must be a string",
            )),
        }
    };
    let mode = field_str("mode")?.unwrap_or("none");
    let only_for_copy = |name: &str| -> Result<(), Invalid> {
        match field_str(name)? {
            Some(_) => Err(Invalid::value(
                format!("delivery.{name}"),
                "is only for mode \"copy\"",
            )),
            None => Ok(()),
        }
    };
    match mode {
        "none" | "tag" => {
            for name in ["bucket", "prefix", "role_arn"] {
                only_for_copy(name)?;
            }
            Ok(if mode == "tag" {
                Delivery::Tag
            } else {
                Delivery::None
            })
        }
        "copy" => {
            let bucket = field_str("bucket")?.ok_or_else(|| {
                Invalid::missing("delivery.bucket", "is required for mode \"copy\"")
            })?;
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
            let prefix = field_str("prefix")?.unwrap_or_default();
            if !is_delivery_prefix(prefix) {
                return Err(Invalid::value(
                    "delivery.prefix",
                    "must be at most 256 characters ending in '/', not start with '/', and have no '//', '*', '?', '$' or control characters",
                ));
            }
            let role_arn = field_str("role_arn")?;
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
        _ => Err(Invalid::value(
            "delivery.mode",
            "must be \"none\", \"tag\" or \"copy\"",
        )),
    }
}
