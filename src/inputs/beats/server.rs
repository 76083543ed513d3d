//! The listener: accepts clients, bounds how many are served at once, isolates them.
//!
//! Every connection runs in its own task with its own buffers and acknowledgement channel, so
//! a client that sends garbage, stalls or floods is closed (or slowed by TCP) without touching
//! the others. A semaphore caps concurrent connections: beyond the cap, clients wait in the
//! kernel's listen backlog and are served as soon as a slot frees, instead of being refused
//! (Filebeat would back off for up to a minute). On shutdown the listener closes first, then
//! every connection finishes its own drain. The accept loop is [`Server`], shared with the
//! tcp input.

use super::connection::{self, ConnectionError, Shared};
use super::BeatsInputError;
use crate::inputs::socket::Server;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// How long a client may take to complete the TLS handshake (Logstash's
/// `ssl_handshake_timeout`).
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Binds the configured address.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, BeatsInputError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| BeatsInputError::Bind { address, source })
}

/// Accepts and serves clients until shutdown, then waits for every connection to finish.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) -> Result<(), BeatsInputError> {
    let context = &shared.context;
    let local = listener
        .local_addr()
        .map_err(|source| BeatsInputError::Bind {
            address: shared.settings.address,
            source,
        })?;
    tracing::info!(input = %context.id, address = %local, "Listening for Beats clients.");
    let server = Server {
        input: &context.id,
        clients: "Beats",
        max_connections: shared.settings.max_connections,
        shutdown: &context.shutdown,
        metrics: &context.metrics,
    };
    server
        .run(listener, |stream, peer| {
            let shared = shared.clone();
            async move { handle(stream, peer, &shared).await }
        })
        .await;
    Ok(())
}

async fn handle(stream: TcpStream, peer: SocketAddr, shared: &Arc<Shared>) {
    let context = &shared.context;
    let _connected = super::metrics::ConnectionGuard::new(&shared.metrics);
    let _ = stream.set_nodelay(true);
    tracing::debug!(input = %context.id, %peer, "Beats client connected.");
    let peer_ip: Arc<str> = Arc::from(peer.ip().to_string());
    let served = match &shared.tls {
        None => {
            let (reader, writer) = stream.into_split();
            connection::serve(reader, writer, peer_ip, shared.clone()).await
        }
        Some(tls) => {
            let handshake = tokio::select! {
                _ = context.shutdown.cancelled() => return,
                handshake = timeout(HANDSHAKE_TIMEOUT, tls.0.accept(stream)) => handshake,
            };
            match handshake {
                Ok(Ok(stream)) => {
                    let (reader, writer) = tokio::io::split(stream);
                    connection::serve(reader, writer, peer_ip, shared.clone()).await
                }
                Ok(Err(e)) => Err(ConnectionError::Handshake(e.to_string())),
                Err(_) => Err(ConnectionError::Handshake("timed out".to_string())),
            }
        }
    };
    match served {
        Ok(()) => tracing::debug!(input = %context.id, %peer, "Beats client disconnected."),
        Err(error) if error.is_fault() => {
            context.metrics.errors.fetch_add(1, Ordering::Relaxed);
            if error.is_protocol_error() {
                shared.metrics.protocol_errors_total.inc();
            }
            tracing::warn!(input = %context.id, %peer, %error, "Closed a Beats connection.");
        }
        Err(error) => {
            tracing::info!(input = %context.id, %peer, %error, "Closed a Beats connection.");
        }
    }
}
