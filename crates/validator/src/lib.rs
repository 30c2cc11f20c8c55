//! The validator: where prompts come from, which miners are asked, how their replies are
//! checked and scored, and the per-miner score state that becomes weights on chain.

pub mod judge;
pub mod network;
pub mod paths;
pub mod prompts;
pub mod report;
pub mod round;
pub mod selection;
pub mod service;
pub mod state;
