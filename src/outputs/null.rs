//! Discards events (benchmarks, dry runs); counts them and acknowledges at once.

use super::{OutputContext, OutputError, OutputType};
use crate::config::{BuildContext, ConfigErrors};
use crate::event::Delivery;
use serde::Deserialize;
use tokio::sync::mpsc;

/// `type = "null"`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NullConfig {}

#[derive(Debug)]
pub struct NullOutput;

impl OutputType for NullOutput {
    type Config = NullConfig;

    fn build(_settings: &NullConfig, _context: &BuildContext) -> Result<Self, ConfigErrors> {
        Ok(Self)
    }

    async fn run(
        self,
        deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> Result<(), OutputError> {
        super::settle_all(deliveries, &context, super::Disposal::Delivered).await;
        Ok(())
    }
}
