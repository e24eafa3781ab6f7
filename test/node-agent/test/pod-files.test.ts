import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { claimPodDirectory, podDirectories, podDirectory, podDirectoryNode } from "../pod-files.js";

const state = mkdtempSync(join(tmpdir(), "agent-files-"));
afterAll(() => rmSync(state, { recursive: true, force: true }));

describe("pod folders shared by several agents", () => {
  it("record which node's agent ran each pod, so a sweep keeps to its own", () => {
    const mine = podDirectory(state, "ns", "a-0-0", "uid-a");
    const theirs = podDirectory(state, "ns", "b-0-0", "uid-b");
    const old = podDirectory(state, "ns", "c-0-0", "uid-c");
    for (const d of [mine, theirs, old]) mkdirSync(d, { recursive: true });
    claimPodDirectory(mine, "node-1");
    claimPodDirectory(theirs, "node-2");
    expect(podDirectories(state).map((d) => [d.uid, podDirectoryNode(d.dir)]).sort()).toEqual([
      ["uid-a", "node-1"],
      ["uid-b", "node-2"],
      ["uid-c", undefined],
    ]);
  });
});
