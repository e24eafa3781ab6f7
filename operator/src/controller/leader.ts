// Leader election on a coordination.k8s.io Lease: one replica reconciles, the others wait to take over when the
// holder stops renewing. Optimistic concurrency on the Lease's resourceVersion decides races.
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import type { Logger } from "../log.js";
import { statusCode } from "./api-error.js";

export interface LeaderOptions {
  kc: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseSeconds: number;
  renewSeconds: number;
  log: Logger;
}

/** Whether `identity` may take or keep the lease at `now`. Pure, for tests. */
export function mayHold(lease: V1Lease | undefined, identity: string, now: Date): boolean {
  const spec = lease?.spec;
  if (!spec?.holderIdentity || spec.holderIdentity === identity) return true;
  const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
  return now.getTime() > renewed + (spec.leaseDurationSeconds ?? 15) * 1000;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private leading = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: LeaderOptions) {
    this.api = o.kc.makeApiClient(CoordinationV1Api);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Tries once to take or renew the lease; true while this replica holds it. */
  async tryAcquire(now = new Date()): Promise<boolean> {
    const { namespace, name, identity, leaseSeconds } = this.o;
    let lease: V1Lease | undefined;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
    if (!mayHold(lease, identity, now)) return false;
    // Lease times are MicroTime: a plain Date serialises with milliseconds, which the API server rejects.
    const micro = new V1MicroTime(now.getTime());
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: leaseSeconds,
      renewTime: micro,
      acquireTime: lease?.spec?.holderIdentity === identity && lease.spec.acquireTime ? lease.spec.acquireTime : micro,
      leaseTransitions: (lease?.spec?.leaseTransitions ?? 0) + (lease?.spec?.holderIdentity === identity ? 0 : 1),
    };
    try {
      if (!lease) await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } });
      else await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec } });
      return true;
    } catch (err) {
      if (statusCode(err) === 409) return false;
      throw err;
    }
  }

  /** Calls onLead once the lease is held; calls onLose (and stops) if it is ever lost. */
  run(onLead: () => void, onLose: () => void): void {
    const tick = async () => {
      try {
        const held = await this.tryAcquire();
        if (held && !this.leading) {
          this.leading = true;
          this.o.log.info("became leader", { identity: this.o.identity });
          onLead();
        } else if (!held && this.leading) {
          this.leading = false;
          this.o.log.error("lost leadership", { identity: this.o.identity });
          this.stop();
          onLose();
          return;
        }
      } catch (err) {
        this.o.log.warn("lease update failed", { error: err instanceof Error ? err.message : String(err) });
      }
      this.timer = setTimeout(() => void tick(), this.o.renewSeconds * 1000);
    };
    void tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /**
   * Hands the lease back on a graceful stop (client-go's ReleaseOnCancel): a standby takes over at its next renew
   * instead of waiting out the lease. Call it after reconciling has stopped. Best effort: a failure only costs time.
   */
  async release(): Promise<void> {
    this.stop();
    if (!this.leading) return;
    this.leading = false;
    const { namespace, name, identity } = this.o;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      const past = new V1MicroTime(Date.now() - (lease.spec.leaseDurationSeconds ?? 15) * 1000 - 1000);
      await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: "", renewTime: past } } });
      this.o.log.info("released leadership", { identity });
    } catch (err) {
      this.o.log.warn("lease release failed", { error: err instanceof Error ? err.message : String(err) });
    }
  }
}
