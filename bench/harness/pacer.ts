/**
 * Runs `count` tasks at `ratePerS` (0 = no rate bound) with at most
 * `concurrency` in flight: the ramp, setup and reconnect schedule of a worker.
 * A 5 ms tick starts what is due; a task never rejects (it counts its own errors).
 */
export async function paced(count: number, ratePerS: number, concurrency: number, task: (k: number) => Promise<void>, stopped: () => boolean = () => false): Promise<void> {
  if (count <= 0) return;
  const start = performance.now();
  let next = 0;
  let inFlight = 0;
  let finished = 0;
  await new Promise<void>((resolve) => {
    const launch = () => {
      const due = ratePerS > 0 ? Math.min(count, Math.floor(((performance.now() - start) / 1000) * ratePerS) + 1) : count;
      while (next < due && inFlight < concurrency && !stopped()) {
        const k = next++;
        inFlight++;
        void task(k).finally(() => {
          inFlight--;
          finished++;
          if (finished === next && (next === count || stopped())) {
            clearInterval(timer);
            resolve();
          }
        });
      }
      if (stopped() && inFlight === 0) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(launch, 5);
    launch();
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
