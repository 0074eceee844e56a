//! The forwarder's own dead-lettering (`DEAD_LETTER_QUEUE_URL`,
//! `MAX_RECEIVES`): on a message's last receive it sends the message to the
//! dead-letter queue itself, with attributes saying what failed.

use super::{fail, ConfigError, Env};

/// SQS's range for a redrive policy's `maxReceiveCount`.
const MAX_RECEIVES_RANGE: std::ops::RangeInclusive<u32> = 1..=1000;

/// Where the forwarder dead-letters a message, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// `DEAD_LETTER_QUEUE_URL`: the forwarder queue's dead-letter queue.
    pub queue_url: String,
    /// `MAX_RECEIVES`: the queue's `maxReceiveCount`. A message received
    /// this many times is on its last receive: SQS moves it on the next.
    pub max_receives: u32,
}

/// Both variables or neither (then the queue's own redrive alone moves
/// failed messages, without an explanation); one without the other is an
/// error naming the missing one.
pub(super) fn read(env: &Env<'_>) -> Result<Option<DeadLetter>, ConfigError> {
    let queue_url = env.checked(
        "DEAD_LETTER_QUEUE_URL",
        |url| url.starts_with("https://") || url.starts_with("http://"),
        "must be an SQS queue URL",
    )?;
    let max_receives = match env.get("MAX_RECEIVES") {
        None => None,
        Some(text) => Some(
            text.parse::<u32>()
                .ok()
                .filter(|n| MAX_RECEIVES_RANGE.contains(n))
                .ok_or_else(|| {
                    fail(
                        "MAX_RECEIVES",
                        "must be the queue's maxReceiveCount, a whole number from 1 to 1000",
                    )
                })?,
        ),
    };
    match (queue_url, max_receives) {
        (None, None) => Ok(None),
        (Some(queue_url), Some(max_receives)) => Ok(Some(DeadLetter {
            queue_url,
            max_receives,
        })),
        (Some(_), None) => Err(fail(
            "MAX_RECEIVES",
            "is required with DEAD_LETTER_QUEUE_URL (the queue's maxReceiveCount)",
        )),
        (None, Some(_)) => Err(fail(
            "DEAD_LETTER_QUEUE_URL",
            "is required with MAX_RECEIVES",
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = [("TRAIL_BUCKET", "trail-bucket")]
            .iter()
            .chain(vars)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    const URL: &str = "https://sqs.us-east-1.amazonaws.com/111111111111/trailshare-dlq";

    #[test]
    fn both_variables_or_neither() {
        assert_eq!(config(&[]).unwrap().dead_letter, None);
        assert_eq!(
            config(&[("DEAD_LETTER_QUEUE_URL", ""), ("MAX_RECEIVES", "")])
                .unwrap()
                .dead_letter,
            None,
            "the template's empty values are unset"
        );
        let dead_letter = config(&[("DEAD_LETTER_QUEUE_URL", URL), ("MAX_RECEIVES", "5")])
            .unwrap()
            .dead_letter
            .unwrap();
        assert_eq!(
            (dead_letter.queue_url.as_str(), dead_letter.max_receives),
            (URL, 5)
        );
    }

    #[test]
    fn a_missing_or_malformed_variable_is_named() {
        let named = |vars: &[(&str, &str)]| config(vars).unwrap_err().variable;
        assert_eq!(named(&[("DEAD_LETTER_QUEUE_URL", URL)]), "MAX_RECEIVES");
        assert_eq!(named(&[("MAX_RECEIVES", "5")]), "DEAD_LETTER_QUEUE_URL");
        for bad in ["0", "1001", "-1", "five", "5.0"] {
            assert_eq!(
                named(&[("DEAD_LETTER_QUEUE_URL", URL), ("MAX_RECEIVES", bad)]),
                "MAX_RECEIVES",
                "{bad}"
            );
        }
        assert_eq!(
            named(&[
                ("DEAD_LETTER_QUEUE_URL", "trailshare-dlq"),
                ("MAX_RECEIVES", "5")
            ]),
            "DEAD_LETTER_QUEUE_URL"
        );
    }
}
