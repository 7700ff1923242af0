//! gRPC through the gateway: an h2c client speaks gRPC framing to a `grpc` route and
//! service; the upstream is a real HTTP/2 server that answers with a message and
//! `grpc-status` trailers, which must arrive at the client unchanged.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use integration::Gateway;

/// A gRPC-ish upstream: echoes the request message back with a prefix, then sends
/// `grpc-status: 0` and `grpc-message` as trailers. It only speaks HTTP/2.
async fn grpc_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let path = req.uri().path().to_string();
                    let te = req.headers().get("te").cloned();
                    let ct = req.headers().get("content-type").cloned();
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let mut msg = BytesMut::new();
                    // gRPC frame: 1 byte flag, 4 bytes length, payload
                    let payload = [
                        b"echo:".as_slice(),
                        body.get(5..).unwrap_or_default(),
                        format!("|{path}|te={te:?}|ct={ct:?}").as_bytes(),
                    ]
                    .concat();
                    msg.extend_from_slice(&[0]);
                    msg.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                    msg.extend_from_slice(&payload);
                    let mut trailers = HeaderMap::new();
                    trailers.insert("grpc-status", HeaderValue::from_static("0"));
                    trailers.insert("grpc-message", HeaderValue::from_static("all-good"));
                    let frames: Vec<Result<Frame<Bytes>, Infallible>> =
                        vec![Ok(Frame::data(msg.freeze())), Ok(Frame::trailers(trailers))];
                    let mut r = Response::new(StreamBody::new(futures_util::stream::iter(frames)));
                    r.headers_mut()
                        .insert("content-type", HeaderValue::from_static("application/grpc"));
                    Ok::<_, Infallible>(r)
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_h2c_is_proxied_with_trailers() {
    let up = grpc_upstream().await;
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n- name: greeter\n  protocol: grpc\n  host: 127.0.0.1\n  port: {}\n  routes:\n  - name: greeter\n    protocols: [grpc]\n    paths: [/helloworld.Greeter/]\n",
        up.port()
    );
    let gw = Gateway::start(&yaml).await;
    let proxy: SocketAddr = gw
        .url("/")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));

    let tcp = tokio::net::TcpStream::connect(proxy)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake::<_, Full<Bytes>>(TokioIo::new(tcp))
        .await
        .unwrap_or_else(|e| panic!("h2 handshake: {e}"));
    tokio::spawn(conn);

    let mut frame = vec![0u8];
    frame.extend_from_slice(&5u32.to_be_bytes());
    frame.extend_from_slice(b"world");
    let req = Request::post(format!("http://{proxy}/helloworld.Greeter/SayHello"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from(frame)))
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = sender
        .send_request(req)
        .await
        .unwrap_or_else(|e| panic!("request: {e}"));
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-type").map(|v| v.as_bytes()),
        Some(b"application/grpc".as_slice())
    );
    let collected = resp
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("body: {e}"));
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let body = collected.to_bytes();
    let text = String::from_utf8_lossy(body.get(5..).unwrap_or_default()).to_string();
    // the gRPC path is not stripped (strip_path defaults to false on grpc routes)
    assert!(
        text.starts_with("echo:world|/helloworld.Greeter/SayHello|"),
        "{text}"
    );
    assert!(
        text.contains("te=Some(\"trailers\")"),
        "TE: trailers must reach the upstream: {text}"
    );
    assert!(text.contains("ct=Some(\"application/grpc\")"), "{text}");
    assert_eq!(
        trailers.get("grpc-status").map(|v| v.as_bytes()),
        Some(b"0".as_slice()),
        "trailers: {trailers:?}"
    );
    assert_eq!(
        trailers.get("grpc-message").map(|v| v.as_bytes()),
        Some(b"all-good".as_slice())
    );
}
