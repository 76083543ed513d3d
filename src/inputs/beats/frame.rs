//! The Lumberjack v2 (and legacy v1) wire format: frames in, ACKs out.
//!
//! Decoding is split in two phases so a frame is never half-parsed: [`check`] looks at the
//! bytes received so far and answers "not yet", "a complete frame of N bytes" or "this is not
//! the protocol" — validating every declared length against the caps *before* the payload is
//! waited for, so a client announcing a 4 GiB frame is refused after 10 bytes instead of after
//! 4 GiB of buffering. [`parse`] then reads that complete, already validated frame and cannot
//! fail. The connection keeps one reusable read buffer and only ever hands complete frames to
//! `parse`, which keeps the state machine out of the parser and makes arbitrary chunking of the
//! stream irrelevant (the proptests check exactly that).
//!
//! Compressed frames carry zlib (RFC 1950) streams of further frames. [`Inflater`] refuses to
//! produce more than the configured number of bytes, so a zip bomb costs at most the cap.

use flate2::{Decompress, FlushDecompress, Status};

/// Version byte of protocol v2 (Filebeat, go-lumber, pylogbeat).
pub const VERSION_2: u8 = b'2';
/// Version byte of protocol v1 (logstash-forwarder; only its `D` frames).
pub const VERSION_1: u8 = b'1';

const TYPE_WINDOW: u8 = b'W';
const TYPE_COMPRESSED: u8 = b'C';
const TYPE_JSON: u8 = b'J';
const TYPE_DATA: u8 = b'D';
const TYPE_ACK: u8 = b'A';

/// Version + type.
const HEADER_LEN: usize = 2;
const U32_LEN: usize = 4;

/// Bounds a peer cannot exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most data frames one window may announce.
    pub max_window_size: u32,
    /// Most bytes in one frame, header included (a `C` frame's compressed size, a `J` payload).
    pub max_frame_bytes: usize,
}

