// Preemption: SIGTERM may reach one rank before the others, or only some. Every rank checks in at each step
// boundary through a one-element all-reduce, so all of them stop after the same step, checkpoint it and exit.
import type { Collective } from "../dist/collective.js";

export class StopSignal {
  private requested: string | undefined;
  private readonly flag = new Float32Array(1);

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
    this.flag[0] = this.requested === undefined ? 0 : 1;
    await collective.allReduceSum([this.flag]);
    const any = (this.flag[0] ?? 0) > 0;
    if (any) this.requested ??= "a peer was asked to stop";
    return any;
  }
}
