//! Drives workers for a while, either closed-loop (a fixed number of
//! requests in flight) or open-loop (a fixed rate, latency measured from
//! when each request was due, so a slow server cannot hide its queue).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::report::{Stats, record};

/// Something that does one measured operation at a time: a request on a
/// keep-alive connection, a handshake, a keystroke.
pub trait Worker: Send + 'static {
    fn step(&mut self) -> impl Future<Output = Result<(), String>> + Send;
}

/// How hard to push.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// This many operations in flight at all times.
    Concurrency(usize),
    /// This many operations started per second, over `pool` workers.
    Rate { per_second: f64, pool: usize },
}

/// Runs the workers for `duration` after one untimed warm-up step each
/// (which opens connections and fetches nonces), and returns the figures.
pub async fn run<W: Worker>(
    label: &str,
    mut workers: Vec<W>,
    load: Load,
    duration: Duration,
) -> Stats {
    let mut stats = Stats::new(label);
    for w in &mut workers {
        if let Err(e) = w.step().await {
            stats.failed(format!("warm-up: {e}"));
        }
    }
    match load {
        Load::Concurrency(_) => closed_loop(stats, workers, duration).await,
        Load::Rate { per_second, .. } => open_loop(stats, workers, per_second, duration).await,
    }
}

async fn closed_loop<W: Worker>(mut stats: Stats, workers: Vec<W>, duration: Duration) -> Stats {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for mut worker in workers {
        let label = stats.label.clone();
        tasks.spawn(async move {
            let mut mine = Stats::new(label);
            while Instant::now() < deadline {
                let began = Instant::now();
                match worker.step().await {
                    Ok(()) => {
                        mine.ok += 1;
                        record(&mut mine.latency, began.elapsed());
                    }
                    Err(e) => {
                        mine.failed(e);
                        // A refusing server must not turn the loop into a spin.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            mine
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok(mine) = done {
            stats.merge(&mine);
        }
    }
    stats.elapsed = started.elapsed();
    stats
}

async fn open_loop<W: Worker>(
    mut stats: Stats,
    workers: Vec<W>,
    per_second: f64,
    duration: Duration,
) -> Stats {
    let mut idle = workers;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(W, Result<Duration, String>)>();
    let period = Duration::from_secs_f64(1.0 / per_second.max(0.001));
    let mut ticks = tokio::time::interval(period);
    // Late ticks fire at once rather than being skipped, so the rate holds.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let deadline = started + duration;
    let mut in_flight = 0usize;
    loop {
        tokio::select! {
            due = ticks.tick(), if Instant::now() < deadline => {
                let Some(mut worker) = idle.pop() else {
                    stats.behind += 1;
                    continue;
                };
                in_flight += 1;
                let tx = done_tx.clone();
                tokio::spawn(async move {
                    let result = worker.step().await.map(|()| due.elapsed());
                    let _ = tx.send((worker, result));
                });
            }
            Some((worker, result)) = done_rx.recv(), if in_flight > 0 => {
                in_flight -= 1;
                idle.push(worker);
                match result {
                    Ok(latency) => {
                        stats.ok += 1;
                        record(&mut stats.latency, latency);
                    }
                    Err(e) => stats.failed(e),
                }
            }
            else => break,
        }
    }
    stats.elapsed = started.elapsed();
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sleeper(Duration, bool);

    impl Worker for Sleeper {
        async fn step(&mut self) -> Result<(), String> {
            tokio::time::sleep(self.0).await;
            if self.1 { Err("no".into()) } else { Ok(()) }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_keeps_each_worker_busy() {
        let workers = vec![Sleeper(Duration::from_millis(10), false); 4];
        let stats = run("t", workers, Load::Concurrency(4), Duration::from_secs(1)).await;
        // 4 workers, 100 steps a second each (plus the last one started).
        assert!((400..=404).contains(&stats.ok), "{}", stats.ok);
        assert_eq!(stats.errors, 0);
        assert!((stats.percentile_ms(50.0) - 10.0).abs() < 0.1);
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_holds_the_rate_and_counts_what_it_cannot_start() {
        let workers = vec![Sleeper(Duration::from_millis(1), false); 2];
        let rate = Load::Rate {
            per_second: 100.0,
            pool: 2,
        };
        let stats = run("t", workers, rate, Duration::from_secs(1)).await;
        assert!((99..=101).contains(&stats.ok), "{}", stats.ok);
        assert_eq!(stats.behind, 0);
        // One slow worker cannot start 100 a second.
        let slow = vec![Sleeper(Duration::from_millis(50), false)];
        let rate = Load::Rate {
            per_second: 100.0,
            pool: 1,
        };
        let stats = run("t", slow, rate, Duration::from_secs(1)).await;
        assert!(stats.behind > 40, "{}", stats.behind);
        let failing = vec![Sleeper(Duration::from_millis(1), true)];
        let stats = run(
            "t",
            failing,
            Load::Concurrency(1),
            Duration::from_millis(100),
        )
        .await;
        assert_eq!(stats.ok, 0);
        assert!(stats.errors > 0);
    }

    impl Clone for Sleeper {
        fn clone(&self) -> Self {
            Sleeper(self.0, self.1)
        }
    }
}
