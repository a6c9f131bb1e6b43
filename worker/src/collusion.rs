//! The collusion board: how the Byzantine workers hosted by this process learn
//! the benign updates of a round (full knowledge among the hosted workers).
//!
//! Every hosted worker, honest or not, posts its benign delta of each round
//! (or "sat out" when it drops out); a worker whose task ends for any reason
//! is marked departed (see [`Departure`]), which counts as "sat out" for every
//! later round. A worker counts as done with round r when it posted for r,
//! posted for a later round (it never saw r), or departed. A Byzantine worker
//! waits (holding no CPU permit) until every hosted worker is done with the
//! round, or at most [`Board::timeout`] (then it warns and uses what arrived),
//! and the first one to get there crafts the malicious updates of all hosted
//! Byzantine workers once ([`Board::crafted`]); the others reuse them.
//!
//! Memory: a round's posts are dropped once every Byzantine worker of the
//! round has taken its update, and in any case when a worker posts two
//! rounds later.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OnceCell, watch};
use tracing::warn;

/// The malicious updates of one round: `ids[k]` submits `updates[k]`.
#[derive(Debug)]
pub(crate) struct Crafted {
    pub ids: Vec<u32>,
    pub updates: Vec<Vec<f32>>,
}

/// What the crafting of a round sees: the benign deltas of the hosted
/// Byzantine workers (by id) and of the hosted honest ones.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub own_ids: Vec<u32>,
    pub own: Vec<Vec<f32>>,
    pub honest: Vec<Vec<f32>>,
}

type Cell = Arc<OnceCell<Result<Arc<Crafted>, String>>>;

#[derive(Default)]
struct Round {
    posts: BTreeMap<u32, Option<Vec<f32>>>,
    crafted: Cell,
    taken: BTreeSet<u32>,
}

#[derive(Default)]
struct Inner {
    rounds: BTreeMap<u64, Round>,
    /// The last round each worker posted for.
    latest: BTreeMap<u32, u64>,
    departed: BTreeSet<u32>,
}

/// See the module doc.
pub(crate) struct Board {
    hosted: Vec<u32>,
    byzantine_from: u32,
    timeout: Duration,
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Board")
            .field("hosted", &self.hosted.len())
            .field("byzantine_from", &self.byzantine_from)
            .finish_non_exhaustive()
    }
}

