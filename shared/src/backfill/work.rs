//! One unit of backfill work: the body of one queue message, bounded on
//! read, whoever wrote it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::Date;

use super::{Window, MAX_WINDOW_DAYS, WORK_KEY};
use crate::ids::is_account_id;
use crate::layout::{day_folder, format_day, kind_folders, parse_day, Layout};

/// Keys one `Files` item lists and delivers: one page. A region-day of
/// CloudTrail holds about 288 log files (one every five minutes) and 24
/// digests, so a day's folder is usually one item; a bigger one goes on in
/// further items, each a page. Ten such items (Lambda's batch) are about
/// 3,000 files: seconds of work against the function's 60 s.
pub const PAGE_KEYS: usize = 300;

/// The longest folder or continuation key accepted (S3's key limit).
const MAX_KEY_BYTES: usize = 1024;

/// A run's id: this many lowercase hex digits (96 random bits).
pub const RUN_ID_LEN: usize = 24;

/// One unit of backfill work: the body of one queue message. `run` names
/// the backfill run it counts towards (items queued by earlier versions
/// have none: they are carried out, not counted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum Work {
    /// Find the accounts whose logs lie in the bucket (for a share over
    /// every account), then one `Account` item each.
    Accounts {
        share: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<String>,
        from: String,
        until: String,
    },
    /// One `Day` item per day of the window for this account.
    Account {
        share: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<String>,
        account: String,
        from: String,
        until: String,
    },
    /// Find this account-day's folders (each layout, kind and region), then
    /// one `Files` item each.
    Day {
        share: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<String>,
        account: String,
        day: String,
    },
    /// Deliver one page ([`PAGE_KEYS`]) of the files of one region folder
    /// (`…/AWSLogs/[<org>/]<acct>/<kind>/<region>/`) on `day`, the keys
    /// after `after` (a continuation), for this share.
    Files {
        share: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<String>,
        account: String,
        day: String,
        folder: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
}

