//! trailshare's shared crate. The domain modules (`key`, `ids`, `share`,
//! `record`, `policy`, `events`, `config`, `layout`, `integrity`) make no AWS calls and are tested on
//! their own; `aws` (feature `aws`) holds the thin SDK adapters, and
//! `telemetry` (feature `telemetry`) how both functions log. `emf` builds
//! Embedded Metric Format lines (pure JSON).

pub mod activity;
pub mod admin;
pub mod admission;
pub mod backfill;
pub mod config;
pub mod dead_letter;
pub mod emf;
pub mod events;
pub mod grantee;
pub mod ids;
pub mod integrity;
pub mod key;
pub mod key_policy;
pub mod layout;
pub mod member_template;
pub mod notice;
pub mod policy;
pub mod ports;
pub mod record;
pub mod route;
pub mod seal;
pub mod share;
pub mod targets;
#[cfg(feature = "telemetry")]
pub mod telemetry;
/// In-memory ports for the functions' unit tests (feature `testkit`).
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

#[cfg(feature = "aws")]
pub mod aws;
