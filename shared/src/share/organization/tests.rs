use super::*;
use crate::admission::{admit, readmit, readmit_route, Refusal};
use crate::config::Config;
use crate::route::Route;
use crate::share::validate;
use serde_json::json;

const ORG: &str = "o-a1b2c3d4e5";
const B: &str = "222222222222";
const C: &str = "333333333333";

fn config(extra: &[(&str, &str)]) -> Config {
    Config::from_lookup(|name| {
        [
            ("TRAIL_BUCKET", "trail-bucket"),
            ("ORGANIZATION_ID", ORG),
            (
                "SHARE_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:111111111111:secret:trailshare-AbCdEf",
            ),
        ]
        .iter()
        .chain(extra)
        .rev()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-25 00:00:00 UTC)
}

fn admitted(body: serde_json::Value) -> ShareSpec {
    admit(&body, None, &config(&[]), now()).unwrap_or_else(|e| panic!("{body}: {e:?}"))
}

/// The field a refused request names.
fn refused(body: serde_json::Value) -> String {
    match admit(&body, None, &config(&[]), now()) {
        Err(Refusal::Invalid(invalid)) => invalid.field,
        other => panic!("{body}: {other:?}"),
    }
}

#[test]
fn an_organization_share_is_bound_to_the_deployments_organization() {
    let spec = admitted(json!({"name": "members", "organization": {}}));
    let organization = spec.organization.clone().unwrap();
    assert_eq!(organization.id, ORG);
    assert!(organization.org_paths.is_empty() && organization.exclude_accounts.is_empty());
    assert_eq!(
        (spec.grantee_account.as_str(), spec.max_session_seconds),
        ("", 3600)
    );
    assert!(spec.grantee_principals.is_empty() && spec.log_accounts.is_empty());
    // Shown without the grantee fields it has no use for.
    assert_eq!(
        serde_json::to_value(&spec).unwrap(),
        json!({"name": "members", "max_session_seconds": 3600, "delivery": {"mode": "none"},
               "organization": {"id": ORG}})
    );
    // The id is never the request's: a request naming one is refused.
    assert_eq!(
        refused(json!({"name": "m", "organization": {"id": "o-zzzzzzzzzz"}})),
        "organization.id"
    );
    // No ORGANIZATION_ID, no organization share.
    let plain = Config {
        organization_id: None,
        ..config(&[])
    };
    match admit(
        &json!({"name": "m", "organization": {}}),
        None,
        &plain,
        now(),
    ) {
        Err(Refusal::Invalid(invalid)) => assert_eq!(invalid.field, "organization"),
        other => panic!("{other:?}"),
    }
    // Nor without the stack's own account, whose sessions it must cut.
    let anonymous = Config {
        share_secret_arn: None,
        permissions_boundary_arn: None,
        ..config(&[])
    };
    match admit(
        &json!({"name": "m", "organization": {}}),
        None,
        &anonymous,
        now(),
    ) {
        Err(Refusal::Invalid(invalid)) => assert_eq!(invalid.field, "organization"),
        other => panic!("{other:?}"),
    }
    // GRANTEE_ACCOUNTS names the only grantees: every member would be one.
    let listed = config(&[("GRANTEE_ACCOUNTS", B)]);
    assert!(matches!(
        admit(
            &json!({"name": "m", "organization": {}}),
            None,
            &listed,
            now()
        ),
        Err(Refusal::OrganizationNotAllowed { .. })
    ));
}

#[test]
fn a_field_that_cannot_go_with_organization_is_named() {
    for (field, value) in [
        ("grantee_account", json!(B)),
        (
            "grantee_principals",
            json!([format!("arn:aws:iam::{B}:root")]),
        ),
        ("log_accounts", json!([B])),
        ("external_id", json!("ext-1")),
        (
            "notify",
            json!({"queue_arn": format!("arn:aws:sqs:us-east-1:{B}:q")}),
        ),
    ] {
        let mut body = json!({"name": "m", "organization": {}});
        body[field] = value;
        assert_eq!(refused(body), field);
    }
    // Copy delivery: refused for its mode, whatever else it says.
    for delivery in [
        json!({"mode": "copy"}),
        json!({"mode": "copy", "bucket": "b-logs"}),
    ] {
        assert_eq!(
            refused(json!({"name": "m", "organization": {}, "delivery": delivery})),
            "delivery.mode"
        );
    }
    let tag = admitted(json!({"name": "m", "organization": {}, "delivery": {"mode": "tag"}}));
    assert_eq!(tag.delivery, Delivery::Tag);
    // No default name: the grantee is not one account.
    assert_eq!(refused(json!({"organization": {}})), "name");
    // `null` is the same as leaving it out: a share of one grantee.
    let plain = admitted(json!({"grantee_account": B, "organization": null}));
    assert_eq!(plain.organization, None);
}

#[test]
fn the_organizations_fields_are_checked_one_by_one() {
    let spec = admitted(json!({"name": "m", "expires_at": "2027-03-31T00:00:00Z",
        "organization": {"org_paths": [format!("{ORG}/r-ab12/ou-ab12-11111111/"), format!("{ORG}/r-ab12/ou-ab12-22222222/*")],
                         "principal_name": "trailshare-reader", "exclude_accounts": [C]}}));
    let organization = spec.organization.unwrap();
    assert_eq!(organization.org_paths.len(), 2);
    assert_eq!(
        organization.principal_name.as_deref(),
        Some("trailshare-reader")
    );
    assert!(organization.excludes(C) && !organization.excludes(B));
    for (organization, field) in [
        (json!([]), "organization"),
        (json!({"typo": 1}), "organization.typo"),
        (json!({"org_paths": []}), "organization.org_paths"),
        (
            json!({"org_paths": "o-a1b2c3d4e5/r-ab12/"}),
            "organization.org_paths",
        ),
        (
            json!({"org_paths": [format!("{ORG}/r-ab12/ou-ab12-11111111")]}),
            "organization.org_paths[0]",
        ),
        (
            json!({"org_paths": [format!("{ORG}/r-ab12/"), format!("{ORG}/r-ab12/ou-ab12-1111111?/")]}),
            "organization.org_paths[1]",
        ),
        (
            json!({"org_paths": [format!("{ORG}/r-ab12/*/")]}),
            "organization.org_paths[0]",
        ),
        (
            json!({"org_paths": [format!("{ORG}/r-ab12/${{aws:PrincipalAccount}}/")]}),
            "organization.org_paths[0]",
        ),
        (
            json!({"org_paths": [format!("{ORG}/r-ab12/"), format!("{ORG}/r-ab12/")]}),
            "organization.org_paths[1]",
        ),
        // Another organization's path would never match: refused, not kept.
        (
            json!({"org_paths": ["o-zzzzzzzzzz/r-ab12/"]}),
            "organization.org_paths[0]",
        ),
        (json!({"principal_name": ""}), "organization.principal_name"),
        (
            json!({"principal_name": "a/b"}),
            "organization.principal_name",
        ),
        (
            json!({"principal_name": "${aws:username}"}),
            "organization.principal_name",
        ),
        (
            json!({"principal_name": "r".repeat(65)}),
            "organization.principal_name",
        ),
        (
            json!({"exclude_accounts": []}),
            "organization.exclude_accounts",
        ),
        (
            json!({"exclude_accounts": ["*"]}),
            "organization.exclude_accounts[0]",
        ),
        (
            json!({"exclude_accounts": [B, B]}),
            "organization.exclude_accounts[1]",
        ),
    ] {
        assert_eq!(
            refused(json!({"name": "m", "organization": organization})),
            field,
            "{organization}"
        );
    }
}

#[test]
fn records_and_routes_carry_the_organization_and_are_readmitted_only_here() {
    let spec = admitted(json!({"name": "m", "delivery": {"mode": "tag"},
        "organization": {"org_paths": [format!("{ORG}/r-ab12/")], "principal_name": "reader", "exclude_accounts": [C]}}));
    let here = config(&[]);
    assert_eq!(readmit(&spec, &here), Ok(()));
    let route = Route::from(&spec);
    assert_eq!(route.organization, spec.organization);
    assert_eq!(readmit_route(&route, &here), Ok(()));
    // The route a description holds, read back as written.
    let text = serde_json::to_string(&route).unwrap();
    assert!(text.contains("\"o\":{\"id\":\"o-a1b2c3d4e5\""), "{text}");
    assert_eq!(serde_json::from_str::<Route>(&text).unwrap(), route);
    // A deployment of another organization admits neither.
    let elsewhere = config(&[("ORGANIZATION_ID", "o-zzzzzzzzzz")]);
    assert_eq!(
        readmit(&spec, &elsewhere).unwrap_err().field,
        "organization"
    );
    assert!(readmit_route(&route, &elsewhere).is_err());
    // Nor one without an organization.
    let none = Config {
        organization_id: None,
        ..here.clone()
    };
    assert_eq!(readmit(&spec, &none).unwrap_err().field, "organization");
    // A route that lost its organization but kept nothing else to go by is
    // not a share; one that mixes both kinds is refused, naming the field.
    let mut mixed = route.clone();
    mixed.grantee_account = B.into();
    assert!(readmit_route(&mixed, &here).is_err());
    let mut stripped = route.clone();
    stripped.organization = None;
    assert!(readmit_route(&stripped, &here).is_err());
    // A record edited to exclude nobody: validated as it reads, it is
    // still a share, so its seal (see `record`) is what refuses it.
    let mut wider = spec.clone();
    wider
        .organization
        .as_mut()
        .unwrap()
        .exclude_accounts
        .clear();
    assert_eq!(readmit(&wider, &here), Ok(()));
}

#[test]
fn an_organization_route_covers_its_layout_less_the_excluded() {
    let spec = admitted(
        json!({"name": "m", "delivery": {"mode": "tag"}, "organization": {"exclude_accounts": [C]}}),
    );
    let route = Route::from(&spec);
    assert!(route.covers_file(B, Some(ORG)));
    assert!(!route.covers_file(C, Some(ORG)), "excluded");
    assert!(!route.covers_file(B, None), "not the organization's layout");
    assert!(!route.covers_file(B, Some("o-zzzzzzzzzz")));
    assert!(route.covers(B) && !route.covers(C));
    assert!(spec.covers(B) && !spec.covers(C));
    assert_eq!(route.claims(), ["*"]);
    assert_eq!(spec.log_scope(), ["*"]);
    // A share of named accounts covers them in every layout, as before.
    let plain = Route::from(&validate(&json!({"grantee_account": B}), None, "t").unwrap());
    assert!(plain.covers_file(B, None) && plain.covers_file(B, Some(ORG)));
    assert!(!plain.covers_file(C, Some(ORG)));
}

#[test]
fn is_org_path_takes_aws_principal_org_paths_values_only() {
    for good in [
        "o-a1b2c3d4e5/r-ab12/",
        "o-a1b2c3d4e5/r-ab12/*",
        "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/",
        "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/*",
    ] {
        assert!(is_org_path(good), "{good}");
    }
    for bad in [
        "",
        "o-a1b2c3d4e5/",
        "o-a1b2c3d4e5/r-ab12",
        "o-a1b2c3d4e5/r-ab12/**",
        "o-a1b2c3d4e5/*/",
        "o-A1B2C3D4E5/r-ab12/",
        "o-a1b2c3d4e5/r-ab12/ou-ab12/",
        "o-a1b2c3d4e5/r-ab12/ou-ab12-1111111/",
        "o-a1b2c3d4e5/r-ab12//",
        "/o-a1b2c3d4e5/r-ab12/",
    ] {
        assert!(!is_org_path(bad), "{bad}");
    }
}
