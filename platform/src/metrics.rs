//! The platform's Prometheus metrics: lock-free counters and a commit-latency
//! histogram, rendered in the text exposition format.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS_MS: [u64; 9] = [1, 2, 5, 10, 25, 50, 100, 250, 1000];

#[derive(Default)]
pub struct Metrics {
    pub graphql_requests: AtomicU64,
    pub graphql_errors: AtomicU64,
    commits: AtomicU64,
    commit_us_sum: AtomicU64,
    commit_buckets: [AtomicU64; 9],
    restarts: AtomicU64,
}

impl Metrics {
    pub fn commit(&self, took: Duration) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_us_sum
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        let ms = took.as_secs_f64() * 1000.0;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if ms <= *b as f64 {
                self.commit_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn restart(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// The metrics text; `planes` are the control planes served (those whose
    /// stored config does not validate are counted apart).
    pub fn render(&self, planes: &[std::sync::Arc<crate::config::View>]) -> String {
        let invalid = planes.iter().filter(|v| v.invalid.is_some()).count();
        let planes = planes.len();
        use std::fmt::Write;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP portico_platform_graphql_requests_total GraphQL requests served."
        );
        let _ = writeln!(s, "# TYPE portico_platform_graphql_requests_total counter");
        let _ = writeln!(
            s,
            "portico_platform_graphql_requests_total {}",
            g(&self.graphql_requests)
        );
        let _ = writeln!(
            s,
            "# HELP portico_platform_graphql_errors_total GraphQL responses with errors."
        );
        let _ = writeln!(s, "# TYPE portico_platform_graphql_errors_total counter");
        let _ = writeln!(
            s,
            "portico_platform_graphql_errors_total {}",
            g(&self.graphql_errors)
        );
        let _ = writeln!(
            s,
            "# HELP portico_platform_control_planes Control planes served."
        );
        let _ = writeln!(s, "# TYPE portico_platform_control_planes gauge");
        let _ = writeln!(s, "portico_platform_control_planes {planes}");
        let _ = writeln!(
            s,
            "# HELP portico_platform_invalid_configs Control planes whose stored config does not validate (nodes get nothing until it is fixed)."
        );
        let _ = writeln!(s, "# TYPE portico_platform_invalid_configs gauge");
        let _ = writeln!(s, "portico_platform_invalid_configs {invalid}");
        let _ = writeln!(
            s,
            "# HELP portico_platform_actor_restarts_total Control plane actors restarted by their supervisor."
        );
        let _ = writeln!(s, "# TYPE portico_platform_actor_restarts_total counter");
        let _ = writeln!(
            s,
            "portico_platform_actor_restarts_total {}",
            g(&self.restarts)
        );
        let _ = writeln!(
            s,
            "# HELP portico_platform_commit_seconds Time from a change reaching its control plane to its commit."
        );
        let _ = writeln!(s, "# TYPE portico_platform_commit_seconds histogram");
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            let _ = writeln!(
                s,
                "portico_platform_commit_seconds_bucket{{le=\"{}\"}} {}",
                *b as f64 / 1000.0,
                g(&self.commit_buckets[i])
            );
        }
        let _ = writeln!(
            s,
            "portico_platform_commit_seconds_bucket{{le=\"+Inf\"}} {}",
            g(&self.commits)
        );
        let _ = writeln!(
            s,
            "portico_platform_commit_seconds_sum {}",
            g(&self.commit_us_sum) as f64 / 1e6
        );
        let _ = writeln!(
            s,
            "portico_platform_commit_seconds_count {}",
            g(&self.commits)
        );
        s
    }
}
