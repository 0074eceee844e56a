//! trailshare's shared crate. The domain modules (`key`, `ids`, `share`,
//! `record`, `policy`, `events`, `config`, `layout`, `integrity`) make no AWS calls and are tested on
//! their own; `aws` (feature `aws`) holds the thin SDK adapters.

pub mod admin;
pub mod admission;
pub mod backfill;
pub mod config;
pub mod dead_letter;
pub mod events;
pub mod grantee;
pub mod ids;
pub mod integrity;
pub mod key;
pub mod layout;
pub mod notice;
pub mod policy;
pub mod ports;
pub mod record;
pub mod route;
pub mod seal;
pub mod share;
pub mod targets;

#[cfg(feature = "aws")]
pub mod aws;
