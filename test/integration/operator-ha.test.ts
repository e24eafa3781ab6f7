// Leader election between two operator replicas, and the operator's RBAC: enough to run a job, nothing more.
import { join } from "node:path";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { LeaderElector } from "../../operator/src/controller/leader.js";
import { createLogger } from "../../operator/src/log.js";
import { REPO_ROOT } from "../support/cluster-env.js";
import { freshNamespace, kubeConfig, kubectl, type TestNamespace } from "../support/kube.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const kc = kubeConfig(env);
const log = createLogger("error");
let ns: TestNamespace;

beforeAll(async () => {
  ns = await freshNamespace(kc, "ha");
});
afterAll(async () => {
  await ns?.delete();
});

describe("leader election", () => {
  it("lets one replica lead and hands over within the lease duration when it stops", async () => {
    const make = (identity: string) => new LeaderElector({ kc, namespace: ns.name, name: "gantry-operator", identity, leaseSeconds: 2, renewSeconds: 0.5, log });
    const a = make("replica-a");
    const b = make("replica-b");
    const led: string[] = [];
    a.run(() => led.push("a"), () => led.push("a-lost"));
    await waitFor("replica a to lead", () => a.isLeader(), (x) => x);
    b.run(() => led.push("b"), () => led.push("b-lost"));
    await new Promise((r) => setTimeout(r, 1500));
    expect(b.isLeader()).toBe(false);
    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: "gantry-operator", namespace: ns.name });
    expect(lease.spec?.holderIdentity).toBe("replica-a");
    a.stop();
    const stoppedAt = Date.now();
    await waitFor("replica b to take over", () => b.isLeader(), (x) => x, { timeoutMs: 10_000 });
    expect(Date.now() - stoppedAt).toBeLessThan(2000 + 1500);
    expect(led).toEqual(["a", "b"]);
    b.stop();
  });

  it("a replica that stops gracefully hands the lease back, so the standby leads at its next renew", async () => {
    const make = (identity: string) => new LeaderElector({ kc, namespace: ns.name, name: "gantry-release", identity, leaseSeconds: 30, renewSeconds: 0.5, log });
    const a = make("replica-a");
    const b = make("replica-b");
    a.run(() => undefined, () => undefined);
    await waitFor("replica a to lead", () => a.isLeader(), (x) => x);
    b.run(() => undefined, () => undefined);
    await a.release();
    expect(a.isLeader()).toBe(false);
    // b takes over well inside the 30 s the lease would otherwise have needed to expire.
    await waitFor("replica b to take over", () => b.isLeader(), (x) => x, { timeoutMs: 10_000 });
    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: "gantry-release", namespace: ns.name });
    expect(lease.spec?.holderIdentity).toBe("replica-b");
    b.stop();
  });
});

describe("the operator's RBAC", () => {
  it("allows what the operator does and denies Secrets and everything else", () => {
    const namespace = kubectl(env, ["apply", "-f", "-"], "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: gantry-system\n");
    expect(namespace.code).toBe(0);
    expect(kubectl(env, ["apply", "-f", join(REPO_ROOT, "operator", "deploy", "rbac.yaml")]).code).toBe(0);
    const as = "system:serviceaccount:gantry-system:gantry-operator";
    const can = (...args: string[]) => kubectl(env, ["auth", "can-i", ...args, "--as", as]).stdout.trim();
    expect(can("create", "pods", "-n", ns.name)).toBe("yes");
    expect(can("delete", "pods", "-n", ns.name)).toBe("yes");
    expect(can("update", "llmtrainingjobs.gantry.dev", "--subresource=status", "-n", ns.name)).toBe("yes");
    expect(can("watch", "nodes")).toBe("yes");
    expect(can("update", "leases.coordination.k8s.io", "-n", "gantry-system")).toBe("yes");
    expect(can("get", "secrets", "-n", ns.name)).toBe("no");
    expect(can("update", "llmtrainingjobs.gantry.dev", "-n", ns.name)).toBe("no");
    expect(can("delete", "nodes")).toBe("no");
    expect(can("update", "leases.coordination.k8s.io", "-n", ns.name)).toBe("no");
    expect(can("create", "pods", "--subresource=exec", "-n", ns.name)).toBe("no");
  });
});
