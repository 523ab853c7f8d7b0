//! "Log once per streak": a loop that retries a failing step logs the failure when a streak of
//! failures starts (or, with `failed`, when its message changes), and its end once, instead of at
//! every attempt. The caller keeps its own level and words; this only says when.

use std::fmt::Display;

/// The state of one retried step.
#[derive(Debug, Default)]
pub struct Streak(Option<String>);

impl Streak {
    /// The step failed with `e`: true when a streak starts or its message differs from the last.
    pub fn failed(&mut self, e: &dyn Display) -> bool {
        let msg = e.to_string();
        let new = self.0.as_deref() != Some(msg.as_str());
        self.0 = Some(msg);
        new
    }

    /// The step failed, whatever the message: true when a streak starts.
    pub fn began(&mut self) -> bool {
        self.0.replace(String::new()).is_none()
    }

    /// The step succeeded: true when that ends a streak.
    pub fn ended(&mut self) -> bool {
        self.0.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::Streak;

    #[test]
    fn a_streak_is_told_at_its_start_at_a_new_message_and_at_its_end() {
        let mut s = Streak::default();
        assert!(!s.ended(), "no streak yet");
        assert!(s.failed(&"refused"));
        assert!(!s.failed(&"refused"), "the same message again");
        assert!(s.failed(&"timed out"), "another message");
        assert!(s.ended());
        assert!(!s.ended(), "ended once");
        assert!(s.began());
        assert!(!s.began(), "began once, whatever the message");
        assert!(!s.began());
        assert!(s.ended());
    }
}
