//! Backfill work items: fan out share → account → day, then list a day.

use crate::log::log;
use crate::Forwarder;
use serde_json::json;
use std::collections::BTreeSet;
use trailshare::backfill::{Window, Work};
use trailshare::events::CreatedObject;
use trailshare::layout::{account_of_folder, day_folder, kind_folders, parse_day};
use trailshare::ports::{AwsError, LogObjects, Notifier, RoleReader, WorkQueue};
use trailshare::route::Route;

impl<S: RoleReader, O: LogObjects, Q: WorkQueue, N: Notifier> Forwarder<S, O, Q, N> {
    /// Carries out one backfill work item: fans out (share → account → day)
    /// through the queue, or, for a day, lists the files to deliver. Work for
    /// a share that is gone, or an account it no longer covers, does nothing.
    pub(crate) async fn backfill(&self, work: &Work) -> Result<Vec<CreatedObject>, AwsError> {
        let shares = self.shares.get().await?;
        let Some(share) = shares.routes.iter().find(|s| s.name == work.share()) else {
            log(&json!({"event": "backfill", "work": work, "outcome": "share_gone"}));
            return Ok(Vec::new());
        };
        if share.expired_at(time::OffsetDateTime::now_utc()) {
            log(&json!({"event": "backfill", "work": work, "outcome": "share_expired"}));
            return Ok(Vec::new());
        }
        let next: Vec<Work> = match work {
            Work::Accounts { from, until, .. } => {
                self.accounts_of(share, window(from, until)?).await?
            }
            Work::Account {
                share: name,
                account,
                from,
                until,
            } => match share.covers(account) {
                true => Work::days_of(name, account, window(from, until)?),
                false => return Ok(Vec::new()),
            },
            Work::Day { account, day, .. } => {
                return match parse_day(day).filter(|_| share.covers(account)) {
                    Some(day) => self.files_of_day(work, account, day).await,
                    None => Ok(Vec::new()),
                };
            }
        };
        let items: Vec<String> = next.iter().map(Work::to_body).collect();
        self.queue.send(&items).await?;
        log(
            &json!({"event": "backfill", "work": work, "outcome": "fanned_out", "queued": items.len()}),
        );
        Ok(Vec::new())
    }

    /// One `Account` item per account folder in the bucket (in every layout)
    /// that the share covers.
    async fn accounts_of(&self, share: &Route, window: Window) -> Result<Vec<Work>, AwsError> {
        let mut accounts = BTreeSet::new();
        for parent in self.config.layout().account_parents() {
            let listing = self
                .objects
                .list(&self.config.trail_bucket, &parent, true)
                .await?;
            accounts.extend(listing.folders.iter().filter_map(|f| account_of_folder(f)));
        }
        let covered: Vec<String> = accounts
            .into_iter()
            .filter(|account| share.covers(account))
            .collect();
        Ok(Work::plan(&share.name, &covered, window))
    }

    /// Every file of one account-day: each layout, kind and region.
    async fn files_of_day(
        &self,
        work: &Work,
        account: &str,
        day: time::Date,
    ) -> Result<Vec<CreatedObject>, AwsError> {
        let bucket = &self.config.trail_bucket;
        let mut objects = Vec::new();
        for root in self.config.layout().account_roots(account) {
            for kind in kind_folders(&root) {
                let regions = self.objects.list(bucket, &kind, true).await?.folders;
                for region in regions {
                    let files = self
                        .objects
                        .list(bucket, &day_folder(&region, day), false)
                        .await?;
                    objects.extend(files.objects.into_iter().map(|listed| CreatedObject {
                        bucket: bucket.clone(),
                        key: listed.key,
                        etag: listed.etag,
                        size: listed.size,
                    }));
                }
            }
        }
        log(
            &json!({"event": "backfill", "work": work, "outcome": "listed", "files": objects.len()}),
        );
        Ok(objects)
    }
}

/// A work item's window; a malformed one cannot come from [`Work::from_body`]
/// (it checks every day), so this is only a guard.
fn window(from: &str, until: &str) -> Result<Window, AwsError> {
    match (parse_day(from), parse_day(until)) {
        (Some(from), Some(until)) => Ok(Window { from, until }),
        _ => Err(AwsError::Refused {
            call: "backfill",
            message: "malformed window".into(),
        }),
    }
}
