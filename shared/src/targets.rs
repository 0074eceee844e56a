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
        let target = match &share.delivery {
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
        };
        let after = target.map(|target| match targets.iter().position(|t| *t == target) {
            Some(index) => index,
            None => {
                targets.push(target);
                targets.len() - 1
            }
        });
        if let Some(notify) = &share.notify {
            // Where the grantee reads: a tag leaves the file in place.
            let place = after.filter(|i| matches!(targets[*i], Target::Copy(_)));
            let heard = notices.iter().any(|n| {
                n.notify == *notify
                    && n.after.filter(|i| matches!(targets[*i], Target::Copy(_))) == place
            });
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
