//! Discards events (benchmarks, dry runs); counts them and acknowledges at once.

use super::{OutputContext, OutputError};
use crate::event::Delivery;
use serde::Deserialize;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

/// `type = "null"`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NullConfig {}

#[derive(Debug)]
pub struct NullOutput;

impl NullOutput {
    pub fn new(_settings: NullConfig) -> Self {
        Self
    }

    pub async fn run(
        self,
        mut deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> Result<(), OutputError> {
        context.readiness.set_ready();
        while let Some(delivery) = deliveries.recv().await {
            let count = delivery
                .events()
                .iter()
                .filter(|e| context.wants(e))
                .count() as u64;
            context
                .metrics
                .events_in
                .fetch_add(count, Ordering::Relaxed);
            context
                .metrics
                .events_out
                .fetch_add(count, Ordering::Relaxed);
            delivery.settle();
        }
        Ok(())
    }
}
