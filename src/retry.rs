//! Retry delays: kube-runtime's exponential backoff with jitter, so that a thousand agents that
//! failed together (an apiserver outage, a fleet-wide FRR upgrade) do not retry in step.

use std::time::Duration;

pub use kube::runtime::utils::Backoff;
/// kube-runtime's exponential backoff (backon underneath); `Backoff::reset` after a success.
pub type RetryBackoff = kube::runtime::watcher::ExponentialBackoff;

/// Delays from `min` doubling up to `max`, each stretched by a random factor in [1, 2), forever.
pub fn backoff(min: Duration, max: Duration) -> RetryBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(max)
        .with_factor(2.0)
        .without_max_times()
        .with_jitter()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_jittered_up_to_the_cap_and_reset() {
        let (min, max) = (Duration::from_millis(500), Duration::from_secs(30));
        let mut b = backoff(min, max);
        let first: Vec<Duration> = b.by_ref().take(10).collect();
        assert!(first[0] >= min && first[0] < 2 * min, "{first:?}");
        assert!(first[1] >= 2 * min && first[1] < 4 * min, "{first:?}");
        assert!(first.iter().all(|d| *d < 2 * max), "capped: {first:?}");
        assert!(first[9] >= max, "reaches the cap: {first:?}");
        b.reset();
        let again = b.next().expect("endless");
        assert!(again >= min && again < 2 * min, "reset starts over: {again:?}");
        // Jitter: many fresh backoffs do not all pick the same first delay.
        let firsts: std::collections::BTreeSet<Duration> = (0..20).filter_map(|_| backoff(min, max).next()).collect();
        assert!(firsts.len() > 1, "no jitter: {firsts:?}");
    }
}
