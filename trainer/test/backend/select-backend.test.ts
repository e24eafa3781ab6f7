import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { BackendUnavailableError, selectBackend, type BackendLogger } from "../../src/backend/select-backend.js";
import { scatterRows } from "../../src/backend/cpu-segment-sum.js";
import { segmentSumAsScatter, WasmKernelError } from "../../src/backend/wasm-segment-sum.js";

function recordingLogger(): BackendLogger & { lines: { level: string; message: string; meta?: Record<string, unknown> }[] } {
  const lines: { level: string; message: string; meta?: Record<string, unknown> }[] = [];
  return {
    lines,
    info: (message, meta) => lines.push(meta === undefined ? { level: "info", message } : { level: "info", message, meta }),
    debug: (message, meta) => lines.push(meta === undefined ? { level: "debug", message } : { level: "debug", message, meta }),
  };
}

describe("selectBackend", () => {
  it("skips the native backends that are not installed and logs the one it picked", async () => {
    const logger = recordingLogger();
    const name = await selectBackend({ order: ["tfjs-node-gpu", "tfjs-node", "cpu"], logger });
    expect(name).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    const skipped = logger.lines.filter((l) => l.level === "debug").map((l) => l.meta?.["backend"]);
    expect(skipped).toEqual(["tfjs-node-gpu", "tfjs-node"]);
    const picked = logger.lines.find((l) => l.level === "info");
    expect(picked?.meta?.["backend"]).toBe("cpu");
  });

  it("starts wasm with its binaries found on disk", async () => {
    expect(await selectBackend({ order: ["wasm", "cpu"] })).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    await selectBackend({ order: ["cpu"] });
  });

  it("names every backend it tried when none starts", async () => {
    const err = await selectBackend({ order: ["tfjs-node"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as BackendUnavailableError).attempts.map((a) => a.name)).toEqual(["tfjs-node"]);
    expect((err as Error).message).toContain("tfjs-node");
  });

  it("registers tfjs-core's gradients, which its Node entry lacks", async () => {
    await selectBackend({ order: ["cpu"] });
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.neg(tf.square(x))))(tf.tensor1d([1, -2, 3]));
    expect(Array.from(await g.data())).toEqual([-2, 4, -6]);
  });
});

describe("segmentSumAsScatter", () => {
  it("maps UnsortedSegmentSum's shapes onto ScatterNd's", () => {
    expect(segmentSumAsScatter([6, 4], [6], 10)).toEqual({ indicesShape: [6, 1], updatesShape: [6, 4], outShape: [10, 4] });
    expect(segmentSumAsScatter([2, 3, 5], [2, 3], 7)).toEqual({ indicesShape: [6, 1], updatesShape: [6, 5], outShape: [7, 5] });
  });

  it("rejects ids whose shape is not a prefix of x", () => {
    expect(() => segmentSumAsScatter([6, 4], [5], 10)).toThrow(WasmKernelError);
  });
});

describe("scatterRows (cpu's UnsortedSegmentSum)", () => {
  it("adds each row into its segment and drops ids out of range", () => {
    const x = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    expect(Array.from(scatterRows(x, Int32Array.of(2, 0, 2, 9), 3, 2))).toEqual([3, 4, 0, 0, 6, 8]);
  });
});
