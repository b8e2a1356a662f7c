//! How a reminder's claim (`reminder#...`, the reminder job's id) records who delivers it.
//!
//! reminder-cron completes the claim with [`Settled::Sent`] after a direct send or with
//! [`Settled::Queued`] after handing the job to the email queue. The email worker sends a
//! queued reminder only once the claim says `Queued`: a claim still in progress or released
//! (hand-over unconfirmed) makes it wait, and `Sent` makes it drop the job. Whoever delivers a
//! reminder is thus decided by the one claim record, never by two parties at once.

/// The stored result of a completed reminder claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Sent by the run (the SES message id).
    Sent(String),
    /// Handed to the email queue (the SQS message id): the email worker delivers it.
    Queued(String),
}

const SENT: &str = "sent:";
const QUEUED: &str = "queued:";

impl Settled {
    /// The claim's stored result.
    pub fn to_result(&self) -> String {
        match self {
            Self::Sent(id) => format!("{SENT}{id}"),
            Self::Queued(id) => format!("{QUEUED}{id}"),
        }
    }

    /// Reads a stored result back; `None` for anything else (e.g. a failure reason).
    pub fn parse(result: &str) -> Option<Self> {
        if let Some(id) = result.strip_prefix(SENT) {
            Some(Self::Sent(id.to_owned()))
        } else {
            result
                .strip_prefix(QUEUED)
                .map(|id| Self::Queued(id.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip() {
        for s in [
            Settled::Sent("ses-1".into()),
            Settled::Queued("sqs-1".into()),
        ] {
            assert_eq!(Settled::parse(&s.to_result()), Some(s));
        }
        assert_eq!(Settled::parse("unrenderable"), None);
    }
}
