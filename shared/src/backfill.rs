//! Backfill: a share's deliveries carried out for the log files already in
//! the bucket, exactly as for new ones. The work fans out through the
//! forwarder's queue, share → account → day, so Lambda's concurrency does
//! it and no work item (one queue message) lists more than one account-day.
//!
//! This module only decides: the window and the messages. Where an
//! account-day's files lie is [`crate::layout`]'s; listing and sending are
//! the adapters'.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::Date;

use crate::ids::is_account_id;
use crate::layout::{days, format_day, parse_day};
use crate::share::Invalid;

/// The longest window one request may cover, in days (`until` inclusive).
pub const MAX_WINDOW_DAYS: i64 = 366;

/// The key that marks a queue message as backfill work (and not an event).
pub const WORK_KEY: &str = "trailshare_backfill";

/// Days `from` to `until`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: Date,
    pub until: Date,
}

impl Window {
    /// Every day of the window, oldest first.
    pub fn days(&self) -> impl Iterator<Item = Date> {
        days(self.from, self.until)
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_string(),
        code: "invalid_field",
        message: message.into(),
    }
}

/// Reads a backfill request body `{"from", "until"}`: `until` defaults to
/// `today` (UTC); neither may lie after today, `from` ≤ `until`, and the
/// window is at most [`MAX_WINDOW_DAYS`]. Unknown fields are errors.
pub fn parse_window(body: &Value, today: Date) -> Result<Window, Invalid> {
    let object = body.as_object().ok_or_else(|| Invalid {
        field: String::new(),
        code: "invalid_body",
        message: "the body must be a JSON object".into(),
    })?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !["from", "until"].contains(&k.as_str()))
    {
        return Err(Invalid {
            field: unknown.clone(),
            code: "unknown_field",
            message: "is not a backfill field (from, until)".into(),
        });
    }
    let day = |field: &str| -> Result<Option<Date>, Invalid> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => parse_day(text)
                .map(Some)
                .ok_or_else(|| invalid(field, "must be a date YYYY-MM-DD")),
            Some(_) => Err(invalid(field, "must be a date YYYY-MM-DD")),
        }
    };
    let from = day("from")?.ok_or_else(|| Invalid {
        field: "from".into(),
        code: "missing_field",
        message: "is required (YYYY-MM-DD)".into(),
    })?;
    let until = day("until")?.unwrap_or(today);
    if until > today {
        return Err(invalid("until", "must not be after today (UTC)"));
    }
    if from > until {
        return Err(invalid("from", "must not be after until"));
    }
    let window = Window { from, until };
    if (until - from).whole_days() + 1 > MAX_WINDOW_DAYS {
        return Err(invalid(
            "from",
            format!("the window may cover at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    Ok(window)
}

/// One unit of backfill work: the body of one queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum Work {
    /// Find the accounts whose logs lie in the bucket (for a share over
    /// every account), then one `Account` item each.
    Accounts {
        share: String,
        from: String,
        until: String,
    },
    /// One `Day` item per day of the window for this account.
    Account {
        share: String,
        account: String,
        from: String,
        until: String,
    },
    /// Deliver this account's files of this day for this share.
    Day {
        share: String,
        account: String,
        day: String,
    },
}

impl Work {
    /// The share the work is for.
    pub fn share(&self) -> &str {
        match self {
            Work::Accounts { share, .. }
            | Work::Account { share, .. }
            | Work::Day { share, .. } => share,
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
    /// [`MAX_WINDOW_DAYS`], nothing after `today`): whoever gets a message
    /// onto the queue cannot make one item fan out into millions; a crafted
    /// item is a failure of its own message, and queues nothing.
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
        let account_ok = match &self {
            Work::Accounts { .. } => true,
            Work::Account { account, .. } | Work::Day { account, .. } => is_account_id(account),
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
            Work::Day { day: d, .. } => {
                if day(d)? > today {
                    return Err("backfill work for a day after today".into());
                }
            }
        }
        Ok(self)
    }

    /// The first step for a share: one `Account` item per log account, or
    /// one `Accounts` item that discovers them for `["*"]`.
    pub fn plan(share: &str, log_accounts: &[String], window: Window) -> Vec<Work> {
        let (from, until) = (format_day(window.from), format_day(window.until));
        if log_accounts.iter().any(|a| a == crate::share::ALL_ACCOUNTS) {
            return vec![Work::Accounts {
                share: share.into(),
                from,
                until,
            }];
        }
        log_accounts
            .iter()
            .map(|account| Work::Account {
                share: share.into(),
                account: account.clone(),
                from: from.clone(),
                until: until.clone(),
            })
            .collect()
    }

    /// The next step's items for an `Account` item: one per day.
    pub fn days_of(share: &str, account: &str, window: Window) -> Vec<Work> {
        window
            .days()
            .map(|day| Work::Day {
                share: share.into(),
                account: account.into(),
                day: format_day(day),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 25);

    #[test]
    fn the_window_is_checked_field_by_field() {
        let w = parse_window(&json!({"from": "2026-11-20"}), TODAY).unwrap();
        assert_eq!((w.from, w.until), (date!(2026 - 11 - 20), TODAY));
        assert_eq!(w.days().count(), 6);
        let full = parse_window(&json!({"from": "2025-11-25", "until": "2026-11-25"}), TODAY);
        assert_eq!(full.unwrap().days().count(), 366);
        for (body, field) in [
            (json!({}), "from"),
            (json!({"from": "2026-13-01"}), "from"),
            (json!({"from": 20261101}), "from"),
            (
                json!({"from": "2026-11-20", "until": "2026-11-26"}),
                "until",
            ),
            (json!({"from": "2026-11-21", "until": "2026-11-20"}), "from"),
            (json!({"from": "2025-11-24", "until": "2026-11-25"}), "from"),
            (json!({"from": "2026-11-20", "to": "2026-11-21"}), "to"),
            (json!([]), ""),
        ] {
            let error = parse_window(&body, TODAY).unwrap_err();
            assert_eq!(error.field, field, "{body}: {error}");
        }
    }

    #[test]
    fn work_fans_out_share_to_account_to_day_and_survives_the_queue() {
        let window = Window {
            from: date!(2026 - 02 - 27),
            until: date!(2026 - 03 - 01),
        };
        let accounts = ["222222222222".to_string(), "333333333333".to_string()];
        let plan = Work::plan("bu-b", &accounts, window);
        assert_eq!(plan.len(), 2);
        assert_eq!(
            Work::plan("z", &["*".to_string()], window),
            [Work::Accounts {
                share: "z".into(),
                from: "2026-02-27".into(),
                until: "2026-03-01".into()
            }]
        );
        let days = Work::days_of("bu-b", "222222222222", window);
        let names: Vec<String> = days
            .iter()
            .map(|w| match w {
                Work::Day { day, .. } => day.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["2026-02-27", "2026-02-28", "2026-03-01"]);
        for work in plan.iter().chain(&days) {
            let body: Value = serde_json::from_str(&work.to_body()).unwrap();
            assert_eq!(Work::from_body(&body), Some(Ok(work.clone())));
        }
        assert_eq!(Work::from_body(&json!({"Records": []})), None);
        for bad in [
            json!({"trailshare_backfill": {"step": "day", "share": "x", "account": "1", "day": "2026-01-01"}}),
            json!({"trailshare_backfill": {"step": "day", "share": "x", "account": "222222222222", "day": "yesterday"}}),
            json!({"trailshare_backfill": {"step": "launch", "share": "x"}}),
            json!({"trailshare_backfill": {"step": "day", "share": "x", "account": "222222222222", "day": "2026-01-01", "extra": 1}}),
        ] {
            assert!(matches!(Work::from_body(&bad), Some(Err(_))), "{bad}");
        }
    }

    /// A crafted item on the queue (anyone allowed to send could put one
    /// there) is refused as its own message's failure: no window the API
    /// would refuse can fan out. Failed before the fix: a 100-year window
    /// and a window ending in 2099 were accepted (36,500 day items each).
    #[test]
    fn every_work_item_is_bounded_on_read() {
        let read = |work: Value| Work::from_body_on(&json!({ WORK_KEY: work }), TODAY);
        let ok = [
            json!({"step": "accounts", "share": "z", "from": "2025-11-25", "until": "2026-11-25"}),
            json!({"step": "account", "share": "bu-b", "account": "222222222222", "from": "2026-11-25", "until": "2026-11-25"}),
            json!({"step": "day", "share": "Legacy.Share", "account": "222222222222", "day": "2026-11-25"}),
        ];
        for work in ok {
            assert!(matches!(read(work.clone()), Some(Ok(_))), "{work}");
        }
        for (work, why) in [
            (
                json!({"step": "accounts", "share": "z", "from": "1926-01-01", "until": "2026-11-25"}),
                "366 days",
            ),
            (
                json!({"step": "account", "share": "z", "account": "222222222222", "from": "2025-11-24", "until": "2026-11-25"}),
                "366 days",
            ),
            (
                json!({"step": "accounts", "share": "z", "from": "2026-11-20", "until": "2099-12-31"}),
                "after today",
            ),
            (
                json!({"step": "account", "share": "z", "account": "222222222222", "from": "2026-11-26", "until": "2026-11-26"}),
                "after today",
            ),
            (
                json!({"step": "account", "share": "z", "account": "222222222222", "from": "2026-11-21", "until": "2026-11-20"}),
                "reversed",
            ),
            (
                json!({"step": "day", "share": "z", "account": "222222222222", "day": "2026-11-26"}),
                "after today",
            ),
            (
                json!({"step": "day", "share": "../x", "account": "222222222222", "day": "2026-11-20"}),
                "share name",
            ),
            (
                json!({"step": "day", "share": "", "account": "222222222222", "day": "2026-11-20"}),
                "share name",
            ),
            (
                json!({"step": "accounts", "share": "a".repeat(49), "from": "2026-11-20", "until": "2026-11-20"}),
                "share name",
            ),
            (
                json!({"step": "account", "share": "z", "account": "*", "from": "2026-11-20", "until": "2026-11-20"}),
                "account",
            ),
        ] {
            let error = read(work.clone()).expect("backfill work").expect_err(why);
            assert!(error.contains(why), "{work}: {error}");
        }
    }
}
