//! Admitting a share: the one place that decides whether this stack grants
//! what a request (or a record or route read back from IAM) describes —
//! every field valid ([`validate`]), the grantee allowed, what it delivers
//! to within the deployment's allow-lists, not already expired, and its
//! documents within IAM's size limits.

use serde_json::json;
use time::OffsetDateTime;

use crate::config::Config;
use crate::policy::{check_limits, role_policy, trust_policy};
use crate::route::Route;
use crate::share::{
    bind_organization, check_organization_paths, validate, Delivery, Invalid, ShareSpec,
};

/// Why a share is not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A field is malformed, or names what this deployment does not allow
    /// (a 400, naming the field).
    Invalid(Invalid),
    /// The grantee is not in `GRANTEE_ACCOUNTS` (a 403).
    GranteeNotAllowed {
        account: String,
        allowed: Vec<String>,
    },
    /// An organization share while `GRANTEE_ACCOUNTS` names the only
    /// grantees: it would grant every member account (a 403).
    OrganizationNotAllowed { allowed: Vec<String> },
}

impl From<Invalid> for Refusal {
    fn from(invalid: Invalid) -> Refusal {
        Refusal::Invalid(invalid)
    }
}

/// A request to create or replace a share (`path_name`: the `{name}` of
/// `PUT /shares/{name}`), admitted as of `now`, or why not — before any
/// AWS call.
pub fn admit(
    body: &serde_json::Value,
    path_name: Option<&str>,
    config: &Config,
    now: OffsetDateTime,
) -> Result<ShareSpec, Refusal> {
    let mut spec = validate(body, path_name, &config.trail_bucket)?;
    bind_organization(&mut spec, config)?;
    if spec.organization.is_some() && !config.grantee_accounts.is_empty() {
        return Err(Refusal::OrganizationNotAllowed {
            allowed: config.grantee_accounts.clone(),
        });
    }
    if spec.organization.is_none() && !config.grantee_allowed(&spec.grantee_account) {
        return Err(Refusal::GranteeNotAllowed {
            account: spec.grantee_account,
            allowed: config.grantee_accounts.clone(),
        });
    }
    check_deployment(&spec, config)?;
    check_not_expired(&spec, now)?;
    // The largest the policy gets: with a session deny and an expiry
    // (mid-replace, a share that drops its expiry keeps the old one).
    let widest = ShareSpec {
        expires_at: Some("2000-01-01T00:00:00Z".into()),
        ..spec.clone()
    };
    let inline = role_policy(&widest, config, Some("2000-01-01T00:00:00Z"));
    check_limits(&spec, &trust_policy(&spec), &inline)?;
    Ok(spec)
}

/// Whether a share read back from its record is still one this stack
/// admits: the same validator and allow-lists as a request, so even a
/// sealed record (an older grant, a list since narrowed) that this stack
/// would refuse today steers nothing. Expiry is the share's own state, not
/// a reason to refuse it here.
pub fn readmit(spec: &ShareSpec, config: &Config) -> Result<(), Invalid> {
    check_deployment(spec, config)?;
    let mut body = serde_json::to_value(spec).expect("a share spec serialises");
    // The organization's id is the deployment's, never a request's field.
    if let Some(organization) = body
        .get_mut("organization")
        .and_then(serde_json::Value::as_object_mut)
    {
        organization.remove("id");
    }
    let mut read = validate(&body, Some(&spec.name), &config.trail_bucket)?;
    bind_organization(&mut read, config)?;
    if read != *spec {
        return Err(Invalid::value(
            "record",
            "the record does not read back as it was written",
        ));
    }
    Ok(())
}

/// [`readmit`] for the route read from a role's description (its fields,
/// as a request with the default principals).
pub fn readmit_route(route: &Route, config: &Config) -> Result<(), Invalid> {
    let mut body = json!({"name": route.name, "delivery": route.delivery});
    match &route.organization {
        Some(organization) => {
            let mut fields = json!(organization);
            if let Some(fields) = fields.as_object_mut() {
                fields.remove("id");
            }
            body["organization"] = fields;
        }
        None => {
            body["grantee_account"] = json!(route.grantee_account);
            body["log_accounts"] = json!(route.log_accounts);
        }
    }
    for (field, value) in [
        ("external_id", route.external_id.as_ref().map(|x| json!(x))),
        ("expires_at", route.expires_at.as_ref().map(|x| json!(x))),
        ("notify", route.notify.as_ref().map(|x| json!(x))),
    ] {
        if let Some(value) = value {
            body[field] = value;
        }
    }
    let mut spec = validate(&body, Some(&route.name), &config.trail_bucket)?;
    bind_organization(&mut spec, config)?;
    if Route::from(&spec) != *route {
        return Err(Invalid::value(
            "route",
            "the route does not read back as it was written",
        ));
    }
    check_deployment(&spec, config)
}

