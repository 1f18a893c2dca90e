//! Tests for [`SocketWriter`] on real websockets over loopback: frames arrive in order; a peer
//! that stops reading never blocks the writer and gets everything, in order, once it reads
//! again; one that never reads is given up on with a cause; a close goes out behind the frames.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::*;

type Peer = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A writer on the server side of a loopback websocket, and the client that reads it.
async fn pair() -> (SocketWriter, JoinHandle<Option<String>>, Peer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tokio_tungstenite::accept_async(tcp)
            .await
            .expect("handshake")
    });
    let (client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .expect("connect");
    let (sink, _stream) = server.await.expect("server").split();
    let (writer, flusher) = SocketWriter::start(sink);
    (writer, flusher, client)
}

/// Reads `n` text frames.
async fn read_texts(peer: &mut Peer, n: usize) -> Vec<String> {
    let mut texts = Vec::with_capacity(n);
    while texts.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), peer.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => texts.push(text.to_string()),
            Ok(Some(Ok(_))) => {}
            other => panic!("after {} frames: {other:?}", texts.len()),
        }
    }
    texts
}

#[tokio::test]
async fn frames_written_then_flushed_arrive_in_order() {
    let (writer, _flusher, mut peer) = pair().await;
    for i in 0..100 {
        writer.send(format!("frame {i}")).expect("open");
        if i % 7 == 6 {
            writer.flush();
        }
    }
    writer.flush();
    let texts = read_texts(&mut peer, 100).await;
    let expected: Vec<String> = (0..100).map(|i| format!("frame {i}")).collect();
    assert_eq!(texts, expected);
}

#[tokio::test]
async fn a_peer_that_stops_reading_never_blocks_the_writer_and_gets_everything_after() {
    let (writer, _flusher, mut peer) = pair().await;
    // 16 KiB frames until the kernel's buffers on both sides are full: the writer falls behind
    // and keeps the rest, without blocking this task.
    let payload = "x".repeat(16 * 1024);
    let frames = 1_000;
    for i in 0..frames {
        writer.send(format!("{i:04} {payload}")).expect("open");
        writer.flush();
    }
    assert!(
        writer.shared.state().behind,
        "16 MiB did not fit in the socket's buffers: the writer is behind"
    );
    let texts = read_texts(&mut peer, frames).await;
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(&text[..4], format!("{i:04}"), "frame {i} in order");
        assert_eq!(text.len(), 5 + payload.len());
    }
}

#[tokio::test]
async fn a_peer_that_never_reads_is_given_up_on_with_the_cause() {
    let (writer, flusher, _peer) = pair().await;
    let payload = "y".repeat(16 * 1024);
    let mut refused = false;
    for i in 0..(BACKLOG_MAX + 2_000) {
        if writer.send(format!("{i} {payload}")).is_err() {
            refused = true;
            break;
        }
        writer.flush();
    }
    assert!(refused, "sends are refused once the backlog is full");
    assert!(writer.is_closed());
    let cause = tokio::time::timeout(Duration::from_secs(10), flusher)
        .await
        .expect("the flusher ends")
        .expect("no panic");
    assert!(
        cause
            .as_deref()
            .is_some_and(|c| c.contains("stopped reading")),
        "{cause:?}"
    );
}

#[tokio::test]
async fn close_sends_the_close_frame_behind_the_frames_and_ends_the_flusher() {
    let (writer, flusher, mut peer) = pair().await;
    writer.send("last words".to_owned()).expect("open");
    writer.close(Some(normal_close()));
    assert_eq!(writer.send("too late".to_owned()), Err(Closed));
    assert_eq!(read_texts(&mut peer, 1).await, ["last words"]);
    match tokio::time::timeout(Duration::from_secs(10), peer.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => {
            assert_eq!(frame.code, CloseCode::Normal);
        }
        other => panic!("expected the close frame: {other:?}"),
    }
    let end = tokio::time::timeout(Duration::from_secs(10), flusher)
        .await
        .expect("the flusher ends")
        .expect("no panic");
    assert_eq!(end, None, "a close is not a failure");
}
