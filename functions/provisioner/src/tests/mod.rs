//! The share API over an in-memory role store (`trailshare::testkit::MemRoles`)
//! that can fail any one IAM write: what moto cannot do (fail the n-th call
//! of a replace, refuse a principal, answer with an AWS error message).
//!
//! The replace tests judge each intermediate state with a small evaluator
//! of the documents the store holds (`support`); tests/provisioner/ has
//! the independent evaluator judge what real IAM (moto) holds.
//!
//! By concept: `write` (create, replace, revoke: what is written and what
//! is refused), `replace` (a replace stopped at any write), `read` (pages,
//! damaged roles), `expired` (backfill refused, the sweep), `admin` (who
//! may change shares, the audit), `organization` (organization shares), `routes` (the route table, the router and
//! `template.yaml`).

mod admin;
mod expired;
mod organization;
mod read;
mod replace;
mod routes;
mod support;
mod write;
