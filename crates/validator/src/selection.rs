//! Which miners a round asks: a rotation through shuffled chunks, so every serving miner is
//! queried equally often and no miner can predict when its turn comes.

use rand::seq::SliceRandom;
use std::collections::{HashSet, VecDeque};

/// Rotates through candidates in shuffled chunks of `chunk_size`.
#[derive(Debug)]
pub struct Rotation {
    pending: VecDeque<String>,
    chunk_size: usize,
}

impl Rotation {
    /// A rotation that asks `chunk_size` miners per round.
    pub fn new(chunk_size: usize) -> Self {
        Rotation {
            pending: VecDeque::new(),
            chunk_size: chunk_size.max(1),
        }
    }

    /// The next chunk of keys among `candidates` (e.g. hotkeys of serving miners). Keys that
    /// left since the shuffle are skipped; new keys join at the next shuffle. A chunk never
    /// repeats a key, and a key is not asked twice before every other key was asked once.
    pub fn next_chunk(&mut self, candidates: &[String]) -> Vec<String> {
        let live: HashSet<&String> = candidates.iter().collect();
        let mut chunk: Vec<String> = Vec::with_capacity(self.chunk_size);
        // Keys met twice within one chunk (across a reshuffle) keep their turn for the next.
        let mut deferred = Vec::new();
        let mut refilled = false;
        while chunk.len() < self.chunk_size.min(live.len()) {
            match self.pending.pop_front() {
                Some(k) if !live.contains(&k) => {}
                Some(k) if chunk.contains(&k) => deferred.push(k),
                Some(k) => chunk.push(k),
                None if refilled => break,
                None => {
                    let mut fresh: Vec<String> = live.iter().map(|k| (*k).clone()).collect();
                    fresh.sort();
                    fresh.shuffle(&mut rand::thread_rng());
                    self.pending.extend(fresh);
                    refilled = true;
                }
            }
        }
        for k in deferred.into_iter().rev() {
            self.pending.push_front(k);
        }
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_miner_is_asked_equally_often() {
        let miners: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
        let mut r = Rotation::new(3);
        let mut asked: HashMap<String, usize> = HashMap::new();
        for _ in 0..100 {
            let chunk = r.next_chunk(&miners);
            assert_eq!(chunk.len(), 3);
            let distinct: HashSet<_> = chunk.iter().collect();
            assert_eq!(distinct.len(), 3);
            for k in chunk {
                *asked.entry(k).or_default() += 1;
            }
        }
        let (min, max) = (asked.values().min().copied(), asked.values().max().copied());
        assert!(
            max.zip(min).is_some_and(|(max, min)| max - min <= 1),
            "{asked:?}"
        );
    }

    #[test]
    fn departures_and_small_sets() {
        let mut r = Rotation::new(4);
        let two = vec!["a".to_string(), "b".to_string()];
        assert_eq!(r.next_chunk(&two).len(), 2);
        assert!(r.next_chunk(&[]).is_empty());
        let one = vec!["c".to_string()];
        assert_eq!(r.next_chunk(&one), vec!["c".to_string()]);
    }
}
