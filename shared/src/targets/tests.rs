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
