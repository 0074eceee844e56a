//! Backfill work items: fan out share → account → day → region folder,
//! then deliver one page of a folder's files (and queue the next page).

use crate::log::log;
use crate::Forwarder;
use serde_json::json;
use std::collections::BTreeSet;
use trailshare::backfill::{Window, Work, PAGE_KEYS};
use trailshare::events::CreatedObject;
use trailshare::layout::{account_of_folder, kind_folders, parse_day};
use trailshare::ports::{AwsError, LogObjects, Notifier, RoleReader, WorkQueue};
use trailshare::route::Route;

/// What a message comes to before its files are delivered: the objects
/// (for every share, or only `only`), how many items it queued, and the
/// item to queue once every object is done (a folder's next page).
#[derive(Debug, Default)]
pub(crate) struct Expansion {
    pub objects: Vec<CreatedObject>,
    pub only: Option<String>,
    pub queued: u64,
    pub then: Option<Work>,
}

impl<S: RoleReader, O: LogObjects, Q: WorkQueue, N: Notifier> Forwarder<S, O, Q, N> {
    /// Carries out one backfill work item: fans out (share → account → day
    /// → folder) through the queue, or, for a folder, lists one page of
    /// the files to deliver. Work for a share that is gone, or an account
    /// it no longer covers, does nothing.
    pub(crate) async fn backfill(&self, work: &Work) -> Result<Expansion, AwsError> {
        let shares = self.shares.get().await?;
        let Some(share) = shares.routes.iter().find(|s| s.name == work.share()) else {
            log(&json!({"event": "backfill", "work": work, "outcome": "share_gone"}));
            return Ok(Expansion::default());
        };
        if share.expired_at(time::OffsetDateTime::now_utc()) {
            log(&json!({"event": "backfill", "work": work, "outcome": "share_expired"}));
            return Ok(Expansion::default());
        }
        let next: Vec<Work> = match work {
            Work::Accounts { from, until, .. } => {
                self.accounts_of(share, work, window(from, until)?).await?
            }
            Work::Account {
                account,
                from,
                until,
                ..
            } => match share.covers(account) {
                true => work.days_of(window(from, until)?),
                false => return Ok(Expansion::default()),
            },
            Work::Day { account, day, .. } => {
                match parse_day(day).filter(|_| share.covers(account)) {
                    // Only folders a `Files` item may list (a region's shape).
                    Some(_) => {
                        let layout = self.config.layout();
                        work.folders_of(&self.folders_of_day(account).await?)
                            .into_iter()
                            .filter(|item| item.files_prefix(&layout).is_some())
                            .collect()
                    }
                    None => return Ok(Expansion::default()),
                }
            }
            Work::Files { account, .. } => {
                return match share.covers(account) {
                    true => self.page_of(work).await,
                    false => Ok(Expansion::default()),
                };
            }
        };
        let items: Vec<String> = next.iter().map(Work::to_body).collect();
        self.queue.send(&items).await?;
        log(
            &json!({"event": "backfill", "work": work, "outcome": "fanned_out", "queued": items.len()}),
        );
        Ok(Expansion {
            queued: items.len() as u64,
            ..Expansion::default()
        })
    }

    /// One `Account` item per account folder in the bucket (in every layout)
    /// that the share covers.
    async fn accounts_of(
        &self,
        share: &Route,
        work: &Work,
        window: Window,
    ) -> Result<Vec<Work>, AwsError> {
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
        Ok(Work::plan(&share.name, work.run(), &covered, window))
    }

    /// The region folders of an account, in each layout and kind (log,
    /// digest, Insight): one delimiter listing each.
    async fn folders_of_day(&self, account: &str) -> Result<Vec<String>, AwsError> {
        let mut folders = Vec::new();
        for root in self.config.layout().account_roots(account) {
            for kind in kind_folders(&root) {
                let listing = self
                    .objects
                    .list(&self.config.trail_bucket, &kind, true)
                    .await?;
                folders.extend(listing.folders);
            }
        }
        Ok(folders)
    }

    /// One page of a folder's files of a day, and the item for the next
    /// page when there is more. A folder outside the item's account's
    /// CloudTrail folders (a crafted item) fails the message.
    async fn page_of(&self, work: &Work) -> Result<Expansion, AwsError> {
        let Some(prefix) = work.files_prefix(&self.config.layout()) else {
            return Err(AwsError::Refused {
                call: "backfill",
                message: "a files item outside its account's CloudTrail folders".into(),
            });
        };
        let after = match work {
            Work::Files { after, .. } => after.as_deref(),
            _ => None,
        };
        let bucket = &self.config.trail_bucket;
        let page = self
            .objects
            .list_page(bucket, &prefix, after, PAGE_KEYS)
            .await?;
        let then = match (page.more, page.objects.last()) {
            (true, Some(last)) => work.next_page(&last.key),
            _ => None,
        };
        log(
            &json!({"event": "backfill", "work": work, "outcome": "listed", "files": page.objects.len(), "more": then.is_some()}),
        );
        Ok(Expansion {
            objects: page
                .objects
                .into_iter()
                .map(|listed| CreatedObject {
                    bucket: bucket.clone(),
                    key: listed.key,
                    etag: listed.etag,
                    size: listed.size,
                })
                .collect(),
            only: Some(work.share().to_string()),
            queued: 0,
            then,
        })
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
