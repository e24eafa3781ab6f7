// The pods bound to one node, kept current by a list and watch (fieldSelector spec.nodeName). client-node's ListWatch
// stops on any error but a 410, so it is restarted with backoff, and relisted periodically in case a watch stalls.
import { ListWatch, Watch, type CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import type { Log } from "./json-log.js";

export interface PodWatchOptions {
  kc: KubeConfig;
  core: CoreV1Api;
  node: string;
  log: Log;
  /** Called with the pod's uid after any change, including a deletion; handlers read the cache. */
  onChange: (uid: string) => void;
  resyncMs?: number;
}

export class PodWatch {
  private readonly pods = new Map<string, V1Pod>();
  private readonly informer: ListWatch<V1Pod>;
  private stopped = false;
  private failures = 0;
  private synced = false;
  private readonly resync: NodeJS.Timeout;

  constructor(private readonly o: PodWatchOptions) {
    const fieldSelector = `spec.nodeName=${o.node}`;
    this.informer = new ListWatch<V1Pod>("/api/v1/pods", new Watch(o.kc), () => o.core.listPodForAllNamespaces({ fieldSelector }), false, undefined, fieldSelector);
    const put = (p: V1Pod) => {
      const uid = p.metadata?.uid;
      if (!uid) return;
      this.pods.set(uid, p);
      o.onChange(uid);
    };
    this.informer.on("add", put);
    this.informer.on("update", put);
    this.informer.on("delete", (p) => {
      const uid = p.metadata?.uid;
      if (!uid) return;
      this.pods.delete(uid);
      o.onChange(uid);
    });
    this.informer.on("error", (err: unknown) => this.restart(err instanceof Error ? err.message : String(err)));
    this.resync = setInterval(() => {
      void this.informer
        .stop()
        .then(() => this.informer.start())
        .catch((err: unknown) => this.restart(String(err)));
    }, o.resyncMs ?? 60_000);
    this.resync.unref();
  }

  /** Resolves once the first list has arrived. */
  async start(): Promise<void> {
    await this.informer.start();
    this.synced = true;
  }

  private restart(reason: string): void {
    if (this.stopped) return;
    this.failures++;
    const delay = Math.min(10_000, 250 * 2 ** Math.min(this.failures, 6));
    this.o.log.warn("pod watch restarting", { reason, delayMs: delay });
    setTimeout(() => {
      if (this.stopped) return;
      this.informer.start().then(
        () => {
          this.failures = 0;
        },
        (err: unknown) => this.restart(String(err)),
      );
    }, delay).unref();
  }

  get(uid: string): V1Pod | undefined {
    return this.pods.get(uid);
  }

  list(): V1Pod[] {
    return [...this.pods.values()];
  }

  isSynced(): boolean {
    return this.synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resync);
    await this.informer.stop();
  }
}
