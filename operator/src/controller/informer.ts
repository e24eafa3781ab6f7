// An informer that does not stay dead: client-node's informers stop on any error but a 410, so restart them with
// backoff, and resync periodically so a silently stalled watch cannot hide changes for long.
import { makeInformer, type KubeConfig, type KubernetesObject, type ListPromise } from "@kubernetes/client-node";
import type { Logger } from "winston";

export interface Watched<T extends KubernetesObject> {
  list(): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  /** True once the first list has arrived. */
  synced(): boolean;
  stop(): Promise<void>;
}

export interface WatchOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
  onChange: (obj: T, verb: "add" | "update" | "delete") => void;
  log: Logger;
  /** Restart the watch this often even when it looks healthy (default 5 minutes). */
  resyncMs?: number;
  /** Drops fields nothing reads from a cached object, in place, before handlers see it (managedFields always go). */
  slim?: (obj: T) => void;
}

/** The last-applied annotation is a second copy of the object; the operator never reads it. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

function slimMetadata(obj: KubernetesObject): void {
  const meta = obj.metadata;
  if (!meta) return;
  delete meta.managedFields;
  if (meta.annotations?.[LAST_APPLIED] !== undefined) {
    meta.annotations = Object.fromEntries(Object.entries(meta.annotations).filter(([k]) => k !== LAST_APPLIED));
  }
}

export function watch<T extends KubernetesObject>(options: WatchOptions<T>): Watched<T> {
  const { log } = options;
  const informer = makeInformer<T>(options.kc, options.path, options.list, options.labelSelector);
  let synced = false;
  let stopped = false;
  let failures = 0;
  // client-node's cache holds the very object it hands to handlers, so trimming it here trims the cache: what the
  // cache keeps is what RSS pays for (controller-runtime's TransformStripManagedFields does the same).
  const slim = (o: T) => {
    slimMetadata(o);
    options.slim?.(o);
    return o;
  };
  informer.on("add", (o) => options.onChange(slim(o), "add"));
  informer.on("update", (o) => options.onChange(slim(o), "update"));
  informer.on("delete", (o) => options.onChange(o, "delete"));
  const restart = (reason: string) => {
    if (stopped) return;
    failures++;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
    log.warn("watch restarting", { path: options.path, reason, delayMs: delay });
    setTimeout(() => {
      if (!stopped) begin();
    }, delay).unref();
  };
  // start() resolves once the list has arrived and the watch is open.
  const begin = () =>
    informer.start().then(
      () => {
        synced = true;
        failures = 0;
      },
      (err: unknown) => restart(String(err)),
    );
  informer.on("error", (err: unknown) => restart(err instanceof Error ? err.message : String(err)));
  begin();
  const resync = setInterval(() => {
    // stop() then start() relists: every object is re-emitted as an update, and handlers are level-based.
    void informer
      .stop()
      .then(() => informer.start())
      .catch((err: unknown) => restart(String(err)));
  }, options.resyncMs ?? 300_000);
  resync.unref();
  return {
    list: () => informer.list(),
    get: (name, namespace) => informer.get(name, namespace),
    synced: () => synced,
    stop: async () => {
      stopped = true;
      clearInterval(resync);
      await informer.stop();
    },
  };
}
