//! The commit-reveal v3/v4 weights commit: SCALE payload, reveal round, encryption.
//!
//! Subtensor reveals a commit by itself in the reveal epoch, once the drand pulse of the commit's
//! `reveal_round` is on chain; the client only has to pick a round whose pulse arrives early in
//! that epoch. Two formulas exist, both from `bittensor-drand`:
//!
//! * **v1** (`get_encrypted_commit`, bittensor-drand 1.x): epochs are block-modulo,
//!   `epoch(b) = (b + netuid + 1) / (tempo + 1)` (runtimes before the stateful epoch schedule).
//! * **v2** (`get_encrypted_commit_v2`, bittensor-drand 2.x): epochs are the runtime's stateful
//!   counter (`SubnetEpochIndex`, `LastEpochBlock`, `PendingEpochAt`, `BlocksSinceLastStep`); the
//!   first reveal block is found by simulating the runtime's `should_run_epoch` block by block.
//!
//! Either way the target is 3 blocks into the reveal epoch, converted to wall time with the
//! caller's block time and rounded down to a quicknet round.

use std::time::{SystemTime, UNIX_EPOCH};

use codec::{Decode, Encode};

use crate::{MAX_COMMIT_BYTES, QUICKNET_GENESIS_TIME, QUICKNET_PERIOD, TimelockError, encrypt};

/// Blocks past the first block of the reveal epoch the pulse should be ingested by.
const SECURITY_BLOCK_OFFSET: u64 = 3;

/// A commit lands in the block after the head it was built against.
const COMMIT_INCLUSION_BLOCK_OFFSET: u64 = 1;

/// The runtime's `MAX_TEMPO` (bounds the v2 simulation and forces an epoch when exceeded).
const MAX_TEMPO: u64 = 50_400;

/// The plaintext of a commit (subtensor's and bittensor-drand's `WeightsTlockPayload`), for
/// runtimes with `commit_timelocked_weights`: the hotkey (32-byte public key) comes first and the
/// chain checks it against the committer.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct WeightsTlockPayload {
    /// The committing hotkey's public key.
    pub hotkey: Vec<u8>,
    /// Uids.
    pub uids: Vec<u16>,
    /// u16 weights, same order as `uids`.
    pub values: Vec<u16>,
    /// The version key the reveal sets weights with.
    pub version_key: u64,
}

/// The payload without the hotkey (runtimes that only have `commit_crv3_weights`, and
/// bittensor-drand before 1.0).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct LegacyWeightsTlockPayload {
    /// Uids.
    pub uids: Vec<u16>,
    /// u16 weights, same order as `uids`.
    pub values: Vec<u16>,
    /// The version key the reveal sets weights with.
    pub version_key: u64,
}

/// SCALE-decodes `bytes` as a `T`, refusing trailing bytes.
fn decode_whole<T: Decode>(mut bytes: &[u8], what: &str) -> Result<T, TimelockError> {
    let value =
        T::decode(&mut bytes).map_err(|e| TimelockError::InvalidInput(format!("{what}: {e}")))?;
    if bytes.is_empty() {
        Ok(value)
    } else {
        Err(TimelockError::InvalidInput(format!(
            "{what}: {} trailing bytes",
            bytes.len()
        )))
    }
}

impl WeightsTlockPayload {
    /// SCALE encoding (what gets encrypted).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode()
    }

    /// Decodes a decrypted payload (the whole input must be consumed).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TimelockError> {
        decode_whole(bytes, "WeightsTlockPayload")
    }
}

impl LegacyWeightsTlockPayload {
    /// SCALE encoding (what gets encrypted).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode()
    }

    /// Decodes a decrypted payload (the whole input must be consumed).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TimelockError> {
        decode_whole(bytes, "LegacyWeightsTlockPayload")
    }
}

