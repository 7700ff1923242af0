//! Upstream timeouts and connection failures.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use integration::{
    DEADLINE, EchoServer, Gateway, SilentServer, UnacceptingListener, channel_body, client,
    free_port, get, raw_h1,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_timeout_is_a_504() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: {}\n  read_timeout: 200\n  routes:\n  - paths: [/]\n",
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let r = get(&gw.url("/sleep/2000")).await;
    assert_eq!(r.status, 504);
    assert_eq!(
        r.json(),
        serde_json::json!({"message": "The upstream server is timing out"})
    );
    // a quick answer on the same service is fine
    assert_eq!(get(&gw.url("/quick")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_closed_port_is_a_502() {
    let port = free_port();
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:{port}\n  connect_timeout: 2000\n  routes:\n  - paths: [/]\n"
    );
    let gw = Gateway::start(&yaml).await;
    let r = get(&gw.url("/x")).await;
    assert_eq!(r.status, 502);
    assert_eq!(
        r.json()["message"],
        "An invalid response was received from the upstream server"
    );
}

/// `read_timeout` is the longest wait between two reads from the upstream (nginx's
/// `proxy_read_timeout`, and Kong buffers the request body before it even starts),
/// so a client that uploads slowly, with every gap well inside the timeout, must
/// still get its response. The sleeps here are the slow client, not a
/// synchronisation: the total upload takes about twice `read_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_is_not_an_upstream_read_timeout() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: {}\n  read_timeout: 1000\n  routes:\n  - paths: [/]\n",
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let mut sender = raw_h1(gw.proxy).await;
    let (tx, body) = channel_body();
    let req = http::Request::post("/upload")
        .header("host", gw.proxy.to_string())
        .body(body)
        .expect("request");
    let resp = tokio::spawn(async move { sender.send_request(req).await });
    let mut sent = 0;
    for _ in 0..8 {
        // a send fails once the gateway has answered and stopped reading the body
        if tx.send(Bytes::from_static(b"0123456789")).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(tx);
    let resp = tokio::time::timeout(DEADLINE, resp)
        .await
        .expect("response in time")
        .expect("task")
        .expect("response");
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(
        status,
        200,
        "slow upload (gaps of 250 ms, read_timeout 1000 ms; the gateway answered after \
         {sent} of 8 parts): {}",
        String::from_utf8_lossy(&body)
    );
    let j: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(j["body_len"], 80);
}

fn service(url: &str, settings: &str) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: {url}\n{settings}  routes:\n  - paths: [/]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_is_a_504() {
    let hang = UnacceptingListener::start().await;
    let yaml = service(
        &format!("http://{}", hang.addr),
        "  connect_timeout: 300\n  retries: 1\n",
    );
    let gw = Gateway::start(&yaml).await;
    let r = get(&gw.url("/x")).await;
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(r.json()["message"], "The upstream server is timing out");
}

/// A response that stops half-way is cut once nothing arrived for `read_timeout`:
/// the client sees the body fail instead of waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_response_body_is_cut_after_read_timeout() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&service(&up.url(), "  read_timeout: 300\n")).await;
    let mut r = client()
        .get(gw.url("/gated/2"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let first = tokio::time::timeout(DEADLINE, r.chunk())
        .await
        .expect("first chunk in time")
        .expect("first chunk");
    assert_eq!(first.as_deref(), Some(&b"chunk-0\n"[..]));
    // the upstream never sends chunk 1 (no gate permit)
    let next = tokio::time::timeout(DEADLINE, r.chunk())
        .await
        .expect("the stalled body should be cut, not hang");
    assert!(next.is_err(), "a cut body must not look complete: {next:?}");
}

/// `write_timeout` is the longest wait between two successful writes to the
/// upstream (nginx's `proxy_send_timeout`): an upstream that stops reading the
/// request body gets a 504 after it, even though `read_timeout` is long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_timeout_applies_to_an_upstream_that_stops_reading() {
    let stuck = SilentServer::start().await;
    let yaml = service(
        &format!("http://{}", stuck.addr),
        "  write_timeout: 500\n  read_timeout: 60000\n  retries: 0\n",
    );
    let gw = Gateway::start(&yaml).await;
    let mut sender = raw_h1(gw.proxy).await;
    let (tx, body) = channel_body();
    let req = http::Request::post("/upload")
        .header("host", gw.proxy.to_string())
        .body(body)
        .expect("request");
    let mut resp = tokio::spawn(async move { sender.send_request(req).await });
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut fed = 0usize;
    let result = loop {
        tokio::select! {
            r = &mut resp => break Some(r),
            res = tx.send(chunk.clone()), if fed < 4096 => {
                if res.is_err() { fed = usize::MAX; } else { fed += 1; }
            }
            _ = tokio::time::sleep_until(deadline) => break None,
        }
    };
    drop(tx);
    let Some(result) = result else {
        panic!(
            "no response {DEADLINE:?} after the upstream stopped reading \
             ({} MiB sent; write_timeout 500 ms): write_timeout is not applied",
            fed.min(4096) / 16
        );
    };
    let resp = result.expect("task").expect("response");
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&body));
}
