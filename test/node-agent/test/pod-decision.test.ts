import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { decide, viewPod, type ApiPodView, type LocalPodView } from "../pod-decision.js";

const api = (over: Partial<ApiPodView> = {}): ApiPodView => ({ phase: "Pending", deleting: false, graceSeconds: 30, ranBefore: false, ...over });
const kinds = (a: ApiPodView | undefined, l: LocalPodView | undefined, now = 0) => decide(a, l, now).map((s) => s.kind);

describe("decide", () => {
  it("starts a new pod, and fails one that ran under a previous agent", () => {
    expect(kinds(api(), undefined)).toEqual(["start"]);
    expect(kinds(api({ phase: "Running", ranBefore: true }), undefined)).toEqual(["mark-lost"]);
    expect(kinds(api({ ranBefore: true }), undefined)).toEqual(["mark-lost"]);
  });

  it("leaves finished pods alone and forgets them once their final status is in", () => {
    expect(kinds(api({ phase: "Succeeded", ranBefore: true }), undefined)).toEqual([]);
    expect(kinds(api({ phase: "Failed", ranBefore: true }), { alive: 0 })).toEqual(["forget"]);
  });

  it("reports while it runs and after it ends", () => {
    expect(kinds(api({ phase: "Pending" }), { alive: 1 })).toEqual(["report"]);
    expect(kinds(api({ phase: "Running" }), { alive: 0 })).toEqual(["report"]);
  });

  it("on deletion: SIGTERM with the deletion's grace period, SIGKILL once it is over, then finish the deletion", () => {
    expect(decide(api({ phase: "Running", deleting: true, graceSeconds: 7 }), { alive: 1 }, 0)).toEqual([{ kind: "terminate", graceSeconds: 7 }]);
    const terminating = { alive: 1, terminating: { deadlineMs: 7000, killSent: false } };
    expect(kinds(api({ deleting: true }), terminating, 6999)).toEqual([]);
    expect(decide(api({ deleting: true }), terminating, 7000)).toEqual([{ kind: "kill", why: "grace-period-over" }]);
    expect(kinds(api({ deleting: true }), { alive: 1, terminating: { deadlineMs: 7000, killSent: true } }, 9000)).toEqual([]);
    expect(kinds(api({ deleting: true }), { alive: 0, terminating: { deadlineMs: 7000, killSent: true } }, 9000)).toEqual(["report", "finalize", "forget"]);
  });

  it("finishes the deletion of a pod it runs nothing for", () => {
    expect(kinds(api({ deleting: true }), undefined)).toEqual(["finalize"]);
    expect(kinds(api({ deleting: true, phase: "Running", ranBefore: true }), undefined)).toEqual(["finalize"]);
  });

  it("kills at once what runs for a pod that is gone (a forced deletion)", () => {
    expect(decide(undefined, { alive: 2 }, 0)).toEqual([{ kind: "kill", why: "force-deleted" }, { kind: "forget" }]);
    expect(kinds(undefined, { alive: 0 })).toEqual(["forget"]);
    expect(kinds(undefined, undefined)).toEqual([]);
  });
});

describe("viewPod", () => {
  const pod = (p: Partial<V1Pod>): V1Pod => ({ metadata: { name: "p", uid: "u" }, spec: { containers: [] }, ...p });

  it("takes the deletion's grace period, else the spec's, else 30 s", () => {
    expect(viewPod(pod({ metadata: { deletionTimestamp: new Date(), deletionGracePeriodSeconds: 5 }, spec: { containers: [], terminationGracePeriodSeconds: 60 } }), false)).toMatchObject({ deleting: true, graceSeconds: 5 });
    expect(viewPod(pod({ spec: { containers: [], terminationGracePeriodSeconds: 60 } }), false)).toMatchObject({ deleting: false, graceSeconds: 60 });
    expect(viewPod(pod({}), false).graceSeconds).toBe(30);
  });

  it("says a pod ran before when its status or the disk says so", () => {
    expect(viewPod(pod({}), false).ranBefore).toBe(false);
    expect(viewPod(pod({}), true).ranBefore).toBe(true);
    expect(viewPod(pod({ status: { phase: "Running" } }), false).ranBefore).toBe(true);
    expect(viewPod(pod({ status: { phase: "Pending", podIP: "127.0.1.1" } }), false).ranBefore).toBe(true);
    expect(viewPod(pod({ status: { phase: "Pending", containerStatuses: [{ name: "c", image: "i", imageID: "", ready: false, restartCount: 0, started: true }] } }), false).ranBefore).toBe(true);
  });
});
