//! A priority gate: at most N forwards run at once; the rest wait in a bounded queue and are
//! admitted highest priority first (stake, as the miner's priority hook decides).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The queue is full: the caller should be told to come back later (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GateFull;

struct Waiter {
    priority: f64,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    // Max-heap: higher priority first, then earlier arrival.
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .total_cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

struct GateState {
    available: usize,
    waiters: BinaryHeap<Waiter>,
    seq: u64,
}

/// See the module docs.
pub(crate) struct PriorityGate {
    state: Mutex<GateState>,
    max_waiting: usize,
}

/// A running slot; dropping it admits the next waiter.
pub(crate) struct GatePermit {
    gate: Arc<PriorityGate>,
}

impl Drop for GatePermit {
    fn drop(&mut self) {
        self.gate.release();
    }
}

/// Removes a waiter that gave up (timeout, disconnect) without leaking a slot it was handed.
struct WaitGuard {
    gate: Arc<PriorityGate>,
    wake: Option<oneshot::Receiver<()>>,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if let Some(mut rx) = self.wake.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.gate.release();
            }
        }
    }
}

impl PriorityGate {
    pub(crate) fn new(concurrency: usize, max_waiting: usize) -> Arc<Self> {
        Arc::new(PriorityGate {
            state: Mutex::new(GateState {
                available: concurrency.max(1),
                waiters: BinaryHeap::new(),
                seq: 0,
            }),
            max_waiting,
        })
    }

    /// Waits for a slot. Fails at once when the queue is full.
    pub(crate) async fn acquire(self: &Arc<Self>, priority: f64) -> Result<GatePermit, GateFull> {
        let rx = {
            let mut st = self.lock();
            if st.available > 0 {
                st.available -= 1;
                return Ok(GatePermit { gate: self.clone() });
            }
            if st.waiters.len() >= self.max_waiting {
                st.waiters.retain(|w| !w.wake.is_closed());
                if st.waiters.len() >= self.max_waiting {
                    return Err(GateFull);
                }
            }
            let (tx, rx) = oneshot::channel();
            st.seq += 1;
            let seq = st.seq;
            st.waiters.push(Waiter {
                priority,
                seq,
                wake: tx,
            });
            rx
        };
        let mut guard = WaitGuard {
            gate: self.clone(),
            wake: Some(rx),
        };
        let rx = guard
            .wake
            .as_mut()
            .expect("receiver is set above. This is a bug.");
        match rx.await {
            Ok(()) => {
                guard.wake = None; // the slot is ours now; the permit releases it
                Ok(GatePermit { gate: self.clone() })
            }
            // The sender is only dropped when the gate itself goes away.
            Err(_) => Err(GateFull),
        }
    }

    /// Requests waiting for a slot.
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiters.len()
    }

    fn release(&self) {
        let mut st = self.lock();
        while let Some(w) = st.waiters.pop() {
            if w.wake.send(()).is_ok() {
                return;
            }
        }
        st.available += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        // A panic while holding this lock cannot leave the counters half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn admits_by_priority_and_bounds_the_queue() {
        let gate = PriorityGate::new(1, 2);
        let first = gate.acquire(0.0).await.expect("free slot");
        let g = gate.clone();
        let low = tokio::spawn(async move { g.acquire(1.0).await.map(|_p| "low") });
        tokio::task::yield_now().await;
        let g = gate.clone();
        let high = tokio::spawn(async move { g.acquire(9.0).await.map(|_p| "high") });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(gate.waiting(), 2);
        assert_eq!(gate.acquire(5.0).await.err(), Some(GateFull));
        drop(first);
        // high is admitted first; its permit drops when its task ends, then low runs.
        assert_eq!(high.await.expect("task"), Ok("high"));
        assert_eq!(low.await.expect("task"), Ok("low"));
        assert!(gate.acquire(0.0).await.is_ok());
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_leak_the_slot() {
        let gate = PriorityGate::new(1, 4);
        let first = gate.acquire(0.0).await.expect("free slot");
        let timed_out = tokio::time::timeout(Duration::from_millis(10), gate.acquire(1.0)).await;
        assert!(timed_out.is_err());
        drop(first);
        let again = tokio::time::timeout(Duration::from_millis(100), gate.acquire(0.0)).await;
        assert!(again.is_ok(), "slot was leaked");
    }
}
