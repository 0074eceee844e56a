//! Backfill: a share's deliveries carried out for the log files already in
//! the bucket, exactly as for new ones. The work fans out through the
//! forwarder's queue, share → account → day → one folder's page of files
//! (one layout, kind and region), so Lambda's concurrency does it and no
//! work item (one queue message) is more than one page of keys: a bounded
//! amount of work, well inside the function's timeout.
//!
//! This module only decides: the window ([`parse_window`]), the messages
//! ([`Work`]), and a run's counts and state ([`Run`], kept through the
//! [`RunStore`] port by [`runs`]). Where an account-day's files lie is
//! [`crate::layout`]'s; listing, sending and storing are the adapters'.

mod run;
pub mod runs;
mod work;

pub use run::{Delta, FileCounts, ItemCounts, Run, RunState, Unbelievable, MAX_RUN_BYTES};
pub use runs::{AnyRuns, RunError, RunStore, StoredRun, Versioned};
pub use work::{is_run_id, new_run_id, Work, PAGE_KEYS, RUN_ID_LEN};

use serde_json::Value;
use time::Date;

use crate::layout::{days, parse_day};
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

#[cfg(test)]
mod tests;
