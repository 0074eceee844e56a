//! Reading a share's activity back (`GET /shares/{name}/activity`): the
//! window asked for, the [`ActivityObjects`] port (list a day's folder,
//! fetch one object) and the walk over the window's days, bounded.
//!
//! Cost is in proportion to the days asked for and never to the number of
//! shares: one share's folder of each day is listed (one request per 1,000
//! objects) and each object in it fetched once. The walk goes from the
//! newest day back and takes whole days only, so what it answers is every
//! line of `read_from..=until`; a day that would take the request past
//! [`Limits`] (objects, bytes) is not read, nor any older one, and the
//! answer says so (`complete: false`, `read_from`).

use std::future::Future;

use futures_util::{stream, StreamExt, TryStreamExt};
use time::{Date, Duration};

use super::day_prefix;
use super::summary::{Summary, Tally};
use crate::backfill::{Window, MAX_WINDOW_DAYS};
use crate::layout::{format_day, parse_day};
use crate::ports::{AwsError, ListedObject, Page};
use crate::share::Invalid;

/// The days a request covers when it names no `from`: the last week.
pub const DEFAULT_DAYS: i64 = 7;

/// Query parameters the route takes.
pub const QUERY_FIELDS: &[&str] = &["from", "until"];

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_string(),
        code: "invalid_field",
        message: message.into(),
    }
}

/// Reads the query `from`, `until` (each `YYYY-MM-DD` or absent): `until`
/// inclusive, default `today` (UTC), never after it; `from` default
/// [`DEFAULT_DAYS`] days up to `until`, never after it; at most
/// [`MAX_WINDOW_DAYS`] days, as for backfill.
pub fn parse_query(query: &[(String, String)], today: Date) -> Result<Window, Invalid> {
    if let Some((unknown, _)) = query
        .iter()
        .find(|(k, _)| !QUERY_FIELDS.contains(&k.as_str()))
    {
        return Err(Invalid {
            field: unknown.clone(),
            code: "unknown_field",
            message: "is not an activity parameter (from, until)".into(),
        });
    }
    let day = |field: &str| -> Result<Option<Date>, Invalid> {
        match query.iter().find(|(k, _)| k == field) {
            None => Ok(None),
            Some((_, text)) => parse_day(text)
                .map(Some)
                .ok_or_else(|| invalid(field, "must be a date YYYY-MM-DD")),
        }
    };
    let until = day("until")?.unwrap_or(today);
    if until > today {
        return Err(invalid("until", "must not be after today (UTC)"));
    }
    let from = match day("from")? {
        Some(from) => from,
        None => until - Duration::days(DEFAULT_DAYS - 1),
    };
    if from > until {
        return Err(invalid("from", "must not be after until"));
    }
    if (until - from).whole_days() + 1 > MAX_WINDOW_DAYS {
        return Err(invalid(
            "from",
            format!("the window may cover at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    Ok(Window { from, until })
}

/// An object as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Body(Vec<u8>),
    /// Deleted since it was listed (the bucket's lifecycle).
    Gone,
    /// Over the size asked for: not read at all.
    TooLarge,
}

/// The activity bucket, read-only: all the provisioner does with it.
pub trait ActivityObjects: Send + Sync {
    /// One page (up to 1,000) of the objects under `prefix`, in key order,
    /// after `after` when given (ListObjectsV2's `StartAfter`).
    fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
    ) -> impl Future<Output = Result<Page, AwsError>> + Send;
    /// The object at `key` if it is at most `max_bytes` long (checked
    /// before its body is read).
    fn fetch(
        &self,
        key: &str,
        max_bytes: u64,
    ) -> impl Future<Output = Result<Fetched, AwsError>> + Send;
}

type Boxed<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`ActivityObjects`] as an object.
trait DynActivity: Send + Sync {
    fn dyn_list<'a>(
        &'a self,
        prefix: &'a str,
        after: Option<&'a str>,
    ) -> Boxed<'a, Result<Page, AwsError>>;
    fn dyn_fetch<'a>(&'a self, key: &'a str, max: u64) -> Boxed<'a, Result<Fetched, AwsError>>;
}

impl<A: ActivityObjects> DynActivity for A {
    fn dyn_list<'a>(
        &'a self,
        prefix: &'a str,
        after: Option<&'a str>,
    ) -> Boxed<'a, Result<Page, AwsError>> {
        Box::pin(self.list_page(prefix, after))
    }
    fn dyn_fetch<'a>(&'a self, key: &'a str, max: u64) -> Boxed<'a, Result<Fetched, AwsError>> {
        Box::pin(self.fetch(key, max))
    }
}

/// Any activity bucket as one type, so the provisioner holds one (or none)
/// without a type parameter.
pub struct AnyActivity(Box<dyn DynActivity>);

impl AnyActivity {
    pub fn new<A: ActivityObjects + 'static>(objects: A) -> AnyActivity {
        AnyActivity(Box::new(objects))
    }
}

impl std::fmt::Debug for AnyActivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnyActivity(…)")
    }
}

impl ActivityObjects for AnyActivity {
    async fn list_page(&self, prefix: &str, after: Option<&str>) -> Result<Page, AwsError> {
        self.0.dyn_list(prefix, after).await
    }
    async fn fetch(&self, key: &str, max_bytes: u64) -> Result<Fetched, AwsError> {
        self.0.dyn_fetch(key, max_bytes).await
    }
}

