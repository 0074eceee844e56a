//! One tag or one announcement may serve several shares; `asked` says which
//! result each share's delivery and announcement is.

use super::*;

const B: &str = "222222222222";
const KEY: &str = "AWSLogs/222222222222/CloudTrail/us-east-1/2026/01/01/222222222222_CloudTrail_us-east-1_20260101T0000Z_x.json.gz";

fn route(name: &str, log_accounts: &[&str], delivery: Delivery, notify: Option<&str>) -> Route {
    Route {
        name: name.to_string(),
        grantee_account: B.to_string(),
        log_accounts: log_accounts.iter().map(|a| a.to_string()).collect(),
        external_id: None,
        delivery,
        expires_at: None,
        notify: notify.map(|arn| Notify::QueueArn(arn.to_string())),
        organization: None,
    }
}

fn copy(bucket: &str) -> Delivery {
    Delivery::Copy {
        bucket: bucket.to_string(),
        prefix: String::new(),
        role_arn: None,
    }
}

#[test]
fn each_share_finds_the_target_and_the_announcement_it_asked_for() {
    let q = "arn:aws:sqs:us-east-1:222222222222:new-logs";
    let shares = [
        route("tag-1", &[B], Delivery::Tag, None),
        route("tag-2", &["*"], Delivery::Tag, Some(q)),
        route("copy-1", &[B], copy("b-logs"), Some(q)),
        route("none-1", &[B], Delivery::None, Some(q)),
        route("copy-2", &[B], copy("b-logs"), None),
        route("other", &["333333333333"], Delivery::Tag, Some(q)),
    ];
    let (targets, notices) = targets_for(shares.iter(), B, KEY);
    assert_eq!(targets.len(), 2, "{targets:?}");
    // The queue hears once per place: the file in the trail bucket (tag,
    // none) and its copy.
    assert_eq!(notices.len(), 2, "{notices:?}");
    let asked = asked(shares.iter(), B, KEY, &targets, &notices);
    let by_share: Vec<(&str, Option<usize>, Option<usize>)> = asked
        .iter()
        .map(|a| (a.share.as_str(), a.target, a.notice))
        .collect();
    assert_eq!(
        by_share,
        [
            ("tag-1", Some(0), None),
            ("tag-2", Some(0), Some(0)),
            ("copy-1", Some(1), Some(1)),
            ("none-1", None, Some(0)),
            ("copy-2", Some(1), None),
        ]
    );
    assert_eq!(targets[0], Target::Tag);
    assert_eq!(notices[0].share, "tag-2");
    assert_eq!(notices[1].after, Some(1));
}

#[test]
fn an_organization_share_tags_its_layouts_files_of_members_not_excluded() {
    let config = crate::config::Config::from_lookup(|name| match name {
        "TRAIL_BUCKET" => Some("trail".into()),
        "ORGANIZATION_ID" => Some("o-a1b2c3d4e5".into()),
        "SHARE_SECRET_ARN" => Some("arn:aws:secretsmanager:us-east-1:111111111111:secret:s".into()),
        _ => None,
    })
    .unwrap();
    let body = serde_json::json!({"name": "members", "delivery": {"mode": "tag"},
                                  "organization": {"exclude_accounts": ["333333333333"]}});
    let spec =
        crate::admission::admit(&body, None, &config, time::OffsetDateTime::now_utc()).unwrap();
    let route = Route::from(&spec);
    let key = |org: &str, account: &str| {
        format!("AWSLogs/{org}{account}/CloudTrail/us-east-1/2024/05/01/{account}_CloudTrail_us-east-1_20240501T1200Z_AbCdEf12.json.gz")
    };
    let targets = |org: &str, account: &str| {
        let key = key(org, account);
        let (targets, notices) = targets_for([&route].into_iter(), account, &key);
        let asked = asked([&route].into_iter(), account, &key, &targets, &notices);
        assert_eq!(asked.len(), targets.len(), "asked agrees with targets_for");
        targets
    };
    assert_eq!(targets("o-a1b2c3d4e5/", "222222222222"), [Target::Tag]);
    assert_eq!(targets("o-a1b2c3d4e5/", "444444444444"), [Target::Tag]);
    // Excluded, outside the organization's layout, another organization.
    assert!(targets("o-a1b2c3d4e5/", "333333333333").is_empty());
    assert!(targets("", "222222222222").is_empty());
    assert!(targets("o-zzzzzzzzzz/", "222222222222").is_empty());
}
