// Simulated GPU nodes private to one test file: labelled and tainted gantry.dev/test-pool=<namespace>, so tests that
// count GPUs never see each other's nodes, plus the scheduling block that puts a job on them.
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { Nodes, isReady } from "./nodes.js";
import { waitFor } from "./wait.js";

export class PrivatePool {
  private readonly nodes: Nodes;
  private readonly core: CoreV1Api;
  private readonly added: string[] = [];

  constructor(
    kc: KubeConfig,
    /** The pool's name: the test's namespace. */
    readonly name: string,
  ) {
    this.nodes = new Nodes(kc);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** Adds `<pool>-<suffix>` with this many GPUs and waits for it to be Ready. */
  async add(suffix: string, gpus: number): Promise<string> {
    const full = `${this.name}-${suffix}`;
    await this.nodes.add("gpu-a100", full, { gpus, private: this.name });
    this.added.push(full);
    await waitFor(`node ${full} to be Ready`, () => this.core.readNode({ name: full }), isReady);
    return full;
  }

  /** Removes every node this pool added. */
  async clear(): Promise<void> {
    for (const n of this.added.splice(0)) await this.nodes.remove(n).catch(() => undefined);
  }

  /** spec.scheduling for a job on this pool; `extra` adds node-selector terms. */
  scheduling(extra: Record<string, string> = {}, gangTimeoutSeconds = 5): Record<string, unknown> {
    return {
      nodeSelector: { "gantry.dev/test-pool": this.name, ...extra },
      tolerations: [{ key: "gantry.dev/test-pool", operator: "Equal", value: this.name, effect: "NoSchedule" }],
      gangTimeoutSeconds,
    };
  }
}
