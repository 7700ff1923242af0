//! `prometheus` (priority 13): counts every request it sees in Kong's metric names
//! (`kong_http_requests_total`, `kong_request_latency_ms`, `kong_upstream_latency_ms`,
//! `kong_kong_latency_ms`, `kong_bandwidth_bytes`), rendered on the status
//! listener's `/metrics` together with the node's own counters. Labels come from the
//! config (service and route names, consumer usernames with `per_consumer`) and the
//! status code, so their number is bounded by the config.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, LazyLock, Mutex};

use graphql_schema::plugin_config::prometheus::PrometheusConfig;

use crate::plugin::Plugin;

/// Kong's latency buckets (ms).
const BUCKETS: [f64; 26] = [
    1.0, 2.0, 5.0, 7.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0,
    200.0, 300.0, 400.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0, 60000.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

#[derive(Default)]
struct Metrics {
    /// (service, route, code, consumer) -> count
    requests: BTreeMap<(String, String, String, String), u64>,
    /// (service, route) -> histograms
    request_latency: BTreeMap<(String, String), Histogram>,
    upstream_latency: BTreeMap<(String, String), Histogram>,
    kong_latency: BTreeMap<(String, String), Histogram>,
    /// (service, route, direction) -> bytes
    bandwidth: BTreeMap<(String, String, &'static str), u64>,
}

static METRICS: LazyLock<Mutex<Metrics>> = LazyLock::new(Default::default);

pub struct Prometheus {
    cfg: PrometheusConfig,
}

impl Prometheus {
    pub fn new(cfg: PrometheusConfig) -> Prometheus {
        Prometheus { cfg }
    }
}

fn s(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

impl Plugin for Prometheus {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    fn logs(&self) -> bool {
        true
    }

    fn log(&self, e: &Arc<serde_json::Value>) {
        let service = s(&e["service"]["name"]);
        let route = s(&e["route"]["name"]);
        let code = e["response"]["status"].as_u64().unwrap_or(0).to_string();
        let consumer = if self.cfg.per_consumer {
            s(&e["consumer"]["username"])
        } else {
            String::new()
        };
        let Ok(mut m) = METRICS.lock() else { return };
        if self.cfg.status_code_metrics {
            *m.requests
                .entry((service.clone(), route.clone(), code, consumer))
                .or_default() += 1;
        }
        if self.cfg.latency_metrics {
            let l = &e["latencies"];
            let key = (service.clone(), route.clone());
            m.request_latency
                .entry(key.clone())
                .or_default()
                .observe(l["request"].as_f64().unwrap_or(0.0));
            m.upstream_latency
                .entry(key.clone())
                .or_default()
                .observe(l["proxy"].as_f64().unwrap_or(0.0));
            m.kong_latency
                .entry(key)
                .or_default()
                .observe(l["kong"].as_f64().unwrap_or(0.0));
        }
        if self.cfg.bandwidth_metrics {
            *m.bandwidth
                .entry((service.clone(), route.clone(), "ingress"))
                .or_default() += e["request"]["size"].as_u64().unwrap_or(0);
            *m.bandwidth.entry((service, route, "egress")).or_default() +=
                e["response"]["size"].as_u64().unwrap_or(0);
        }
    }
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    series: &BTreeMap<(String, String), Histogram>,
) {
    if series.is_empty() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for ((svc, route), h) in series {
        let labels = format!(
            "service=\"{}\",route=\"{}\",workspace=\"default\"",
            esc(svc),
            esc(route)
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels},le=\"{b:05}\"}} {}",
                h.counts[i]
            );
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
    }
}

/// The plugin's metrics in Prometheus text format.
pub fn render(out: &mut String) {
    let Ok(m) = METRICS.lock() else { return };
    if !m.requests.is_empty() {
        out.push_str("# HELP kong_http_requests_total HTTP status codes per consumer/service/route in Kong\n# TYPE kong_http_requests_total counter\n");
        for ((svc, route, code, consumer), n) in &m.requests {
            let _ = writeln!(
                out,
                "kong_http_requests_total{{service=\"{}\",route=\"{}\",code=\"{code}\",source=\"service\",workspace=\"default\",consumer=\"{}\"}} {n}",
                esc(svc),
                esc(route),
                esc(consumer)
            );
        }
    }
    histogram(
        out,
        "kong_request_latency_ms",
        "Total latency incurred during requests for each service/route in Kong",
        &m.request_latency,
    );
    histogram(
        out,
        "kong_upstream_latency_ms",
        "Latency added by upstream response for each service/route in Kong",
        &m.upstream_latency,
    );
    histogram(
        out,
        "kong_kong_latency_ms",
        "Latency added by Kong and enabled plugins for each service/route in Kong",
        &m.kong_latency,
    );
    if !m.bandwidth.is_empty() {
        out.push_str("# HELP kong_bandwidth_bytes Total bandwidth (ingress/egress) throughput in bytes\n# TYPE kong_bandwidth_bytes counter\n");
        for ((svc, route, dir), n) in &m.bandwidth {
            let _ = writeln!(
                out,
                "kong_bandwidth_bytes{{service=\"{}\",route=\"{}\",direction=\"{dir}\",workspace=\"default\"}} {n}",
                esc(svc),
                esc(route)
            );
        }
    }
}