/// A new or replacing share must expire in the future: one already past
/// would be created only to be denied.
pub fn check_not_expired(spec: &ShareSpec, now: OffsetDateTime) -> Result<(), Invalid> {
    if spec.expired_at(now) {
        return Err(Invalid::value("expires_at", "must be in the future"));
    }
    Ok(())
}

/// Checks a valid share against what the deployment allows: with
/// `COPY_DESTINATION_BUCKETS` / `COPY_WRITER_ROLE_ARNS` set, a copy the
/// forwarder has no permission for would send every file to the dead-letter
/// queue, so it is refused up front, naming the field.
pub fn check_deployment(spec: &ShareSpec, config: &Config) -> Result<(), Invalid> {
    if let Some(organization) = &spec.organization {
        // A share bound to another organization (ORGANIZATION_ID changed
        // since) trusts that organization's principals: not this stack's.
        if config.organization_id.as_deref() != Some(organization.id.as_str()) {
            return Err(Invalid::value(
                "organization",
                format!(
                    "is bound to {}, not to this stack's ORGANIZATION_ID ({})",
                    organization.id,
                    config.organization_id.as_deref().unwrap_or("unset")
                ),
            ));
        }
        check_organization_paths(organization)?;
    }
    if let (Some(notify), Some(allowed)) = (&spec.notify, &config.notification_target_arns) {
        if !allowed.iter().any(|a| a == notify.arn()) {
            return Err(Invalid::value(
                notify.field(),
                format!("{} is not in the stack's NotificationTargetArns (NOTIFICATION_TARGET_ARNS); redeploy with it", notify.arn()),
            ));
        }
    }
    let Delivery::Copy {
        bucket, role_arn, ..
    } = &spec.delivery
    else {
        return Ok(());
    };
    match role_arn {
        // The forwarder writes with its own credentials.
        None => {
            if let Some(allowed) = &config.copy_destination_buckets {
                if !allowed.iter().any(|b| b == bucket) {
                    return Err(Invalid::value(
                        "delivery.bucket",
                        format!("{bucket} is not in the stack's CopyDestinationBuckets (COPY_DESTINATION_BUCKETS); redeploy with it"),
                    ));
                }
            }
        }
        // The forwarder writes through the grantee's writer role.
        Some(arn) => {
            if let Some(allowed) = &config.copy_writer_role_arns {
                if !allowed.iter().any(|a| a == arn) {
                    return Err(Invalid::value(
                        "delivery.role_arn",
                        format!("{arn} is not in the stack's CopyWriterRoleArns (COPY_WRITER_ROLE_ARNS); redeploy with it"),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn config(extra: &[(&str, &str)]) -> Config {
        Config::from_lookup(|name| {
            [
                ("TRAIL_BUCKET", "trail-bucket"),
                (
                    "SHARE_SECRET_ARN",
                    "arn:aws:secretsmanager:us-east-1:111111111111:secret:trailshare-AbCdEf",
                ),
            ]
            .iter()
            .chain(extra)
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    fn share(body: Value) -> ShareSpec {
        validate(&body, None, "trail-bucket").unwrap()
    }

    #[test]
    fn what_the_stack_admits_today_passes_and_nothing_else() {
        let copy = share(
            json!({"name": "b", "grantee_account": "222222222222", "external_id": "ext-1",
            "delivery": {"mode": "copy", "bucket": "b-logs", "prefix": "central/"},
            "notify": {"queue_arn": "arn:aws:sqs:us-east-1:222222222222:b-new"}}),
        );
        let open = config(&[]);
        assert_eq!(readmit(&copy, &open), Ok(()));
        assert_eq!(readmit_route(&Route::from(&copy), &open), Ok(()));
        // The bucket is no longer in the stack's list: neither steers a copy.
        let narrowed = config(&[("COPY_DESTINATION_BUCKETS", "other-logs")]);
        assert_eq!(
            readmit(&copy, &narrowed).unwrap_err().field,
            "delivery.bucket"
        );
        assert_eq!(
            readmit_route(&Route::from(&copy), &narrowed)
                .unwrap_err()
                .field,
            "delivery.bucket"
        );
        // A route the validator refuses: all accounts' logs with no external id,
        // or a copy into the trail bucket itself.
        let mut wide = Route::from(&copy);
        wide.log_accounts = vec!["*".into()];
        wide.external_id = None;
        assert_eq!(
            readmit_route(&wide, &open).unwrap_err().field,
            "external_id"
        );
        let mut looped = Route::from(&copy);
        looped.delivery =
            serde_json::from_value(json!({"mode": "copy", "bucket": "trail-bucket"})).unwrap();
        assert_eq!(
            readmit_route(&looped, &open).unwrap_err().field,
            "delivery.bucket"
        );
    }
}
