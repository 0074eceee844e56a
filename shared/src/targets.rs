//! What one log file owes the shares that cover it: the distinct targets
//! (its tag, each distinct copy) and the announcements, each due once its
//! share's delivery is done. Pure: the forwarder carries them out.

use crate::ports::{Destination, Writer};
use crate::route::Route;
use crate::share::{Delivery, Notify};

/// One thing a log file owes: its tag, or one distinct copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tag,
    Copy(Destination),
}

impl Target {
    pub fn name(&self) -> String {
        match self {
            Target::Tag => "tag".to_string(),
            Target::Copy(d) => format!("copy to s3://{}/{}", d.bucket, d.key),
        }
    }
}

/// One announcement a log file owes a share's queue or topic, due once
/// the share's delivery (`after`, an index into the targets) is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub share: String,
    /// The only account the queue or topic may be in.
    pub grantee_account: String,
    pub notify: Notify,
    pub after: Option<usize>,
}

/// The distinct targets the active shares ask for one log file, and the
/// announcements (one per share and queue or topic; the same queue asked
/// twice for the same object hears once).
pub fn targets_for<'a>(
    shares: impl Iterator<Item = &'a Route>,
    account: &str,
    key: &str,
) -> (Vec<Target>, Vec<Notice>) {
    let mut targets = Vec::new();
    let mut notices: Vec<Notice> = Vec::new();
    for share in shares.filter(|s| s.covers(account)) {
        let after =
            target_of(share, key).map(|target| match targets.iter().position(|t| *t == target) {
                Some(index) => index,
                None => {
                    targets.push(target);
                    targets.len() - 1
                }
            });
        if let Some(notify) = &share.notify {
            let here = place(after, &targets);
            let heard = notices
                .iter()
                .any(|n| n.notify == *notify && place(n.after, &targets) == here);
            if !heard {
                notices.push(Notice {
                    share: share.name.clone(),
                    grantee_account: share.grantee_account.clone(),
                    notify: notify.clone(),
                    after,
                });
            }
        }
    }
    (targets, notices)
}

/// What one share asked of one log file: its delivery's target and the
/// announcement its queue or topic hears (indices into what
/// [`targets_for`] returned for the same shares), so that a result shared
/// by several shares (one tag, one announcement) counts for each of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub share: String,
    pub target: Option<usize>,
    pub notice: Option<usize>,
}

/// [`Asked`] for each share that covers `account`, in order.
pub fn asked<'a>(
    shares: impl Iterator<Item = &'a Route>,
    account: &str,
    key: &str,
    targets: &[Target],
    notices: &[Notice],
) -> Vec<Asked> {
    shares
        .filter(|s| s.covers(account))
        .map(|share| {
            let target =
                target_of(share, key).and_then(|target| targets.iter().position(|t| *t == target));
            let notice = share.notify.as_ref().and_then(|notify| {
                let here = place(target, targets);
                notices
                    .iter()
                    .position(|n| n.notify == *notify && place(n.after, targets) == here)
            });
            Asked {
                share: share.name.clone(),
                target,
                notice,
            }
        })
        .collect()
}

/// The target one share's delivery asks for one log file.
fn target_of(share: &Route, key: &str) -> Option<Target> {
    match &share.delivery {
        Delivery::None => None,
        Delivery::Tag => Some(Target::Tag),
        Delivery::Copy {
            bucket,
            prefix,
            role_arn,
        } => Some(Target::Copy(Destination {
            bucket: bucket.clone(),
            key: format!("{prefix}{key}"),
            owner: share.grantee_account.clone(),
            writer: role_arn.as_ref().map(|arn| Writer {
                role_arn: arn.clone(),
                external_id: share.external_id.clone(),
            }),
        })),
    }
}

/// Where the grantee reads the file an announcement names: its copy (the
/// target's index), or the trail bucket (`None`: a tag leaves it in place).
fn place(after: Option<usize>, targets: &[Target]) -> Option<usize> {
    after.filter(|i| matches!(targets[*i], Target::Copy(_)))
}

#[cfg(test)]
mod tests;
