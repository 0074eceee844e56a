//! CloudTrail's folder layout in a trail bucket, in one place: the share
//! role's policy, backfill and `trailshare pull` all find files by it.
//!
//! ```text
//! <prefix>/AWSLogs/[<org>/]<account>/<kind>/<region>/<yyyy>/<mm>/<dd>/<file>
//! ```
//! `<org>/` is the organization-trail layout; a bucket may hold both.
//! `<kind>` is `CloudTrail`, `CloudTrail-Digest` or `CloudTrail-Insight`.
//! ([Finding your CloudTrail log files](https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html).)

use time::{Date, Duration};

use crate::ids::{is_account_id, is_organization_id};
use crate::key::LogKind;

/// CloudTrail began in November 2013: no log file is older.
pub const FIRST_DAY: Date = time::macros::date!(2013 - 11 - 01);

const DAY: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// Where one trail's accounts keep their folders: `<prefix>/AWSLogs/` and,
/// for an organization trail, `<prefix>/AWSLogs/<org>/` too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: String,
    organization: Option<String>,
}

impl Layout {
    /// The layout under `prefix` (slashes around it ignored; none for a
    /// trail without one), with the organization layout when `organization`
    /// is given.
    pub fn new(prefix: Option<&str>, organization: Option<&str>) -> Layout {
        let prefix = prefix.unwrap_or("").trim_matches('/');
        Layout {
            root: match prefix {
                "" => "AWSLogs/".to_string(),
                prefix => format!("{prefix}/AWSLogs/"),
            },
            organization: organization.map(str::to_string),
        }
    }

    /// `<prefix>/AWSLogs/` (or `AWSLogs/`): everything CloudTrail writes.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The folders whose children are account folders, one per layout
    /// (delimiter-listed to find the accounts).
    pub fn account_parents(&self) -> Vec<String> {
        let mut parents = vec![self.root.clone()];
        if let Some(org) = &self.organization {
            parents.push(format!("{}{org}/", self.root));
        }
        parents
    }

    /// An account's folders, one per layout: `…/AWSLogs/<acct>/` and
    /// `…/AWSLogs/<org>/<acct>/`.
    pub fn account_roots(&self, account: &str) -> Vec<String> {
        self.account_parents()
            .into_iter()
            .map(|parent| format!("{parent}{account}/"))
            .collect()
    }
}

/// The folder of one kind of file under an account root; its children are
/// regions.
pub fn kind_folder(account_root: &str, kind: LogKind) -> String {
    format!("{account_root}{}/", kind.folder())
}

/// Every kind's folder under an account root (log, digest, Insight files).
pub fn kind_folders(account_root: &str) -> Vec<String> {
    [LogKind::Events, LogKind::Digest, LogKind::Insight]
        .into_iter()
        .map(|kind| kind_folder(account_root, kind))
        .collect()
}

/// The folder of one day's files under a region folder (`…/<region>/`).
pub fn day_folder(region_folder: &str, day: Date) -> String {
    format!(
        "{region_folder}{:04}/{:02}/{:02}/",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// The account id a delimiter listing's common prefix names, if it is one
/// (`…/AWSLogs/123456789012/` → `123456789012`; `…/o-xxx/` is not).
pub fn account_of_folder(folder: &str) -> Option<String> {
    let name = last_name(folder)?;
    is_account_id(name).then(|| name.to_string())
}

/// Whether a common prefix is an organization folder (`…/AWSLogs/o-xxx/`).
pub fn is_organization_folder(folder: &str) -> bool {
    last_name(folder).is_some_and(is_organization_id)
}

fn last_name(folder: &str) -> Option<&str> {
    folder.trim_end_matches('/').rsplit('/').next()
}

/// Formats a day as `YYYY-MM-DD`.
pub fn format_day(day: Date) -> String {
    day.format(DAY).expect("a date formats")
}

/// Parses `YYYY-MM-DD` (exactly: four, two and two digits).
pub fn parse_day(text: &str) -> Option<Date> {
    Date::parse(text, DAY).ok()
}

/// Every day from `from` to `until`, both included, oldest first (none when
/// `from` is after `until`).
pub fn days(from: Date, until: Date) -> impl Iterator<Item = Date> {
    let count = ((until - from).whole_days() + 1).max(0);
    (0..count).map(move |n| from + Duration::days(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn an_account_days_files_lie_under_every_layout_kind_and_region() {
        let control_tower = Layout::new(Some("o-a1b2c3d4e5"), Some("o-a1b2c3d4e5"));
        assert_eq!(
            control_tower.account_roots("222222222222"),
            [
                "o-a1b2c3d4e5/AWSLogs/222222222222/",
                "o-a1b2c3d4e5/AWSLogs/o-a1b2c3d4e5/222222222222/"
            ]
        );
        assert_eq!(
            Layout::new(None, None).account_roots("222222222222"),
            ["AWSLogs/222222222222/"]
        );
        assert_eq!(Layout::new(Some("/a/b/"), None).root(), "a/b/AWSLogs/");
        assert_eq!(
            kind_folders("AWSLogs/222222222222/"),
            [
                "AWSLogs/222222222222/CloudTrail/",
                "AWSLogs/222222222222/CloudTrail-Digest/",
                "AWSLogs/222222222222/CloudTrail-Insight/"
            ]
        );
        assert_eq!(
            day_folder(
                "AWSLogs/222222222222/CloudTrail/eu-west-1/",
                date!(2024 - 05 - 01)
            ),
            "AWSLogs/222222222222/CloudTrail/eu-west-1/2024/05/01/"
        );
        assert_eq!(
            account_of_folder("x/AWSLogs/222222222222/").as_deref(),
            Some("222222222222")
        );
        assert_eq!(account_of_folder("x/AWSLogs/o-a1b2c3d4e5/"), None);
        assert!(is_organization_folder("x/AWSLogs/o-a1b2c3d4e5/"));
        assert!(!is_organization_folder("x/AWSLogs/222222222222/"));
    }

    #[test]
    fn days_are_read_exactly_and_counted_inclusively() {
        assert_eq!(parse_day("2024-02-29"), Some(date!(2024 - 02 - 29)));
        for bad in [
            "2023-02-29",
            "2024-1-05",
            "24-01-05",
            "2024-01-05x",
            "May 1",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
        assert_eq!(format_day(date!(2024 - 03 - 01)), "2024-03-01");
        let leap: Vec<String> = days(date!(2024 - 02 - 28), date!(2024 - 03 - 01))
            .map(format_day)
            .collect();
        assert_eq!(leap, ["2024-02-28", "2024-02-29", "2024-03-01"]);
        assert_eq!(
            days(date!(2024 - 03 - 02), date!(2024 - 03 - 01)).count(),
            0
        );
    }
}
