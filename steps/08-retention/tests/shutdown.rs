//! Graceful shutdown: when the shutdown future completes, the server stops accepting, closes its
//! connections between requests, and `server::run` returns.

mod support;

use std::time::Duration;

use step08_retention::client::Client;
use step08_retention::server::Limits;
use support::{config, TestServer};

#[tokio::test]
async fn shutdown_closes_connections_and_returns() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), Limits::default()).await;
    let addr = server.addr;

    // A response proves that the server has accepted the connection. A connection still waiting
    // to be accepted when the listener closes is reset by the kernel instead.
    let mut clients = Vec::new();
    for id in 1..=2 {
        let mut client = server.connect().await;
        let fetch =
            format!(r#"{{"op":"fetch","id":{id},"topic":"greetings","partition":0,"offset":0}}"#);
        let response = client.send(&fetch).await.unwrap();
        assert!(
            response.starts_with(&format!(r#"{{"id":{id},"ok":true"#)),
            "{response}"
        );
        clients.push(client);
    }

    // `stop` fails the test unless `server::run` returns within its timeout.
    server.stop().await;

    for (number, client) in clients.iter_mut().enumerate() {
        let after = client.receive().await.unwrap();
        assert_eq!(after, None, "client {number} was closed");
    }
    let refused = Client::connect(addr).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn shutdown_without_connections_returns() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), Limits::default()).await;
    server.stop().await;
}

#[tokio::test]
async fn client_past_the_shutdown_gets_no_response() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), Limits::default()).await;
    let mut client = server.connect().await;
    server.stop().await;

    // The connection was closed before this request was read, so it is never applied. Either the
    // write fails or the read finds the end of the stream.
    let produce =
        r#"{"op":"produce","topic":"greetings","partition":0,"records":[{"value":"late"}]}"#;
    let result = tokio::time::timeout(Duration::from_secs(10), client.send(produce))
        .await
        .expect("the client learns of the closed connection within 10 s");
    assert!(result.is_err(), "{result:?}");
}
