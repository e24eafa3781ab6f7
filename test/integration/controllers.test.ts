// The controller-manager runs: owner-reference garbage collection and namespace service accounts work.
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freshNamespace, kubeConfig, type TestNamespace } from "../support/kube.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const core = kubeConfig(env).makeApiClient(CoreV1Api);
let ns: TestNamespace;

beforeAll(async () => {
  ns = await freshNamespace(kubeConfig(env), "gc");
});
afterAll(async () => {
  await ns?.delete();
});

describe("the controller-manager", () => {
  it("creates the default ServiceAccount in a new namespace", async () => {
    const sa = await waitFor("the default ServiceAccount", () => core.readNamespacedServiceAccount({ name: "default", namespace: ns.name }), () => true);
    expect(sa.metadata?.name).toBe("default");
  });

  it("garbage-collects dependents when their owner is deleted", async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: "owner" }, data: { a: "1" } } });
    await core.createNamespacedConfigMap({
      namespace: ns.name,
      body: {
        metadata: { name: "dependent", ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata?.uid ?? "" }] },
        data: { b: "2" },
      },
    });
    await core.deleteNamespacedConfigMap({ name: "owner", namespace: ns.name });
    const left = await waitFor(
      "the dependent ConfigMap to be collected",
      () => core.listNamespacedConfigMap({ namespace: ns.name, fieldSelector: "metadata.name=dependent" }),
      (l) => l.items.length === 0,
      { timeoutMs: 60_000 },
    );
    expect(left.items).toEqual([]);
  });
});