/// What one request may read. The defaults keep a request inside the
/// provisioner's 29 s and 128 MiB: 2,000 objects fetched 8 at a time, at
/// most 16 MiB of lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_objects: usize,
    pub max_bytes: u64,
    /// A larger object is not fetched (counted as skipped): one forged
    /// object cannot take the whole request.
    pub max_object_bytes: u64,
    /// Requests in flight at once (listings, then fetches).
    pub concurrency: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_objects: 2_000,
            max_bytes: 16 << 20,
            max_object_bytes: 4 << 20,
            concurrency: 8,
        }
    }
}

/// A window's activity as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub summary: Summary,
    /// The oldest day read: every day from it to `until` was read whole.
    /// `None`: not even `until` fit in the limits.
    pub read_from: Option<Date>,
    /// Every object of every day asked for was read, and every line counted.
    pub complete: bool,
    pub objects_read: u64,
    /// Over `max_object_bytes`, or gone between listing and fetching.
    pub objects_skipped: u64,
}

impl Reading {
    /// The answer of `GET /shares/{name}/activity`.
    pub fn to_api(&self, share: &str, window: Window) -> serde_json::Value {
        let mut answer = serde_json::to_value(&self.summary).expect("a summary serialises");
        answer["share"] = share.into();
        answer["from"] = format_day(window.from).into();
        answer["until"] = format_day(window.until).into();
        answer["read_from"] = self.read_from.map(format_day).into();
        answer["complete"] = self.complete.into();
        answer["objects"] =
            serde_json::json!({"read": self.objects_read, "skipped": self.objects_skipped});
        answer
    }
}

/// One day's objects, listed: `None` when there are more than `cap`.
async fn list_day<A: ActivityObjects>(
    objects: &A,
    prefix: &str,
    cap: usize,
) -> Result<Option<Vec<ListedObject>>, AwsError> {
    let mut listed: Vec<ListedObject> = Vec::new();
    loop {
        let after = listed.last().map(|o| o.key.clone());
        let page = objects.list_page(prefix, after.as_deref()).await?;
        let progressed = page.objects.last().map(|o| Some(&o.key) > after.as_ref());
        // Only keys of this folder, each after the last: a listing that
        // does not move on ends here rather than loop.
        listed.extend(
            page.objects
                .into_iter()
                .filter(|o| o.key.starts_with(prefix) && Some(&o.key) > after.as_ref()),
        );
        if listed.len() > cap {
            return Ok(None);
        }
        if !page.more || progressed != Some(true) {
            return Ok(Some(listed));
        }
    }
}

/// Reads the share's activity of `window`, newest day first, within
/// `limits`, and summarizes it (see the module and [`Tally::summarize`]).
pub async fn read_window<A: ActivityObjects>(
    objects: &A,
    share: &str,
    window: Window,
    organization: bool,
    limits: Limits,
) -> Result<Reading, AwsError> {
    let mut days: Vec<Date> = window.days().collect();
    days.reverse();
    // Listed a few days at a time, taken in order: the listing stops at
    // the first day that does not fit (those in flight are dropped). Each
    // future owns its prefix: a future borrowing from the stream's items
    // would not be `Send` for every lifetime, as the handler must be.
    let mut listings = stream::iter(days.into_iter().map(|day| {
        let prefix = day_prefix(share, &format_day(day));
        async move {
            list_day(objects, &prefix, limits.max_objects)
                .await
                .map(|listed| (day, listed))
        }
    }))
    .buffered(limits.concurrency.max(1));
    let (mut chosen, mut bytes, mut skipped) = (Vec::new(), 0u64, 0u64);
    let mut read_from = None;
    let mut complete = true;
    while let Some((day, listed)) = listings.try_next().await? {
        let Some(listed) = listed else {
            complete = false;
            break;
        };
        let (fit, large): (Vec<ListedObject>, Vec<ListedObject>) = listed
            .into_iter()
            .partition(|o| o.size.unwrap_or(0) <= limits.max_object_bytes);
        // A size the listing left out counts as the most an object may be.
        let size: u64 = fit
            .iter()
            .map(|o| o.size.unwrap_or(limits.max_object_bytes))
            .sum();
        if chosen.len() + fit.len() > limits.max_objects || bytes + size > limits.max_bytes {
            complete = false;
            break;
        }
        skipped += large.len() as u64;
        bytes += size;
        chosen.extend(fit.into_iter().map(|o| o.key));
        read_from = Some(day);
    }
    drop(listings);
    let (tally, read, gone) = fetch_all(objects, chosen, limits).await?;
    skipped += gone;
    let lines = tally.counted();
    let summary = tally.summarize(organization);
    complete &= skipped == 0 && summary.lines.dropped == 0;
    debug_assert_eq!(lines, summary.lines.counted);
    Ok(Reading {
        summary,
        read_from,
        complete,
        objects_read: read,
        objects_skipped: skipped,
    })
}

/// Fetches every chosen object (a few at a time, taken in key order so the
/// same bucket always gives the same tally) and adds its lines.
async fn fetch_all<A: ActivityObjects>(
    objects: &A,
    keys: Vec<String>,
    limits: Limits,
) -> Result<(Tally, u64, u64), AwsError> {
    let mut fetches = stream::iter(
        keys.into_iter()
            .map(|key| async move { objects.fetch(&key, limits.max_object_bytes).await }),
    )
    .buffered(limits.concurrency.max(1));
    let (mut tally, mut read, mut skipped) = (Tally::default(), 0u64, 0u64);
    while let Some(fetched) = fetches.try_next().await? {
        match fetched {
            Fetched::Body(body) => {
                read += 1;
                tally.add_body(&String::from_utf8_lossy(&body));
            }
            Fetched::Gone | Fetched::TooLarge => skipped += 1,
        }
    }
    Ok((tally, read, skipped))
}