/// A subnet's epoch-schedule state at the chain head (the inputs of `get_encrypted_commit_v2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochSchedule {
    /// `LastEpochBlock(netuid)`.
    pub last_epoch_block: u64,
    /// `PendingEpochAt(netuid)` (0: none).
    pub pending_epoch_at: u64,
    /// `SubnetEpochIndex(netuid)`.
    pub subnet_epoch_index: u64,
    /// `Tempo(netuid)`.
    pub tempo: u16,
    /// `BlocksSinceLastStep(netuid)`.
    pub blocks_since_last_step: u64,
    /// The head block these were read at.
    pub current_block: u64,
}

impl EpochSchedule {
    /// The runtime's `should_run_epoch` at `block` for this state.
    fn should_run_epoch(&self, block: u64) -> bool {
        if self.tempo == 0 {
            return false;
        }
        if self.pending_epoch_at > 0 && block >= self.pending_epoch_at {
            return true;
        }
        if self.blocks_since_last_step > MAX_TEMPO {
            return true;
        }
        block.saturating_sub(self.last_epoch_block) >= u64::from(self.tempo)
    }

    /// `current_epoch_with_lookahead` at `block` (reveals run before the coinbase).
    fn epoch_with_lookahead(&self, block: u64) -> u64 {
        if self.should_run_epoch(block) {
            self.subnet_epoch_index.saturating_add(1)
        } else {
            self.subnet_epoch_index
        }
    }

    /// The state after the coinbase of `block`.
    fn step(&self, block: u64) -> Self {
        let mut next = *self;
        next.blocks_since_last_step = next.blocks_since_last_step.saturating_add(1);
        next.current_block = block;
        if next.should_run_epoch(block) {
            next.last_epoch_block = block;
            next.pending_epoch_at = 0;
            next.subnet_epoch_index = next.subnet_epoch_index.saturating_add(1);
            next.blocks_since_last_step = 0;
        }
        next
    }

    /// The first block whose reveal pass sees the epoch `reveal_period_epochs` after the epoch
    /// of a commit included in the block after the head.
    pub fn first_reveal_block(&self, reveal_period_epochs: u64) -> Result<u64, TimelockError> {
        if self.tempo == 0 {
            return Err(TimelockError::Schedule(
                "tempo is 0: the subnet runs no epochs".into(),
            ));
        }
        let extrinsic_block = self
            .current_block
            .saturating_add(COMMIT_INCLUSION_BLOCK_OFFSET);
        let mut state = *self;
        for b in self.current_block.saturating_add(1)..extrinsic_block {
            state = state.step(b);
        }
        let target = state
            .epoch_with_lookahead(extrinsic_block)
            .saturating_add(reveal_period_epochs);
        let bound = reveal_period_epochs
            .saturating_mul(MAX_TEMPO)
            .saturating_add(MAX_TEMPO);
        for r in extrinsic_block..=extrinsic_block.saturating_add(bound) {
            if state.epoch_with_lookahead(r) == target {
                return Ok(r);
            }
            state = state.step(r);
        }
        Err(TimelockError::Schedule(format!(
            "no reveal epoch within {bound} blocks"
        )))
    }
}

/// How the runtime counts epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochModel {
    /// Block-modulo epochs (`(block + netuid + 1) / (tempo + 1)`): the v1 formula.
    Modulo {
        /// `Tempo(netuid)`.
        tempo: u16,
        /// The netuid (the mechanism storage index for mechanisms other than 0).
        netuid: u16,
        /// The head block.
        current_block: u64,
    },
    /// The stateful schedule: the v2 formula.
    Stateful(EpochSchedule),
}

impl EpochModel {
    /// The head block the model was read at.
    pub fn current_block(&self) -> u64 {
        match self {
            EpochModel::Modulo { current_block, .. } => *current_block,
            EpochModel::Stateful(s) => s.current_block,
        }
    }
}

/// The current Unix time in seconds.
pub fn now_unix_secs() -> Result<f64, TimelockError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .map_err(|e| TimelockError::Clock(e.to_string()))
}