/// One decoded frame, borrowing from the buffer it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `W`: the number of data frames that follow.
    Window { version: u8, count: u32 },
    /// `C`: a zlib stream of further frames.
    Compressed { zlib: &'a [u8] },
    /// `J`: one event as JSON text.
    Json { seq: u32, payload: &'a [u8] },
    /// `D`: one event as string pairs (protocol v1).
    Data {
        seq: u32,
        pairs: Vec<(String, String)>,
    },
}

/// Why a byte stream is not the Beats protocol. Every variant closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("unsupported protocol version byte 0x{0:02x}")]
    Version(u8),
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    #[error("window of {count} events exceeds `max_window_size` ({max})")]
    WindowTooLarge { count: u32, max: u32 },
    #[error("frame of {declared} bytes exceeds `max_frame_bytes` ({max})")]
    FrameTooLarge { declared: u64, max: usize },
    #[error("empty {0} frame")]
    Empty(&'static str),
    #[error("compressed data inflates past `max_decompressed_bytes` ({max})")]
    DecompressedTooLarge { max: usize },
    #[error("invalid zlib stream: {0}")]
    Zlib(String),
    #[error("truncated zlib stream")]
    TruncatedZlib,
    #[error("compressed frame ends inside a frame")]
    TruncatedInnerFrame,
    #[error("{0} frame inside a compressed frame")]
    NestedFrame(&'static str),
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at + U32_LEN)?;
    Some(u32::from_be_bytes([slice[0], slice[1], slice[2], slice[3]]))
}

/// Looks at the start of `buffer`: `Ok(None)` when more bytes are needed, `Ok(Some(len))` when
/// `buffer[..len]` is one complete, valid frame, `Err` when the stream is not the protocol.
pub fn check(buffer: &[u8], limits: &Limits) -> Result<Option<usize>, FrameError> {
    let Some(&version) = buffer.first() else {
        return Ok(None);
    };
    if version != VERSION_2 && version != VERSION_1 {
        return Err(FrameError::Version(version));
    }
    let Some(&kind) = buffer.get(1) else {
        return Ok(None);
    };
    let too_large = |declared: u64| FrameError::FrameTooLarge {
        declared,
        max: limits.max_frame_bytes,
    };
    match kind {
        TYPE_WINDOW => {
            let Some(count) = read_u32(buffer, HEADER_LEN) else {
                return Ok(None);
            };
            if count > limits.max_window_size {
                return Err(FrameError::WindowTooLarge {
                    count,
                    max: limits.max_window_size,
                });
            }
            Ok(Some(HEADER_LEN + U32_LEN))
        }
        TYPE_COMPRESSED => {
            let Some(len) = read_u32(buffer, HEADER_LEN) else {
                return Ok(None);
            };
            if len == 0 {
                return Err(FrameError::Empty("compressed"));
            }
            let total = (HEADER_LEN + U32_LEN) as u64 + u64::from(len);
            if total > limits.max_frame_bytes as u64 {
                return Err(too_large(total));
            }
            Ok(complete(buffer, total as usize))
        }
        TYPE_JSON => {
            let Some(len) = read_u32(buffer, HEADER_LEN + U32_LEN) else {
                return Ok(None);
            };
            if len == 0 {
                return Err(FrameError::Empty("JSON"));
            }
            let total = (HEADER_LEN + 2 * U32_LEN) as u64 + u64::from(len);
            if total > limits.max_frame_bytes as u64 {
                return Err(too_large(total));
            }
            Ok(complete(buffer, total as usize))
        }
        TYPE_DATA => check_data(buffer, limits),
        other => Err(FrameError::UnknownType(other)),
    }
}

fn complete(buffer: &[u8], total: usize) -> Option<usize> {
    (buffer.len() >= total).then_some(total)
}

/// A `D` frame has no overall length: walk its pairs, checking the running size against the
/// cap at every step so a huge declared key length is refused immediately.
fn check_data(buffer: &[u8], limits: &Limits) -> Result<Option<usize>, FrameError> {
    let Some(pairs) = read_u32(buffer, HEADER_LEN + U32_LEN) else {
        return Ok(None);
    };
    if pairs == 0 {
        return Err(FrameError::Empty("data"));
    }
    let mut at = (HEADER_LEN + 2 * U32_LEN) as u64;
    for _ in 0..u64::from(pairs) * 2 {
        // Each string costs at least its 4-byte length.
        let Some(len) = read_u32(buffer, at as usize) else {
            if at + U32_LEN as u64 > limits.max_frame_bytes as u64 {
                return Err(FrameError::FrameTooLarge {
                    declared: at + U32_LEN as u64,
                    max: limits.max_frame_bytes,
                });
            }
            return Ok(None);
        };
        at += U32_LEN as u64 + u64::from(len);
        if at > limits.max_frame_bytes as u64 {
            return Err(FrameError::FrameTooLarge {
                declared: at,
                max: limits.max_frame_bytes,
            });
        }
        if at > buffer.len() as u64 {
            return Ok(None);
        }
    }
    Ok(Some(at as usize))
}

/// Reads a frame that [`check`] accepted (`frame` is exactly the `len` bytes it reported).
pub fn parse(frame: &[u8]) -> Frame<'_> {
    let version = frame[0];
    let u32_at = |at: usize| read_u32(frame, at).unwrap_or(0);
    match frame[1] {
        TYPE_WINDOW => Frame::Window {
            version,
            count: u32_at(HEADER_LEN),
        },
        TYPE_COMPRESSED => Frame::Compressed {
            zlib: &frame[HEADER_LEN + U32_LEN..],
        },
        TYPE_JSON => Frame::Json {
            seq: u32_at(HEADER_LEN),
            payload: &frame[HEADER_LEN + 2 * U32_LEN..],
        },
        _ => {
            let seq = u32_at(HEADER_LEN);
            let count = u32_at(HEADER_LEN + U32_LEN) as usize;
            let mut at = HEADER_LEN + 2 * U32_LEN;
            let mut next_string = || {
                let len = u32_at(at) as usize;
                let text = String::from_utf8_lossy(&frame[at + U32_LEN..at + U32_LEN + len]);
                at += U32_LEN + len;
                text.into_owned()
            };
            let mut pairs = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                let key = next_string();
                let value = next_string();
                pairs.push((key, value));
            }
            Frame::Data { seq, pairs }
        }
    }
}