/// Whether `id` has a run id's shape (see [`new_run_id`]).
pub fn is_run_id(id: &str) -> bool {
    id.len() == RUN_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A run id from 12 random bytes.
pub fn new_run_id(random: [u8; 12]) -> String {
    hex::encode(random)
}

/// A region folder's last name: `us-east-1`, `ap-southeast-5`, `us-gov-west-1`.
fn is_region_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_key_text(text: &str) -> bool {
    text.len() <= MAX_KEY_BYTES && !text.chars().any(char::is_control)
}

impl Work {
    /// The share the work is for.
    pub fn share(&self) -> &str {
        match self {
            Work::Accounts { share, .. }
            | Work::Account { share, .. }
            | Work::Day { share, .. }
            | Work::Files { share, .. } => share,
        }
    }

    /// The run the work counts towards, if any.
    pub fn run(&self) -> Option<&str> {
        match self {
            Work::Accounts { run, .. }
            | Work::Account { run, .. }
            | Work::Day { run, .. }
            | Work::Files { run, .. } => run.as_deref(),
        }
    }

    /// The queue message body: `{"trailshare_backfill": {...}}`.
    pub fn to_body(&self) -> String {
        serde_json::json!({ WORK_KEY: self }).to_string()
    }

    /// Reads a message body made by [`Work::to_body`]; `None` if the body is
    /// not backfill work at all (then it is an event). Checked against
    /// today (UTC), see [`Work::from_body_on`].
    pub fn from_body(value: &Value) -> Option<Result<Work, String>> {
        Work::from_body_on(value, time::OffsetDateTime::now_utc().date())
    }

    /// [`Work::from_body`] as of `today`. Every item is bounded as the API
    /// bounds a request (a share name's shape, `from` ≤ `until`, at most
    /// [`MAX_WINDOW_DAYS`], nothing after `today`), a run id's shape, and a
    /// folder or key no longer than S3's: whoever gets a message onto the
    /// queue cannot make one item fan out into millions; a crafted item is
    /// a failure of its own message, and queues nothing.
    pub fn from_body_on(value: &Value, today: Date) -> Option<Result<Work, String>> {
        let work = value.get(WORK_KEY)?;
        Some(
            serde_json::from_value::<Work>(work.clone())
                .map_err(|e| format!("backfill work: {e}"))
                .and_then(|work| work.checked(today)),
        )
    }

    fn checked(self, today: Date) -> Result<Work, String> {
        if crate::share::validate_existing_name(self.share()).is_err() {
            return Err("backfill work for a malformed share name".into());
        }
        if self.run().is_some_and(|id| !is_run_id(id)) {
            return Err("backfill work with a malformed run id".into());
        }
        let account_ok = match &self {
            Work::Accounts { .. } => true,
            Work::Account { account, .. }
            | Work::Day { account, .. }
            | Work::Files { account, .. } => is_account_id(account),
        };
        if !account_ok {
            return Err("backfill work with a malformed account".into());
        }
        let day = |d: &str| parse_day(d).ok_or("backfill work with a malformed day");
        match &self {
            Work::Accounts { from, until, .. } | Work::Account { from, until, .. } => {
                let (from, until) = (day(from)?, day(until)?);
                if from > until || until > today {
                    return Err("backfill work whose window is reversed or ends after today".into());
                }
                if (until - from).whole_days() + 1 > MAX_WINDOW_DAYS {
                    return Err(format!(
                        "backfill work over more than {MAX_WINDOW_DAYS} days"
                    ));
                }
            }
            Work::Day { day: d, .. } | Work::Files { day: d, .. } => {
                if day(d)? > today {
                    return Err("backfill work for a day after today".into());
                }
            }
        }
        if let Work::Files { folder, after, .. } = &self {
            if !is_key_text(folder) || after.as_deref().is_some_and(|a| !is_key_text(a)) {
                return Err("backfill work with a malformed folder or key".into());
            }
        }
        Ok(self)
    }

    /// For a `Files` item, the day's folder it lists (`<folder>yyyy/mm/dd/`)
    /// — only if its folder is a region folder of its account in `layout`
    /// (either account root, a CloudTrail kind, a region's shape) and its
    /// continuation lies in that day's folder. `None` otherwise: a crafted
    /// item then lists nothing outside its account's CloudTrail folders.
    pub fn files_prefix(&self, layout: &Layout) -> Option<String> {
        let Work::Files {
            account,
            day,
            folder,
            after,
            ..
        } = self
        else {
            return None;
        };
        let region = folder.strip_suffix('/')?.rsplit_once('/')?;
        let kinds: Vec<String> = layout
            .account_roots(account)
            .iter()
            .flat_map(|root| kind_folders(root))
            .collect();
        if !is_region_name(region.1) || !kinds.iter().any(|k| format!("{}/", region.0) == *k) {
            return None;
        }
        let prefix = day_folder(folder, parse_day(day)?);
        match after {
            Some(after) if !after.starts_with(&prefix) => None,
            _ => Some(prefix),
        }
    }

    /// The first step for a share: one `Account` item per log account, or
    /// one `Accounts` item that discovers them for `["*"]`.
    pub fn plan(
        share: &str,
        run: Option<&str>,
        log_accounts: &[String],
        window: Window,
    ) -> Vec<Work> {
        let (from, until) = (format_day(window.from), format_day(window.until));
        let run = run.map(str::to_string);
        if log_accounts.iter().any(|a| a == crate::share::ALL_ACCOUNTS) {
            return vec![Work::Accounts {
                share: share.into(),
                run,
                from,
                until,
            }];
        }
        log_accounts
            .iter()
            .map(|account| Work::Account {
                share: share.into(),
                run: run.clone(),
                account: account.clone(),
                from: from.clone(),
                until: until.clone(),
            })
            .collect()
    }

    /// The next step's items for an `Account` item: one per day.
    pub fn days_of(&self, window: Window) -> Vec<Work> {
        let Work::Account {
            share,
            run,
            account,
            ..
        } = self
        else {
            return Vec::new();
        };
        window
            .days()
            .map(|day| Work::Day {
                share: share.clone(),
                run: run.clone(),
                account: account.clone(),
                day: format_day(day),
            })
            .collect()
    }

    /// The next step's items for a `Day` item: one `Files` item (its first
    /// page) per region folder found.
    pub fn folders_of(&self, folders: &[String]) -> Vec<Work> {
        let Work::Day {
            share,
            run,
            account,
            day,
        } = self
        else {
            return Vec::new();
        };
        folders
            .iter()
            .map(|folder| Work::Files {
                share: share.clone(),
                run: run.clone(),
                account: account.clone(),
                day: day.clone(),
                folder: folder.clone(),
                after: None,
            })
            .collect()
    }

    /// For a `Files` item whose page ended at `last_key` with more to list:
    /// the item for the next page.
    pub fn next_page(&self, last_key: &str) -> Option<Work> {
        match self {
            Work::Files { .. } => {
                let mut next = self.clone();
                if let Work::Files { after, .. } = &mut next {
                    *after = Some(last_key.to_string());
                }
                Some(next)
            }
            _ => None,
        }
    }
}
