// Preemption: SIGTERM may reach one rank before the others, or only some. Every rank checks in at each step
// boundary through a small all-reduce, so all of them stop after the same step, checkpoint it and exit. The same
// vote carries rank 0's time-based "checkpoint now", since clocks differ between ranks.
import type { Collective } from "../collective/collective.js";

export class StopSignal {
  private requested: string | undefined;
  private readonly flags = new Float32Array(2);

  /** Listens for SIGTERM and SIGINT; returns a function that stops listening. */
  listen(proc: NodeJS.Process = process): () => void {
    const on = (signal: NodeJS.Signals) => this.request(signal);
    proc.on("SIGTERM", on);
    proc.on("SIGINT", on);
    return () => {
      proc.off("SIGTERM", on);
      proc.off("SIGINT", on);
    };
  }

  request(reason: string): void {
    this.requested ??= reason;
  }

  get reason(): string | undefined {
    return this.requested;
  }

  /** True on every rank when any rank was asked to stop. Every rank must call it at the same step boundaries. */
  async agreed(collective: Collective): Promise<boolean> {
    return (await this.vote(collective, false)).stop;
  }

  /** The stop vote plus a "save now" vote (any rank's, in practice rank 0's clock), identical on every rank. */
  async vote(collective: Collective, saveNow: boolean): Promise<{ stop: boolean; save: boolean }> {
    this.flags[0] = this.requested === undefined ? 0 : 1;
    this.flags[1] = saveNow ? 1 : 0;
    await collective.allReduceSum([this.flags]);
    const stop = (this.flags[0] ?? 0) > 0;
    if (stop) this.requested ??= "a peer was asked to stop";
    return { stop, save: (this.flags[1] ?? 0) > 0 };
  }
}