/// A reusable inflater: one zlib state per connection (reset per frame instead of allocated),
/// and output buffers sized from the previous frame's inflated size, so a window inflates
/// into one allocation instead of growing (and copying) its buffer several times.
pub struct Inflater {
    state: Decompress,
    last_size: usize,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("last_size", &self.last_size)
            .finish()
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Self {
            state: Decompress::new(true),
            last_size: 0,
        }
    }
}

impl Inflater {
    /// Inflates a zlib stream, refusing to produce more than `max_bytes`.
    pub fn inflate(&mut self, zlib: &[u8], max_bytes: usize) -> Result<Vec<u8>, FrameError> {
        self.state.reset(true);
        // The previous frame's size (plus a little), or 4x the compressed size for the first.
        let guess = (self.last_size + self.last_size / 8).max(zlib.len().saturating_mul(4));
        let mut out = Vec::with_capacity(guess.min(max_bytes) + 1);
        let inflater = &mut self.state;
        loop {
            if out.len() == out.capacity() {
                if out.len() > max_bytes {
                    return Err(FrameError::DecompressedTooLarge { max: max_bytes });
                }
                // Grow geometrically, but never past one byte over the cap (that byte proves
                // the stream is larger than allowed).
                let grow = out.capacity().max(64 * 1024).min(max_bytes + 1 - out.len());
                out.reserve_exact(grow);
            }
            let consumed = inflater.total_in() as usize;
            let produced_before = out.len();
            let status = inflater
                .decompress_vec(&zlib[consumed..], &mut out, FlushDecompress::Finish)
                .map_err(|e| FrameError::Zlib(e.to_string()))?;
            if out.len() > max_bytes {
                return Err(FrameError::DecompressedTooLarge { max: max_bytes });
            }
            if status == Status::StreamEnd {
                self.last_size = out.len();
                return Ok(out);
            }
            let progressed =
                inflater.total_in() as usize != consumed || out.len() != produced_before;
            let input_left = (inflater.total_in() as usize) < zlib.len();
            let room_left = out.len() < out.capacity();
            // With room to write and no progress (or no input left), the stream simply ends
            // before its end marker.
            if room_left && (!progressed || !input_left) {
                return Err(FrameError::TruncatedZlib);
            }
        }
    }
}

/// Inflates a zlib stream with a fresh [`Inflater`].
#[cfg(test)]
pub fn inflate(zlib: &[u8], max_bytes: usize) -> Result<Vec<u8>, FrameError> {
    Inflater::default().inflate(zlib, max_bytes)
}

/// Splits inflated data into its frames; only data frames (`J`, `D`) may appear there.
pub fn inner_frames<'a>(data: &'a [u8], limits: &Limits) -> Result<Vec<Frame<'a>>, FrameError> {
    let mut frames = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Some(len) = check(rest, limits)? else {
            return Err(FrameError::TruncatedInnerFrame);
        };
        let (frame, tail) = rest.split_at(len);
        match parse(frame) {
            Frame::Window { .. } => return Err(FrameError::NestedFrame("window")),
            Frame::Compressed { .. } => return Err(FrameError::NestedFrame("compressed")),
            data_frame => frames.push(data_frame),
        }
        rest = tail;
    }
    Ok(frames)
}

/// The 6-byte acknowledgement of every frame up to `seq` (`seq == 0` is a keep-alive).
pub fn ack(version: u8, seq: u32) -> [u8; 6] {
    let [a, b, c, d] = seq.to_be_bytes();
    [version, TYPE_ACK, a, b, c, d]
}

/// Encoders for tests and benchmarks (the server never sends these frames).
#[cfg(test)]
pub mod encode {
    use std::io::Write;

    pub fn window(count: u32) -> Vec<u8> {
        let mut out = vec![b'2', b'W'];
        out.extend_from_slice(&count.to_be_bytes());
        out
    }

