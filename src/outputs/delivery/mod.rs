//! Delivery plumbing shared by the outputs that send to another system and must not lose or
//! block on what it refuses: Elasticsearch today, Slack for its retries, and the outputs to
//! come (Kafka).
//!
//! Each piece is a policy that would otherwise be written again, slightly differently, in
//! every output:
//!
//! - [`part`]: settling a delivery whose events travel in several requests, only once every
//!   one of them has disposed of its share, and failing it by default (a request that panics
//!   or is aborted cannot acknowledge anything by accident).
//! - [`backoff`]: exponential backoff with jitter, so that many senders (lanes, outputs,
//!   sluice instances) do not retry in step against a recovering peer.
//! - [`dead_letter`]: the bounded dead-letter file for events the peer refused for good, so
//!   that one bad event neither blocks the pipeline nor disappears silently.

pub mod backoff;
pub mod dead_letter;
pub mod part;

pub use backoff::Backoff;
pub use dead_letter::{
    DeadLetter, DeadLetterMetrics, DeadLetters, FieldWriter, LetterFields, Written,
};
pub use part::DeliveryPart;