impl Board {
    /// A board for the `hosted` workers; ids ≥ `byzantine_from` are Byzantine.
    pub fn new(hosted: &[u32], byzantine_from: u32, timeout: Duration) -> Board {
        Board {
            hosted: hosted.to_vec(),
            byzantine_from,
            timeout,
            inner: Mutex::new(Inner::default()),
            changed: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent maps.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Worker `id`'s benign delta of `round` (`None`: it sits the round out).
    pub fn post(&self, id: u32, round: u64, delta: Option<Vec<f32>>) {
        {
            let mut inner = self.lock();
            inner
                .rounds
                .entry(round)
                .or_default()
                .posts
                .insert(id, delta);
            let latest = inner.latest.entry(id).or_insert(round);
            *latest = (*latest).max(round);
            // Rounds two behind a post are over at server A.
            inner.rounds.retain(|&r, _| r + 2 > round);
        }
        self.bump();
    }

    /// Worker `id` will post no more.
    pub fn depart(&self, id: u32) {
        self.lock().departed.insert(id);
        self.bump();
    }

    /// The hosted workers not yet done with `round`.
    fn missing(&self, inner: &Inner, round: u64) -> Vec<u32> {
        let posts = inner.rounds.get(&round).map(|r| &r.posts);
        self.hosted
            .iter()
            .copied()
            .filter(|id| {
                !(posts.is_some_and(|p| p.contains_key(id))
                    || inner.latest.get(id).is_some_and(|&l| l > round)
                    || inner.departed.contains(id))
            })
            .collect()
    }

    /// Waits until every hosted worker is done with `round` (at most the
    /// timeout), then returns the round's crafted updates, running `craft`
    /// on the known benign deltas if no other Byzantine worker has yet.
    pub async fn crafted<F, Fut>(&self, round: u64, craft: F) -> Result<Arc<Crafted>, String>
    where
        F: FnOnce(Known) -> Fut,
        Fut: Future<Output = Result<Crafted, String>>,
    {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let cell = loop {
            rx.borrow_and_update();
            let missing = {
                let mut inner = self.lock();
                let missing = self.missing(&inner, round);
                if missing.is_empty() {
                    Some(Arc::clone(&inner.rounds.entry(round).or_default().crafted))
                } else {
                    None
                }
                .ok_or(missing)
            };
            match missing {
                Ok(cell) => break cell,
                Err(missing) => {
                    if tokio::time::timeout_at(deadline, rx.changed())
                        .await
                        .is_err()
                    {
                        warn!(
                            round,
                            ?missing,
                            after_s = self.timeout.as_secs_f64(),
                            "collusion board: these workers have not posted; crafting from the updates that arrived"
                        );
                        let mut inner = self.lock();
                        break Arc::clone(&inner.rounds.entry(round).or_default().crafted);
                    }
                }
            }
        };
        cell.get_or_init(|| async {
            let known = self.known(round);
            craft(known).await.map(Arc::new)
        })
        .await
        .clone()
    }

    /// The posted deltas of `round`, split into Byzantine and honest.
    fn known(&self, round: u64) -> Known {
        let inner = self.lock();
        let mut k = Known::default();
        if let Some(r) = inner.rounds.get(&round) {
            for (&id, delta) in &r.posts {
                let Some(delta) = delta else { continue };
                if id >= self.byzantine_from {
                    k.own_ids.push(id);
                    k.own.push(delta.clone());
                } else {
                    k.honest.push(delta.clone());
                }
            }
        }
        k
    }

    /// Byzantine worker `id` took its crafted update of `round`: once every
    /// Byzantine worker of the round has, the round's memory is released.
    pub fn taken(&self, id: u32, round: u64, crafted: &Crafted) {
        let mut inner = self.lock();
        let done = match inner.rounds.get_mut(&round) {
            Some(r) => {
                r.taken.insert(id);
                crafted.ids.iter().all(|i| r.taken.contains(i))
            }
            None => false,
        };
        if done {
            inner.rounds.remove(&round);
        }
    }

    #[cfg(test)]
    fn rounds_held(&self) -> usize {
        self.lock().rounds.len()
    }
}

/// Marks a worker departed when dropped (however its task ends).
#[derive(Debug)]
pub(crate) struct Departure {
    pub board: Arc<Board>,
    pub id: u32,
}

impl Drop for Departure {
    fn drop(&mut self) {
        self.board.depart(self.id);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sum_craft(k: Known) -> std::future::Ready<Result<Crafted, String>> {
        // Each Byzantine worker submits the sum of every known delta's first
        // coordinate.
        let s: f32 = k.own.iter().chain(&k.honest).map(|u| u[0]).sum();
        std::future::ready(Ok(Crafted {
            updates: vec![vec![s]; k.own_ids.len()],
            ids: k.own_ids,
        }))
    }

    #[tokio::test]
    async fn byzantine_workers_wait_for_everyone_and_share_one_crafting() {
        // Workers 0, 1 honest; 2, 3 Byzantine.
        let board = Arc::new(Board::new(&[0, 1, 2, 3], 2, Duration::from_secs(30)));
        board.post(2, 5, Some(vec![1.0]));
        board.post(3, 5, Some(vec![2.0]));
        let b2 = Arc::clone(&board);
        let w2 = tokio::spawn(async move { b2.crafted(5, sum_craft).await });
        let b3 = Arc::clone(&board);
        let w3 = tokio::spawn(async move { b3.crafted(5, sum_craft).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!w2.is_finished() && !w3.is_finished());
        board.post(0, 5, Some(vec![10.0]));
        board.post(1, 5, None); // sat out
        let (c2, c3) = (w2.await.unwrap().unwrap(), w3.await.unwrap().unwrap());
        assert!(Arc::ptr_eq(&c2, &c3));
        assert_eq!(c2.ids, vec![2, 3]);
        assert_eq!(c2.updates, vec![vec![13.0]; 2]);
        board.taken(2, 5, &c2);
        assert_eq!(board.rounds_held(), 1);
        board.taken(3, 5, &c3);
        assert_eq!(board.rounds_held(), 0);
    }

    #[tokio::test]
    async fn departed_and_later_posts_count_as_done() {
        let board = Arc::new(Board::new(&[0, 1, 2], 2, Duration::from_secs(30)));
        board.post(2, 1, Some(vec![1.0]));
        // Worker 0 never saw round 1 and posts round 2; worker 1 departs.
        board.post(0, 2, Some(vec![5.0]));
        drop(Departure {
            board: Arc::clone(&board),
            id: 1,
        });
        let c = board.crafted(1, sum_craft).await.unwrap();
        assert_eq!(c.updates, vec![vec![1.0]]);
        // Posts for round 3 drop round 1.
        board.post(0, 3, None);
        assert!(board.lock().rounds.keys().all(|&r| r >= 2));
    }

    #[tokio::test]
    async fn a_missing_worker_only_delays_until_the_timeout() {
        let board = Board::new(&[0, 1], 1, Duration::from_millis(200));
        board.post(1, 0, Some(vec![3.0]));
        let c = board.crafted(0, sum_craft).await.unwrap();
        assert_eq!(c.updates, vec![vec![3.0]]);
    }

    #[tokio::test]
    async fn a_crafting_error_reaches_every_waiter() {
        let board = Board::new(&[0], 0, Duration::from_secs(5));
        board.post(0, 0, Some(vec![3.0]));
        let e = board
            .crafted(0, |_| std::future::ready(Err("no".to_string())))
            .await
            .unwrap_err();
        assert_eq!(e, "no");
        let e = board.crafted(0, sum_craft).await.unwrap_err();
        assert_eq!(e, "no");
    }
}