/// The quicknet round `blocks` blocks of `block_time` seconds after `now_secs`, rounded down
/// (bittensor-drand's arithmetic, in f64; at least 1).
fn round_after(blocks: u64, block_time: f64, now_secs: f64) -> u64 {
    let target = now_secs + blocks as f64 * block_time;
    let round = ((target - QUICKNET_GENESIS_TIME as f64) / QUICKNET_PERIOD as f64).floor();
    // `as` saturates (negative and NaN become 0), as in bittensor-drand.
    (round as u64).max(1)
}

/// The v1 reveal round (`get_encrypted_commit` of bittensor-drand 1.x) at wall time `now_secs`.
pub fn reveal_round_v1(
    tempo: u64,
    current_block: u64,
    netuid: u16,
    reveal_period_epochs: u64,
    block_time: f64,
    now_secs: f64,
) -> u64 {
    let tempo_plus_one = tempo.saturating_add(1);
    let netuid_plus_one = u64::from(netuid) + 1;
    let current_epoch = current_block.saturating_add(netuid_plus_one) / tempo_plus_one;
    let reveal_epoch = current_epoch.saturating_add(reveal_period_epochs);
    let first_reveal_block = reveal_epoch
        .saturating_mul(tempo_plus_one)
        .saturating_sub(netuid_plus_one);
    let target = first_reveal_block.saturating_add(SECURITY_BLOCK_OFFSET);
    round_after(target.saturating_sub(current_block), block_time, now_secs)
}

/// The v2 reveal round (`get_encrypted_commit_v2` of bittensor-drand 2.x) at wall time `now_secs`.
pub fn reveal_round_v2(
    schedule: &EpochSchedule,
    reveal_period_epochs: u64,
    block_time: f64,
    now_secs: f64,
) -> Result<u64, TimelockError> {
    let first = schedule.first_reveal_block(reveal_period_epochs)?;
    let target = first.saturating_add(SECURITY_BLOCK_OFFSET);
    Ok(round_after(
        target.saturating_sub(schedule.current_block),
        block_time,
        now_secs,
    ))
}

/// Everything a weights commit needs.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightsCommit {
    /// The committing hotkey; `None` encrypts the legacy payload without it.
    pub hotkey: Option<[u8; 32]>,
    /// Uids.
    pub uids: Vec<u16>,
    /// u16 weights, same order as `uids`.
    pub values: Vec<u16>,
    /// Version key.
    pub version_key: u64,
    /// The subnet's epochs at the head.
    pub epochs: EpochModel,
    /// `RevealPeriodEpochs(netuid)`.
    pub reveal_period_epochs: u64,
    /// Seconds per block (12 on finney).
    pub block_time: f64,
}

impl WeightsCommit {
    /// The SCALE payload that gets encrypted.
    pub fn payload(&self) -> Vec<u8> {
        match self.hotkey {
            Some(hotkey) => WeightsTlockPayload {
                hotkey: hotkey.to_vec(),
                uids: self.uids.clone(),
                values: self.values.clone(),
                version_key: self.version_key,
            }
            .to_bytes(),
            None => LegacyWeightsTlockPayload {
                uids: self.uids.clone(),
                values: self.values.clone(),
                version_key: self.version_key,
            }
            .to_bytes(),
        }
    }

    /// The reveal round at wall time `now_secs`.
    pub fn reveal_round(&self, now_secs: f64) -> Result<u64, TimelockError> {
        if !(self.block_time.is_finite() && self.block_time > 0.0) {
            return Err(TimelockError::InvalidInput(format!(
                "block time {} s",
                self.block_time
            )));
        }
        match &self.epochs {
            EpochModel::Modulo {
                tempo,
                netuid,
                current_block,
            } => Ok(reveal_round_v1(
                u64::from(*tempo),
                *current_block,
                *netuid,
                self.reveal_period_epochs,
                self.block_time,
                now_secs,
            )),
            EpochModel::Stateful(s) => {
                reveal_round_v2(s, self.reveal_period_epochs, self.block_time, now_secs)
            }
        }
    }

