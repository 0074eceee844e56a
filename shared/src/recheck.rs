//! Re-validation on read: a record or route read back from IAM passes the
//! same validator and the deployment's allow-lists as a request did, so
//! even a sealed one (an older grant, a list since narrowed) that this
//! stack would refuse today steers nothing.

use serde_json::json;

use crate::config::Config;
use crate::route::Route;
use crate::share::{check_deployment, validate, Invalid, ShareSpec};

/// Whether `spec`, as a request body, is still a share this stack admits.
pub fn spec(spec: &ShareSpec, config: &Config) -> Result<(), Invalid> {
    let body = serde_json::to_value(spec).expect("a share spec serialises");
    if validate(&body, Some(&spec.name), &config.trail_bucket)? != *spec {
        return Err(Invalid::value(
            "record",
            "the record does not read back as it was written",
        ));
    }
    check_deployment(spec, config)
}

/// Whether the route read from a description is still a share this stack
/// admits (its fields, as a request with the default principals).
pub fn route(route: &Route, config: &Config) -> Result<(), Invalid> {
    let mut body = json!({
        "name": route.name,
        "grantee_account": route.grantee_account,
        "log_accounts": route.log_accounts,
        "delivery": route.delivery,
    });
    for (field, value) in [
        ("external_id", route.external_id.as_ref().map(|x| json!(x))),
        ("expires_at", route.expires_at.as_ref().map(|x| json!(x))),
        ("notify", route.notify.as_ref().map(|x| json!(x))),
    ] {
        if let Some(value) = value {
            body[field] = value;
        }
    }
    let spec = validate(&body, Some(&route.name), &config.trail_bucket)?;
    if Route::from(&spec) != *route {
        return Err(Invalid::value(
            "route",
            "the route does not read back as it was written",
        ));
    }
    check_deployment(&spec, config)
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
        assert_eq!(spec(&copy, &open), Ok(()));
        assert_eq!(route(&Route::from(&copy), &open), Ok(()));
        // The bucket is no longer in the stack's list: neither steers a copy.
        let narrowed = config(&[("COPY_DESTINATION_BUCKETS", "other-logs")]);
        assert_eq!(spec(&copy, &narrowed).unwrap_err().field, "delivery.bucket");
        assert_eq!(
            route(&Route::from(&copy), &narrowed).unwrap_err().field,
            "delivery.bucket"
        );
        // A route the validator refuses: all accounts' logs with no external id,
        // or a copy into the trail bucket itself.
        let mut wide = Route::from(&copy);
        wide.log_accounts = vec!["*".into()];
        wide.external_id = None;
        assert_eq!(route(&wide, &open).unwrap_err().field, "external_id");
        let mut looped = Route::from(&copy);
        looped.delivery =
            serde_json::from_value(json!({"mode": "copy", "bucket": "trail-bucket"})).unwrap();
        assert_eq!(route(&looped, &open).unwrap_err().field, "delivery.bucket");
    }
}
