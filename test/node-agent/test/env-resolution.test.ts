import type { V1ConfigMap, V1Container, V1Pod, V1Secret } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { expandArgs, expandReferences, referencedObjects, resolveEnv } from "../env-resolution.js";

const pod: V1Pod = {
  metadata: { name: "job-0-1", namespace: "team", uid: "u-1", labels: { app: "a" }, annotations: { note: "n" } },
  spec: { nodeName: "agent-0", serviceAccountName: "sa", containers: [] },
};
const runtime = { podIP: "127.0.1.7", hostIP: "127.0.0.1" };
const b64 = (s: string) => Buffer.from(s).toString("base64");
const secret: V1Secret = { metadata: { name: "creds" }, data: { id: b64("AKIA"), key: b64("s3cret") } };
const cm: V1ConfigMap = { metadata: { name: "cfg" }, data: { mode: "fast" }, binaryData: { blob: b64("bytes") } };
const objects = { secrets: new Map([["creds", secret]]), configMaps: new Map([["cfg", cm]]) };
const none = { secrets: new Map<string, V1Secret>(), configMaps: new Map<string, V1ConfigMap>() };
const container = (c: Partial<V1Container>): V1Container => ({ name: "trainer", ...c });

describe("expandReferences", () => {
  it.each([
    ["$(A)-$(B)", "1-$(B)"],
    ["$$(A)", "$(A)"],
    ["$$", "$"],
    ["a$", "a$"],
    ["$(A", "$(A"],
    ["cost $5", "cost $5"],
    ["$(A)$(A)", "11"],
  ])("%s", (input, out) => {
    expect(expandReferences(input, { A: "1" })).toBe(out);
  });
});

describe("resolveEnv", () => {
  it("resolves values in order, with references to earlier variables only", () => {
    const r = resolveEnv(pod, container({ env: [{ name: "LATER", value: "$(FIRST)" }, { name: "FIRST", value: "1" }, { name: "AFTER", value: "$(FIRST)+" }] }), runtime, none);
    expect(r).toEqual({ ok: true, env: { LATER: "$(FIRST)", FIRST: "1", AFTER: "1+" } });
  });

  it("decodes Secret keys, reads ConfigMap data and binaryData, and takes envFrom with its prefix", () => {
    const r = resolveEnv(
      pod,
      container({
        envFrom: [{ prefix: "S_", secretRef: { name: "creds" } }, { configMapRef: { name: "cfg" } }],
        env: [
          { name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "creds", key: "id" } } },
          { name: "BLOB", valueFrom: { configMapKeyRef: { name: "cfg", key: "blob" } } },
          { name: "mode", value: "overridden" },
        ],
      }),
      runtime,
      objects,
    );
    expect(r).toEqual({ ok: true, env: { S_id: "AKIA", S_key: "s3cret", mode: "overridden", blob: "bytes", AWS_ACCESS_KEY_ID: "AKIA", BLOB: "bytes" } });
  });

  it("serves the downward API fields", () => {
    const paths = ["metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.podIP", "status.hostIP", "metadata.labels['app']", "metadata.annotations['note']"];
    const r = resolveEnv(pod, container({ env: paths.map((fieldPath, i) => ({ name: `F${i}`, valueFrom: { fieldRef: { fieldPath } } })) }), runtime, none);
    expect(r.ok && Object.values(r.env)).toEqual(["job-0-1", "team", "u-1", "agent-0", "sa", "127.0.1.7", "127.0.0.1", "a", "n"]);
  });

  it("leaves out optional references that are missing", () => {
    const r = resolveEnv(
      pod,
      container({
        envFrom: [{ secretRef: { name: "nope", optional: true } }],
        env: [
          { name: "A", valueFrom: { secretKeyRef: { name: "nope", key: "k", optional: true } } },
          { name: "B", valueFrom: { secretKeyRef: { name: "creds", key: "absent", optional: true } } },
          { name: "C", valueFrom: { configMapKeyRef: { name: "cfg", key: "absent", optional: true } } },
        ],
      }),
      runtime,
      objects,
    );
    expect(r).toEqual({ ok: true, env: {} });
  });

  it.each([
    [{ name: "T", valueFrom: { secretKeyRef: { name: "nope", key: "k" } } }, 'secret "nope" not found (env T)'],
    [{ name: "T", valueFrom: { secretKeyRef: { name: "creds", key: "k" } } }, "couldn't find key k in Secret team/creds (env T)"],
    [{ name: "T", valueFrom: { configMapKeyRef: { name: "nope", key: "k" } } }, 'configmap "nope" not found (env T)'],
    [{ name: "T", valueFrom: { configMapKeyRef: { name: "cfg", key: "k" } } }, "couldn't find key k in ConfigMap team/cfg (env T)"],
    [{ name: "T", valueFrom: { fieldRef: { fieldPath: "spec.priority" } } }, "unsupported fieldRef spec.priority (env T)"],
    [{ name: "T", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } }, "env T: resourceFieldRef is not supported by the local node agent"],
  ])("fails with CreateContainerConfigError: %j", (e, message) => {
    const r = resolveEnv(pod, container({ env: [e] }), runtime, objects);
    expect(r.ok).toBe(false);
    if (!r.ok) expect({ reason: r.error.reason, message: r.error.message, container: r.error.container }).toEqual({ reason: "CreateContainerConfigError", message, container: "trainer" });
  });

  it("fails on a missing envFrom Secret", () => {
    const r = resolveEnv(pod, container({ envFrom: [{ secretRef: { name: "gone" } }] }), runtime, objects);
    expect(r.ok ? "" : r.error.message).toBe('secret "gone" not found (envFrom)');
  });
});

describe("referencedObjects and expandArgs", () => {
  it("lists each Secret and ConfigMap once", () => {
    const c = container({
      envFrom: [{ secretRef: { name: "b" } }, { configMapRef: { name: "m" } }],
      env: [
        { name: "X", valueFrom: { secretKeyRef: { name: "a", key: "k" } } },
        { name: "Y", valueFrom: { secretKeyRef: { name: "b", key: "k" } } },
        { name: "Z", value: "plain" },
      ],
    });
    expect(referencedObjects(c)).toEqual({ secrets: ["a", "b"], configMaps: ["m"] });
  });

  it("expands args against the resolved environment", () => {
    expect(expandArgs(["--ip=$(POD_IP)", "$$(HOME)"], { POD_IP: "127.0.1.2" })).toEqual(["--ip=127.0.1.2", "$(HOME)"]);
    expect(expandArgs(undefined, {})).toBeUndefined();
  });
});
