//! `type = "udp"`: events from UDP datagrams (Logstash's udp input).
//!
//! With the default `plain` codec each datagram is one event, its payload the `message`
//! (syslog over UDP, GELF-like JSON with `codec = "json"`); `line` and `json_lines` split a
//! datagram into lines. A datagram longer than `buffer_size` is cut by the kernel (as in
//! Logstash, whose default is the same 65,536 bytes).
//!
//! UDP has no flow control and no acknowledgement: while the pipeline is full the input
//! stops reading, datagrams queue in the kernel's receive buffer, and beyond it the kernel
//! drops them. That is the protocol's nature (and Logstash's behaviour); senders that must
//! not lose events should use TCP with Beats or Kafka. Datagrams that are waiting when one
//! arrives are read together, up to `batch_size` of them, so a busy input sends full
//! batches.
//!
//! Each event carries the sender's address in `[host][ip]` (Logstash 8, ECS mode) and the
//! time it was read as `@timestamp`, unless the codec decoded one.

#[cfg(test)]
mod tests;

use super::codec::{CodecConfig, Decoded, Decoder};
use super::socket::{address, Delivery};
use super::{InputContext, InputError, InputType};
use crate::config::{BuildContext, ConfigError};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use tokio::net::UdpSocket;

/// `type = "udp"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpInputConfig {
    /// The address to listen on (Logstash: `0.0.0.0`).
    #[serde(default = "crate::inputs::socket::default_host")]
    pub host: String,
    /// The port to listen on (required, as in Logstash).
    pub port: u16,
    /// How a datagram becomes events (Logstash's udp default: `plain`).
    #[serde(default = "default_codec")]
    pub codec: CodecConfig,
    /// Largest datagram read whole, in bytes (Logstash: 65536).
    #[serde(default = "default_buffer_size")]
    pub buffer_size: usize,
    /// Longer lines (line codecs) are cut to this many bytes and tagged `_line_truncated`.
    #[serde(default = "crate::inputs::socket::default_max_line_bytes")]
    pub max_line_bytes: usize,
}

fn default_codec() -> CodecConfig {
    CodecConfig::Plain
}

fn default_buffer_size() -> usize {
    65_536
}

/// Why the udp input stopped.
#[derive(Debug, thiserror::Error)]
pub enum UdpInputError {
    #[error("udp input cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// The udp input.
#[derive(Debug)]
pub struct UdpInput {
    settings: UdpInputConfig,
}

impl InputType for UdpInput {
    type Config = UdpInputConfig;
    const FINITE: bool = false;

    fn build(settings: &UdpInputConfig, context: &BuildContext) -> Result<Self, ConfigError> {
        if settings.buffer_size == 0 || settings.max_line_bytes == 0 {
            return Err(context.error_at(
                None,
                "udp input: `buffer_size` and `max_line_bytes` must be at least 1",
            ));
        }
        settings.codec.validate("udp", context)?;
        Ok(Self {
            settings: settings.clone(),
        })
    }

    async fn run(self, context: InputContext) -> Result<(), InputError> {
        let address = address(&self.settings.host, self.settings.port);
        let socket = UdpSocket::bind(&address)
            .await
            .map_err(|source| UdpInputError::Bind { address, source })?;
        serve(socket, self.settings, context).await;
        Ok(())
    }
}

/// Reads datagrams until shutdown, then waits for what was read to be delivered.
async fn serve(socket: UdpSocket, settings: UdpInputConfig, context: InputContext) {
    if let Ok(local) = socket.local_addr() {
        tracing::info!(input = %context.id, address = %local, "Listening for UDP datagrams.");
    }
    let shutdown = context.shutdown.clone();
    let batch_size = context.settings.batch_size.max(1);
    context.readiness.set_ready();
    let (delivery, receipts) = Delivery::new(context);
    let metrics = delivery.context().metrics.clone();
    let mut decoder = settings.codec.decoder(settings.max_line_bytes);
    let mut buffer = vec![0u8; settings.buffer_size];
    loop {
        let mut decoded = Decoded::default();
        let deadline = decoder.flush_deadline();
        let ended = tokio::select! {
            received = socket.recv_from(&mut buffer) => match received {
                Ok((n, peer)) => {
                    metrics.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    decode_datagram(&mut decoder, &buffer[..n], peer, &mut decoded);
                    // Whatever else is waiting joins this batch.
                    let mut datagrams = 1;
                    while datagrams < batch_size {
                        let Ok((n, peer)) = socket.try_recv_from(&mut buffer) else { break };
                        metrics.bytes.fetch_add(n as u64, Ordering::Relaxed);
                        decode_datagram(&mut decoder, &buffer[..n], peer, &mut decoded);
                        datagrams += 1;
                    }
                    false
                }
                Err(error) => {
                    // An ICMP error for an earlier send, or a signal: nothing is lost.
                    tracing::debug!(%error, "UDP receive failed.");
                    false
                }
            },
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                decoder.flush_due(tokio::time::Instant::now(), &mut decoded);
                false
            }
            _ = shutdown.cancelled() => {
                decoder.finish(&mut decoded);
                true
            }
        };
        if delivery.send(decoded, |_| {}).await.is_err() || ended {
            break;
        }
    }
    delivery.finish(receipts).await;
}

/// Decodes one datagram; its events get the sender's address (a multiline event completed
/// by this datagram gets this sender's).
fn decode_datagram(decoder: &mut Decoder, bytes: &[u8], peer: SocketAddr, decoded: &mut Decoded) {
    let before = decoded.events.len();
    decoder.datagram(bytes, decoded);
    for event in &mut decoded.events[before..] {
        event.fields_mut().insert("host".into(), host_field(peer));
    }
}

/// `host = { ip = "..." }`.
fn host_field(peer: SocketAddr) -> Value {
    let mut host = Map::new();
    host.insert("ip".into(), Value::String(peer.ip().to_string()));
    Value::Object(host)
}
