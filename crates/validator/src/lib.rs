//! The validator: where prompts come from, which miners are asked, how their replies are
//! checked and scored, the per-miner score state that becomes weights on chain, and the report
//! and live dashboard that show it.

pub mod dashboard;
pub mod judge;
pub mod music_clap;
pub mod music_judge;
pub mod music_prompts;
pub mod network;
pub mod paths;
pub mod prompts;
pub mod report;
pub mod round;
pub mod selection;
pub mod service;
pub mod state;
pub mod tasks;