    pub fn json(seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![b'2', b'J'];
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    pub fn data(seq: u32, pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut out = vec![b'1', b'D'];
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&(pairs.len() as u32).to_be_bytes());
        for (key, value) in pairs {
            for text in [key, value] {
                out.extend_from_slice(&(text.len() as u32).to_be_bytes());
                out.extend_from_slice(text.as_bytes());
            }
        }
        out
    }

    pub fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    pub fn compressed(inner: &[u8]) -> Vec<u8> {
        let zlib = zlib(inner);
        let mut out = vec![b'2', b'C'];
        out.extend_from_slice(&(zlib.len() as u32).to_be_bytes());
        out.extend_from_slice(&zlib);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::encode::*;
    use super::*;
    use proptest::prelude::*;

    const LIMITS: Limits = Limits {
        max_window_size: 100,
        max_frame_bytes: 1024,
    };

    /// Decodes a whole stream, one complete frame at a time, into owned frames.
    fn decode_all(stream: &[u8]) -> Result<(Vec<String>, usize), FrameError> {
        let mut rest = stream;
        let mut frames = Vec::new();
        while let Some(len) = check(rest, &LIMITS)? {
            frames.push(format!("{:?}", parse(&rest[..len])));
            rest = &rest[len..];
        }
        Ok((frames, rest.len()))
    }

    fn sample_stream() -> Vec<u8> {
        let mut stream = window(3);
        stream.extend(json(1, br#"{"message":"one"}"#));
        stream.extend(compressed(&json(2, br#"{"message":"two"}"#)));
        stream.extend(data(3, &[("line", "three"), ("host", "gw")]));
        stream
    }

    #[test]
    fn every_frame_type_decodes() {
        let stream = sample_stream();
        let (frames, left) = decode_all(&stream).unwrap();
        assert_eq!(left, 0);
        assert_eq!(frames.len(), 4);
        assert_eq!(
            parse(&window(7)),
            Frame::Window {
                version: b'2',
                count: 7
            }
        );
        let data_frame = data(9, &[("line", "hello")]);
        assert_eq!(
            parse(&data_frame),
            Frame::Data {
                seq: 9,
                pairs: vec![("line".into(), "hello".into())]
            }
        );
    }

    /// Feeds chunks into one buffer the way the connection does, decoding complete frames.
    fn feed(chunks: &[&[u8]]) -> Vec<String> {
        let mut buffer = Vec::new();
        let mut frames = Vec::new();
        for chunk in chunks {
            buffer.extend_from_slice(chunk);
            while let Some(len) = check(&buffer, &LIMITS).unwrap() {
                frames.push(format!("{:?}", parse(&buffer[..len])));
                buffer.drain(..len);
            }
        }
        assert!(buffer.is_empty(), "bytes left over");
        frames
    }

    #[test]
    fn valid_frames_decode_identically_at_every_split_point() {
        let stream = sample_stream();
        let expected = decode_all(&stream).unwrap().0;
        assert_eq!(expected.len(), 4);
        for split in 0..=stream.len() {
            assert_eq!(
                feed(&[&stream[..split], &stream[split..]]),
                expected,
                "split at {split}"
            );
        }
    }

    #[test]
    fn incomplete_frames_wait_for_more_bytes() {
        let frame = json(1, b"{}");
        for cut in 0..frame.len() {
            assert_eq!(check(&frame[..cut], &LIMITS), Ok(None), "cut at {cut}");
        }
        assert_eq!(check(&frame, &LIMITS), Ok(Some(frame.len())));
    }

    #[test]
    fn protocol_violations_are_refused_from_the_header() {
        assert_eq!(check(b"3W", &LIMITS), Err(FrameError::Version(b'3')));
        assert_eq!(check(b"2Z", &LIMITS), Err(FrameError::UnknownType(b'Z')));
        assert_eq!(
            check(&window(101), &LIMITS),
            Err(FrameError::WindowTooLarge {
                count: 101,
                max: 100
            })
        );
        // A huge declared length is refused before any payload arrives.
        let mut huge = vec![b'2', b'J', 0, 0, 0, 1];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            check(&huge, &LIMITS),
            Err(FrameError::FrameTooLarge { .. })
        ));
        let mut huge_key = vec![b'1', b'D', 0, 0, 0, 1, 0, 0, 0, 1];
        huge_key.extend_from_slice(&4000u32.to_be_bytes());
        assert!(matches!(
            check(&huge_key, &LIMITS),
            Err(FrameError::FrameTooLarge { .. })
        ));
        assert_eq!(
            check(&json(1, b""), &LIMITS),
            Err(FrameError::Empty("JSON"))
        );
    }

    #[test]
    fn inflate_round_trips_and_caps_the_output() {
        let plain = vec![b'x'; 100_000];
        let zlib = zlib(&plain);
        assert_eq!(inflate(&zlib, 100_000).unwrap(), plain);
        assert_eq!(
            inflate(&zlib, 99_999),
            Err(FrameError::DecompressedTooLarge { max: 99_999 })
        );
        assert_eq!(
            inflate(&zlib[..zlib.len() / 2], 1 << 20),
            Err(FrameError::TruncatedZlib)
        );
        assert!(matches!(
            inflate(b"not zlib at all", 1 << 20),
            Err(FrameError::Zlib(_))
        ));
    }

    #[test]
    fn one_inflater_serves_frame_after_frame_even_after_an_error() {
        let mut inflater = Inflater::default();
        let small = zlib(b"small");
        let big = vec![b'y'; 300_000];
        assert_eq!(inflater.inflate(&zlib(&big), 1 << 20).unwrap(), big);
        assert_eq!(inflater.inflate(&small, 1 << 20).unwrap(), b"small");
        assert!(inflater.inflate(b"garbage!", 1 << 20).is_err());
        assert_eq!(
            inflater.inflate(&zlib(&big), 100),
            Err(FrameError::DecompressedTooLarge { max: 100 })
        );
        assert_eq!(inflater.inflate(&zlib(&big), 1 << 20).unwrap(), big);
        assert_eq!(inflater.inflate(&small, 1 << 20).unwrap(), b"small");
    }

    #[test]
    fn compressed_frames_hold_only_data_frames() {
        let mut inner = json(1, b"{}");
        inner.extend(data(2, &[("a", "b")]));
        let frames = inner_frames(&inner, &LIMITS).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(
            inner_frames(&compressed(&json(1, b"{}")), &LIMITS),
            Err(FrameError::NestedFrame("compressed"))
        );
        assert_eq!(
            inner_frames(&window(1), &LIMITS),
            Err(FrameError::NestedFrame("window"))
        );
        let torn = &inner[..inner.len() - 1];
        assert_eq!(
            inner_frames(torn, &LIMITS),
            Err(FrameError::TruncatedInnerFrame)
        );
    }

    #[test]
    fn acks_are_six_bytes_with_the_sequence_big_endian() {
        assert_eq!(ack(b'2', 258), [b'2', b'A', 0, 0, 1, 2]);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut rest = &bytes[..];
            while let Ok(Some(len)) = check(rest, &LIMITS) {
                if let Frame::Compressed { zlib } = parse(&rest[..len]) {
                    if let Ok(inflated) = inflate(zlib, 4096) {
                        let _ = inner_frames(&inflated, &LIMITS);
                    }
                }
                rest = &rest[len..];
            }
            let _ = inflate(&bytes, 4096);
            let _ = inner_frames(&bytes, &LIMITS);
        }

        #[test]
        fn valid_frames_decode_identically_in_any_chunking(
            chunk_sizes in proptest::collection::vec(1usize..40, 1..60)
        ) {
            let stream = sample_stream();
            let expected = decode_all(&stream).unwrap().0;
            let mut chunks = Vec::new();
            let mut at = 0;
            for size in chunk_sizes.iter().cycle() {
                if at >= stream.len() {
                    break;
                }
                let end = (at + size).min(stream.len());
                chunks.push(&stream[at..end]);
                at = end;
            }
            prop_assert_eq!(feed(&chunks), expected);
        }
    }
}
