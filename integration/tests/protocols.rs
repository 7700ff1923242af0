//! Protocols: HTTP/2 prior knowledge (h2c) on the plain listener, large bodies in
//! both directions, streaming without buffering, and WebSocket upgrades.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use integration::{
    DEADLINE, EchoServer, Gateway, channel_body, client, eventually, h2c_client, pattern, raw_h1,
    send, sha256_hex,
};
use tokio_tungstenite::tungstenite::Message;

fn config(up: &EchoServer) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: {}\n  routes:\n  - paths: [/]\n",
        up.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_on_the_plain_listener() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    let c = h2c_client();
    let r = send(c.get(gw.url("/h2c?a=b")).header("x-test", "1")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.version, http::Version::HTTP_2);
    let j = r.json();
    assert_eq!(j["path"], "/h2c?a=b");
    assert_eq!(j["version"], "HTTP/1.1");
    assert_eq!(j["headers"]["x-test"], "1");
    assert_eq!(
        j["headers"]["host"],
        up.target(),
        "Host set from the target"
    );
    let via = j["headers"]["via"].as_str().unwrap_or_default();
    assert!(via.starts_with("2 portico/"), "{via:?}");
    // several streams on one connection at once
    let mut tasks = Vec::new();
    for i in 0..16 {
        let c = c.clone();
        let url = gw.url(&format!("/multi/{i}"));
        tasks.push(tokio::spawn(async move { send(c.get(url)).await }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.expect("task");
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["path"], format!("/multi/{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_request_and_response_bodies() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    const N: usize = 8 << 20;
    let data = pattern(N);
    let want = sha256_hex(&data);
    for (proto, c) in [("http/1.1", client()), ("h2c", h2c_client())] {
        let r = send(c.post(gw.url("/upload")).body(data.clone())).await;
        assert_eq!(r.status, 200, "{proto}: {}", r.text());
        let j = r.json();
        assert_eq!(j["body_len"], N, "{proto}");
        assert_eq!(j["body_sha256"], want, "{proto}");

        let r = send(c.get(gw.url(&format!("/bytes/{N}")))).await;
        assert_eq!(r.status, 200, "{proto}");
        assert_eq!(r.body.len(), N, "{proto}");
        assert_eq!(sha256_hex(&r.body), want, "{proto}");
    }
}

/// The upstream sends one chunk, then waits for the test to have received it
/// before sending the next: a gateway that buffered the response would never
/// deliver the first chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_bodies_are_streamed() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    let mut r = client()
        .get(gw.url("/gated/3"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let mut got = String::new();
    for k in 0..3 {
        let want = format!("chunk-{k}\n");
        while got.len() < want.len() {
            let chunk = tokio::time::timeout(DEADLINE, r.chunk())
                .await
                .unwrap_or_else(|_| {
                    panic!("chunk {k} never arrived: the response is being buffered")
                })
                .expect("body")
                .expect("body ended early");
            got.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert_eq!(got, want);
        got.clear();
        up.state.gate.add_permits(1);
    }
    let end = tokio::time::timeout(DEADLINE, r.chunk())
        .await
        .expect("end");
    assert!(matches!(end, Ok(None)), "{end:?}");
}

/// The client sends part of a body and waits until the upstream has received it
/// before sending the rest: a gateway that buffered the request would never pass
/// the first part on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_streamed() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    let mut sender = raw_h1(gw.proxy).await;
    let (tx, body) = channel_body();
    let req = http::Request::post("/stream-up")
        .header("host", gw.proxy.to_string())
        .body(body)
        .expect("request");
    let resp = tokio::spawn(async move { sender.send_request(req).await });
    const PART: usize = 64 * 1024;
    for k in 1..=3 {
        tx.send(Bytes::from(vec![b'a' + k as u8; PART]))
            .await
            .expect("send part");
        eventually(&format!("part {k} to reach the upstream"), || async {
            up.state.body_bytes.load(Ordering::SeqCst) >= k * PART
        })
        .await;
    }
    drop(tx);
    let resp = tokio::time::timeout(DEADLINE, resp)
        .await
        .expect("response in time")
        .expect("task")
        .expect("response");
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let j: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(j["body_len"], 3 * PART);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_end_to_end() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    let (mut ws, resp) = tokio::time::timeout(
        DEADLINE,
        tokio_tungstenite::connect_async(format!("ws://{}/ws", gw.proxy)),
    )
    .await
    .expect("handshake in time")
    .expect("websocket handshake through the gateway");
    assert_eq!(resp.status(), 101);
    for i in 0..5 {
        let text = format!("hello {i}");
        ws.send(Message::text(text.clone())).await.expect("send");
        let got = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("echo in time")
            .expect("stream open")
            .expect("message");
        assert_eq!(got, Message::text(text));
    }
    let bin = vec![0u8, 1, 2, 255];
    ws.send(Message::binary(bin.clone())).await.expect("send");
    let got = tokio::time::timeout(DEADLINE, ws.next())
        .await
        .expect("echo in time")
        .expect("stream open")
        .expect("message");
    assert_eq!(got, Message::binary(bin));
    ws.close(None).await.expect("close");
    assert_eq!(up.hits(), 1, "one upgrade request upstream");
    // the gateway still serves plain requests afterwards
    assert_eq!(send(client().get(gw.url("/after"))).await.status, 200);
}
