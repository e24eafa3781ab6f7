// Picks the fastest TensorFlow.js backend this machine can run, in a fixed order of preference. tfjs-node and
// tfjs-node-gpu are optional dependencies (their install downloads libtensorflow), so they are imported dynamically
// and their absence is an ordinary outcome, not an error.
import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { registerCpuSegmentSum } from "./cpu-segment-sum.js";
import { ensureGradients } from "./tfjs-gradients.js";
import { registerWasmSegmentSum } from "./wasm-segment-sum.js";

export type BackendName = "tfjs-node-gpu" | "tfjs-node" | "wasm" | "cpu";

export const DEFAULT_BACKEND_ORDER: readonly BackendName[] = ["tfjs-node-gpu", "tfjs-node", "wasm", "cpu"];

/** The subset of a winston logger this module uses. */
export interface BackendLogger {
  info(message: string, meta?: Record<string, unknown>): unknown;
  debug(message: string, meta?: Record<string, unknown>): unknown;
}

export interface BackendAttempt {
  name: BackendName;
  ok: boolean;
  reason?: string;
}

export class BackendUnavailableError extends Error {
  constructor(readonly attempts: readonly BackendAttempt[]) {
    super(`no TensorFlow.js backend could start: ${attempts.map((a) => `${a.name} (${a.reason ?? "?"})`).join(", ")}`);
    this.name = "BackendUnavailableError";
  }
}

// Both native packages register the backend "tensorflow" when imported.
const TF_NAME: Record<BackendName, string> = { "tfjs-node-gpu": "tensorflow", "tfjs-node": "tensorflow", wasm: "wasm", cpu: "cpu" };

/** The folder holding the wasm binaries: Node cannot fetch them from a URL, so it is given a path. */
export function wasmBinaryDir(): string {
  const main = createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm");
  return path.dirname(main) + path.sep;
}

async function importOptional(specifier: string): Promise<void> {
  // A non-literal specifier keeps the type checker and bundlers from resolving a package that may be absent.
  await import(specifier);
}

async function tryBackend(name: BackendName): Promise<void> {
  switch (name) {
    case "tfjs-node-gpu":
      await importOptional("@tensorflow/tfjs-node-gpu");
      break;
    case "tfjs-node":
      await importOptional("@tensorflow/tfjs-node");
      break;
    case "wasm":
      setWasmPaths(wasmBinaryDir());
      registerWasmSegmentSum();
      break;
    case "cpu":
      registerCpuSegmentSum();
      break;
  }
  if (!(await tf.setBackend(TF_NAME[name]))) throw new Error(`tf.setBackend("${TF_NAME[name]}") returned false`);
  await tf.ready();
}

export interface SelectBackendOptions {
  /** Backends to try, best first. Defaults to DEFAULT_BACKEND_ORDER. */
  order?: readonly BackendName[];
  logger?: BackendLogger;
}

/**
 * Makes the first backend of `order` that starts the active one and returns its name. Logs the choice and, at debug
 * level, why each better one was skipped. Also registers tfjs-core's gradients (see tfjs-gradients.ts), so call it
 * before training. Throws BackendUnavailableError when none starts.
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendName> {
  await ensureGradients();
  const attempts: BackendAttempt[] = [];
  for (const name of options.order ?? DEFAULT_BACKEND_ORDER) {
    try {
      await tryBackend(name);
      attempts.push({ name, ok: true });
      options.logger?.info("tensorflow backend selected", { backend: name, tfBackend: tf.getBackend(), skipped: attempts.filter((a) => !a.ok) });
      return name;
    } catch (err) {
      const reason = err instanceof Error ? err.message.split("\n")[0] ?? err.message : String(err);
      attempts.push({ name, ok: false, reason });
      options.logger?.debug("tensorflow backend unavailable", { backend: name, reason });
    }
  }
  throw new BackendUnavailableError(attempts);
}