    /// Encrypts the payload to the reveal round at wall time `now_secs`:
    /// `(ciphertext, reveal_round)`.
    pub fn encrypt_at(&self, now_secs: f64) -> Result<(Vec<u8>, u64), TimelockError> {
        if self.uids.len() != self.values.len() {
            return Err(TimelockError::InvalidInput(format!(
                "{} uids but {} values",
                self.uids.len(),
                self.values.len()
            )));
        }
        let round = self.reveal_round(now_secs)?;
        let ciphertext = encrypt(&self.payload(), round)?;
        if ciphertext.len() > MAX_COMMIT_BYTES {
            return Err(TimelockError::InvalidInput(format!(
                "the commit is {} bytes; the chain accepts at most {MAX_COMMIT_BYTES} (too many uids)",
                ciphertext.len()
            )));
        }
        Ok((ciphertext, round))
    }

    /// [`WeightsCommit::encrypt_at`] now.
    pub fn encrypt(&self) -> Result<(Vec<u8>, u64), TimelockError> {
        self.encrypt_at(now_unix_secs()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decrypt;

    const ROUND_1000_SIG: &str = "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";

    fn schedule(
        last: u64,
        pending: u64,
        index: u64,
        tempo: u16,
        since: u64,
        head: u64,
    ) -> EpochSchedule {
        EpochSchedule {
            last_epoch_block: last,
            pending_epoch_at: pending,
            subnet_epoch_index: index,
            tempo,
            blocks_since_last_step: since,
            current_block: head,
        }
    }

    #[test]
    fn payload_is_scale_with_the_hotkey_first() {
        let p = WeightsTlockPayload {
            hotkey: vec![7; 32],
            uids: vec![1, 2],
            values: vec![65535, 3],
            version_key: 5,
        };
        let mut want = vec![32 << 2];
        want.extend([7u8; 32]);
        want.extend([2 << 2, 1, 0, 2, 0]);
        want.extend([2 << 2, 0xff, 0xff, 3, 0]);
        want.extend(5u64.to_le_bytes());
        assert_eq!(p.to_bytes(), want);
        assert_eq!(WeightsTlockPayload::from_bytes(&want).expect("decode"), p);
        assert!(WeightsTlockPayload::from_bytes(&[want.as_slice(), &[0]].concat()).is_err());
        let legacy = LegacyWeightsTlockPayload {
            uids: vec![1, 2],
            values: vec![65535, 3],
            version_key: 5,
        };
        assert_eq!(legacy.to_bytes(), want[33..].to_vec());
    }

    #[test]
    fn v1_round_targets_three_blocks_into_the_reveal_epoch() {
        // tempo 360, netuid 1: epoch(b) = (b + 2) / 361. Block 1000 is in epoch 2; reveal epoch
        // 3 starts at 3·361 − 2 = 1081; the target is block 1084, 84 blocks = 1008 s away.
        let now = 1_700_000_000.0;
        let want = ((now + 84.0 * 12.0 - 1_692_803_367.0) / 3.0_f64).floor() as u64;
        assert_eq!(reveal_round_v1(360, 1000, 1, 1, 12.0, now), want);
        // Two epochs later.
        let want2 = ((now + (84.0 + 361.0) * 12.0 - 1_692_803_367.0) / 3.0_f64).floor() as u64;
        assert_eq!(reveal_round_v1(360, 1000, 1, 2, 12.0, now), want2);
        // Never below round 1.
        assert_eq!(reveal_round_v1(10, 0, 0, 0, 1.0, 0.0), 1);
    }

    #[test]
    fn v2_reveal_block_follows_the_stateful_schedule() {
        // Epoch just ran at 10 (index 0), tempo 50: the commit lands in 11 (epoch 0), epoch 1
        // fires at 60, so the first reveal block is 60.
        let s = schedule(10, 0, 0, 50, 0, 10);
        assert_eq!(s.first_reveal_block(1).expect("reveal"), 60);
        assert_eq!(s.first_reveal_block(2).expect("reveal"), 110);
        // A commit in the block where an epoch fires belongs to the next epoch.
        let s = schedule(10, 0, 0, 50, 48, 59);
        assert_eq!(s.first_reveal_block(1).expect("reveal"), 110);
        // A pending owner-triggered epoch at 30 resets the cadence.
        let s = schedule(10, 30, 0, 50, 5, 15);
        assert_eq!(s.first_reveal_block(1).expect("reveal"), 30);
        assert_eq!(s.first_reveal_block(2).expect("reveal"), 80);
        // Tempo 0 never reveals.
        assert!(matches!(
            schedule(0, 0, 0, 0, 0, 5).first_reveal_block(1),
            Err(TimelockError::Schedule(_))
        ));
        let now = 1_700_000_000.0;
        let s = schedule(10, 0, 0, 50, 0, 10);
        let want = ((now + 53.0 * 12.0 - 1_692_803_367.0) / 3.0_f64).floor() as u64;
        assert_eq!(reveal_round_v2(&s, 1, 12.0, now).expect("round"), want);
    }

    #[test]
    fn commit_round_trips_with_a_published_signature() {
        // Pick `now` so that the v1 reveal round is exactly 1000 (published signature).
        let commit = WeightsCommit {
            hotkey: Some([9; 32]),
            uids: vec![0, 4, 7],
            values: vec![65535, 100, 0],
            version_key: 10_005_000,
            epochs: EpochModel::Modulo {
                tempo: 10,
                netuid: 2,
                current_block: 30,
            },
            reveal_period_epochs: 1,
            block_time: 12.0,
        };
        // epoch(30) = 33/11 = 3; reveal epoch 4 starts at 44 − 3 = 41; target 44: 14 blocks.
        let now = 1_692_803_367.0 + 3.0 * 1000.0 - 14.0 * 12.0 + 1.0;
        let (ct, round) = commit.encrypt_at(now).expect("encrypt");
        assert_eq!(round, 1000);
        let sig = hex::decode(ROUND_1000_SIG).expect("hex");
        let plain = decrypt(&ct, &sig).expect("decrypt");
        assert_eq!(plain, commit.payload());
        let p = WeightsTlockPayload::from_bytes(&plain).expect("payload");
        assert_eq!(p.hotkey, vec![9; 32]);
        assert_eq!(p.uids, vec![0, 4, 7]);
        assert_eq!(p.values, vec![65535, 100, 0]);
        assert_eq!(p.version_key, 10_005_000);

        let legacy = WeightsCommit {
            hotkey: None,
            ..commit.clone()
        };
        let (ct, _) = legacy.encrypt_at(now).expect("encrypt");
        let p = LegacyWeightsTlockPayload::from_bytes(&decrypt(&ct, &sig).expect("decrypt"))
            .expect("legacy payload");
        assert_eq!(p.uids, vec![0, 4, 7]);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let base = WeightsCommit {
            hotkey: Some([1; 32]),
            uids: vec![0, 1],
            values: vec![1],
            version_key: 0,
            epochs: EpochModel::Modulo {
                tempo: 10,
                netuid: 1,
                current_block: 5,
            },
            reveal_period_epochs: 1,
            block_time: 12.0,
        };
        assert!(matches!(
            base.encrypt_at(1e9),
            Err(TimelockError::InvalidInput(_))
        ));
        let nan = WeightsCommit {
            values: vec![1, 2],
            block_time: f64::NAN,
            ..base.clone()
        };
        assert!(matches!(
            nan.encrypt_at(1e9),
            Err(TimelockError::InvalidInput(_))
        ));
        let huge = WeightsCommit {
            uids: (0..2000).collect(),
            values: vec![1; 2000],
            ..base
        };
        assert!(matches!(
            huge.encrypt_at(1e9),
            Err(TimelockError::InvalidInput(_))
        ));
    }
}
