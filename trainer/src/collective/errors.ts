// Typed errors of rendezvous and the collectives. Each names the ranks it is about, so one log line says who is gone.
import { EXIT } from "@gantry/crds";

/** A neighbour in the ring closed, errored or went silent: the gang must restart from the last checkpoint. */
export class PeerLostError extends Error {
  /** The exit code a trainer should end with: the operator restarts the gang. */
  readonly exitCode = EXIT.retryable;
  constructor(
    readonly rank: number,
    /** The rank whose link failed, or undefined when the failure came from this rank's own shutdown. */
    readonly peer: number | undefined,
    readonly reason: string,
  ) {
    super(`rank ${rank}: ${peer === undefined ? "collective" : `link to rank ${peer}`} lost: ${reason}`);
    this.name = "PeerLostError";
  }
}

/** Not every rank registered its address in time. */
export class RendezvousTimeoutError extends Error {
  readonly exitCode = EXIT.retryable;
  constructor(
    readonly group: string,
    readonly worldSize: number,
    readonly missing: readonly number[],
    readonly timeoutMs: number,
  ) {
    super(
      `rendezvous ${group} timed out after ${timeoutMs} ms: ${worldSize - missing.length} of ${worldSize} ranks registered; missing rank${missing.length === 1 ? "" : "s"} ${missing.join(", ")}`,
    );
    this.name = "RendezvousTimeoutError";
  }
}

/** A registered address cannot be used, or a rank is out of range: a configuration bug, not a transient fault. */
export class RendezvousConfigError extends Error {
  constructor(
    readonly group: string,
    readonly reason: string,
  ) {
    super(`rendezvous ${group}: ${reason}`);
    this.name = "RendezvousConfigError";
  }
}

/** Ranks called different collectives, or arrays of different lengths: a bug in the caller, never retried. */
export class CollectiveMismatchError extends Error {
  constructor(
    readonly rank: number,
    readonly reason: string,
  ) {
    super(`rank ${rank}: collectives out of step: ${reason}`);
    this.name = "CollectiveMismatchError";
  }
}
