//! An invocation's time budget: Lambda ends an invocation at its deadline
//! (the runtime's `Lambda-Runtime-Deadline-Ms`), and a batch that outlives
//! it returns no partial-batch response, so every message in it — done ones
//! included — would be retried. The forwarder therefore
//!
//! - starts a message only while enough time is left for one to finish
//!   ([`Budget::may_start`]): at least a third of the working time, and
//!   twice the longest message seen so far in this invocation;
//! - at the *cut* ([`Budget::cut`]) stops waiting for what is still
//!   running; those messages are reported failed (retried: what they did
//!   is done again at one read a file);
//! - keeps the *tail* (a tenth of the time, 0.1 s to 5 s) before the
//!   deadline for writing the runs' counts and answering.
//!
//! With the template's 60 s timeout: no message starts after about 37 s,
//! the cut is at 55 s.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

// Tokio's clock: tests run the batch on a paused one.
use tokio::time::Instant;

/// The shortest and longest tail kept before the deadline.
const TAIL: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// When to stop taking work, and when to stop waiting for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    start: Instant,
    /// `None`: no deadline (a test, a direct call).
    cut: Option<Instant>,
    end: Option<Instant>,
}

impl Budget {
    /// No deadline: everything starts, nothing is cut.
    pub fn unlimited() -> Budget {
        Budget {
            start: Instant::now(),
            cut: None,
            end: None,
        }
    }

    /// The budget of an invocation whose deadline is `deadline_ms`
    /// (milliseconds since the Unix epoch, as the runtime API gives it),
    /// as of `now` (and `wall`, the same moment on the wall clock). A
    /// deadline of 0 (none given), or one already past when the invocation
    /// starts, is no deadline: Lambda never gives one (an invocation past
    /// its deadline is ended), an emulator may (`cargo lambda watch` does).
    pub fn until(deadline_ms: u64, now: Instant, wall: SystemTime) -> Budget {
        let wall_ms = wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        if deadline_ms <= wall_ms {
            return Budget {
                start: now,
                cut: None,
                end: None,
            };
        }
        let total = Duration::from_millis(deadline_ms - wall_ms);
        let tail = (total / 10).clamp(TAIL.0, TAIL.1).min(total);
        Budget {
            start: now,
            cut: Some(now + (total - tail)),
            end: Some(now + total),
        }
    }

    /// The budget of an invocation whose deadline is `deadline_ms`, from now.
    pub fn from_deadline_ms(deadline_ms: u64) -> Budget {
        Budget::until(deadline_ms, Instant::now(), SystemTime::now())
    }

    /// Whether a message may start at `now`, given the longest one this
    /// invocation has taken so far: only if it can still finish before
    /// the cut.
    pub fn may_start(&self, now: Instant, longest: Duration) -> bool {
        let Some(cut) = self.cut else {
            return true;
        };
        let reserve = ((cut - self.start.min(cut)) / 3).max(longest * 2);
        now < cut && now + reserve <= cut
    }

    /// When the invocation started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// When to stop waiting for running messages.
    pub fn cut(&self) -> Option<Instant> {
        self.cut
    }

    /// The deadline itself: the counts and the answer must be done by then.
    pub fn end(&self) -> Option<Instant> {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(budget: &Budget, ms: u64) -> Instant {
        budget.start + Duration::from_millis(ms)
    }

    /// Lambda's 60 s: messages start until about 37 s in, the cut is at
    /// 55 s; a slow message seen makes the forwarder stop starting sooner.
    #[test]
    fn a_sixty_second_invocation_starts_work_for_37_seconds_and_cuts_at_55() {
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let deadline = 1_700_000_000_000 + 60_000;
        let budget = Budget::until(deadline, now, wall);
        assert_eq!(budget.cut(), Some(now + Duration::from_secs(55)));
        assert_eq!(budget.end(), Some(now + Duration::from_secs(60)));
        let quick = Duration::from_millis(500);
        assert!(budget.may_start(at(&budget, 0), quick));
        assert!(budget.may_start(at(&budget, 36_000), quick));
        assert!(!budget.may_start(at(&budget, 37_000), quick));
        let slow = Duration::from_secs(12);
        assert!(budget.may_start(at(&budget, 30_000), slow));
        assert!(!budget.may_start(at(&budget, 32_000), slow));
    }

    /// A short deadline keeps a tenth (at least 0.1 s) for the answer; no
    /// deadline, or one already past at the start (an emulator's), is none.
    #[test]
    fn short_missing_and_past_deadlines() {
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let short = Budget::until(1_700_000_000_000 + 2_000, now, wall);
        assert_eq!(short.cut(), Some(now + Duration::from_millis(1_800)));
        assert!(short.may_start(now, Duration::ZERO));
        assert!(!short.may_start(at(&short, 1_300), Duration::ZERO));
        let none = Budget::until(0, now, wall);
        assert_eq!((none.cut(), none.end()), (None, None));
        assert!(none.may_start(now + Duration::from_secs(3600), Duration::from_secs(60)));
        let past = Budget::until(1_600_000_000_000, now, wall);
        assert_eq!((past.cut(), past.end()), (None, None));
        let tiny = Budget::until(1_700_000_000_000 + 50, now, wall);
        assert_eq!(tiny.cut(), Some(now));
        assert!(!tiny.may_start(now, Duration::ZERO));
        assert!(Budget::unlimited().may_start(now, Duration::from_secs(600)));
    }
}
