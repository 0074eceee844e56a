//! A backfill run: what was asked, by whom, and its counts, as one sealed
//! JSON object per run (`runs/<share>/<id>.json` in `BACKFILL_BUCKET`).
//!
//! The provisioner writes it when the run starts and when it is cancelled;
//! the forwarder adds each invocation's counts to it (a conditional write,
//! so concurrent invocations never lose each other's counts). What is read
//! back steers the forwarder (a cancelled run's items do nothing) and what
//! the API shows, so it is believed only under the stack's seal, and only
//! up to [`MAX_RUN_BYTES`].

use serde::{Deserialize, Serialize};

use crate::seal::{Distrust, ShareKey};

/// The largest run object read: a run names at most the share's log
/// accounts (a few thousand ids), its counts and a few times.
pub const MAX_RUN_BYTES: usize = 256 * 1024;

/// What the seal of a run is labelled with: never a share's record or route.
const SEAL_PURPOSE: &str = "backfill-run";

/// Work items of a run: queued (by the request and by every fan-out),
/// done (acknowledged), failed (failed on their last receive: they go to
/// the dead-letter queue).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemCounts {
    pub queued: u64,
    pub done: u64,
    pub failed: u64,
}

/// Files of a run's done (or finally failed) items: delivered (something
/// written: a tag, a copy, a notice), already done (every target was
/// already there: one read each), skipped (gone since listed, or no target
/// of this share), failed (on their item's last receive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCounts {
    pub delivered: u64,
    pub already_done: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Items are queued that are neither done nor failed.
    Running,
    /// Every queued item is done or failed.
    Done,
    /// Cancelled: its remaining items do nothing.
    Cancelled,
}

/// One backfill run, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    pub id: String,
    pub share: String,
    pub from: String,
    pub until: String,
    /// The log accounts covered, as the share named them (`["*"]`: all).
    pub accounts: Vec<String>,
    pub created_at: String,
    pub created_by: String,
    #[serde(default)]
    pub cancelled_at: Option<String>,
    #[serde(default)]
    pub cancelled_by: Option<String>,
    /// When counts were last added.
    #[serde(default)]
    pub updated_at: Option<String>,
    pub items: ItemCounts,
    pub files: FileCounts,
}

/// Counts one invocation adds to a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta {
    pub items: ItemCounts,
    pub files: FileCounts,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        *self == Delta::default()
    }

    /// Both deltas together.
    pub fn plus(self, other: Delta) -> Delta {
        let mut sum = self;
        sum.items.queued += other.items.queued;
        sum.items.done += other.items.done;
        sum.items.failed += other.items.failed;
        sum.files.delivered += other.files.delivered;
        sum.files.already_done += other.files.already_done;
        sum.files.skipped += other.files.skipped;
        sum.files.failed += other.files.failed;
        sum
    }
}

/// Why a stored run is not to be believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unbelievable {
    #[error("the run object is over {MAX_RUN_BYTES} bytes")]
    TooLarge,
    #[error("the run object is not a run: {0}")]
    Malformed(String),
    #[error("the run object's seal does not verify ({0}): it was not written by this stack")]
    Unsealed(&'static str),
    #[error("the run object holds another run")]
    Elsewhere,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    run: Run,
    seal: String,
}

impl Run {
    /// Where run `id` of `share` is kept in the bucket.
    pub fn object_key(share: &str, id: &str) -> String {
        format!("runs/{share}/{id}.json")
    }

    /// Where a run's share and id come from: they are in its key, so a
    /// sealed run is never believed under another run's key.
    pub fn key(&self) -> String {
        Run::object_key(&self.share, &self.id)
    }

    /// Where the run stands: cancelled, else done once every queued item
    /// is done or failed.
    pub fn state(&self) -> RunState {
        if self.cancelled_at.is_some() {
            RunState::Cancelled
        } else if self.items.done + self.items.failed >= self.items.queued {
            RunState::Done
        } else {
            RunState::Running
        }
    }

    /// Adds one invocation's counts (saturating: a count never wraps).
    pub fn add(&mut self, delta: &Delta, at: &str) {
        let add = |count: &mut u64, more: u64| *count = count.saturating_add(more);
        add(&mut self.items.queued, delta.items.queued);
        add(&mut self.items.done, delta.items.done);
        add(&mut self.items.failed, delta.items.failed);
        add(&mut self.files.delivered, delta.files.delivered);
        add(&mut self.files.already_done, delta.files.already_done);
        add(&mut self.files.skipped, delta.files.skipped);
        add(&mut self.files.failed, delta.files.failed);
        self.updated_at = Some(at.to_string());
    }

    /// The run as the API shows it: the stored fields and its `state`.
    pub fn to_api(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("a run serialises");
        value["state"] = serde_json::json!(self.state());
        value
    }

    /// The stored bytes: the run and the stack's seal over it, bound to
    /// its key.
    pub fn to_stored(&self, key: &ShareKey) -> Vec<u8> {
        let content = serde_json::to_string(self).expect("a run serialises");
        let seal = key.seal_state(SEAL_PURPOSE, &self.key(), &content);
        serde_json::to_vec(&Stored {
            run: self.clone(),
            seal,
        })
        .expect("a stored run serialises")
    }

    /// Reads the bytes stored at `object_key`: bounded, parsed strictly,
    /// the seal checked against the run's own key, which must be
    /// `object_key`.
    pub fn from_stored(
        bytes: &[u8],
        object_key: &str,
        key: &ShareKey,
    ) -> Result<Run, Unbelievable> {
        if bytes.len() > MAX_RUN_BYTES {
            return Err(Unbelievable::TooLarge);
        }
        let stored: Stored =
            serde_json::from_slice(bytes).map_err(|e| Unbelievable::Malformed(e.to_string()))?;
        if stored.run.key() != object_key {
            return Err(Unbelievable::Elsewhere);
        }
        let content = serde_json::to_string(&stored.run).expect("a run serialises");
        key.check_state(SEAL_PURPOSE, object_key, &content, Some(&stored.seal))
            .map_err(|d: Distrust| Unbelievable::Unsealed(d.reason()))?;
        Ok(stored.run)
    }
}
