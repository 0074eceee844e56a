//! The forwarder's decisions over in-memory ports: what each share mode does
//! to a file, what is skipped, and how often IAM is asked.
//!
//! By concept: `deliver` (tags and copies), `events` (skips, SQS batches,
//! log lines), `shares` (the share table's cost and the shares it does not
//! act on), `backfill` (the fan-out), `notify` (notices); `support` holds
//! the set-up.

mod backfill;
mod deliver;
mod events;
mod notify;
mod shares;
mod support;
