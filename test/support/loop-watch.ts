// The worst event-loop stall while something runs: a 5 ms ticker whose longest gap is read at the
// end, the gap still open included (work that blocks the loop to its end never lets the ticker fire).
export interface LoopWatch {
  /** Stops the ticker; the worst gap in ms. */
  stop(): number;
}

export function watchLoop(): LoopWatch {
  let last = performance.now();
  let worst = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  return {
    stop() {
      clearInterval(ticker);
      return Math.max(worst, performance.now() - last);
    },
  };
}
