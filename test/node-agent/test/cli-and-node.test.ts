import { describe, expect, it } from "vitest";
import { UsageError, parseArgs, parseTaint } from "../cli-args.js";
import { defaultIpBase } from "../loopback-ips.js";
import { KWOK_ANNOTATION, leaseObject, nodeObject } from "../node-manifest.js";

describe("parseArgs", () => {
  it("reads every option", () => {
    const a = parseArgs(["--node", "dev-0", "--pool", "gpu-spot", "--gpus", "2", "--label", "a=b", "--taint", "k=v:NoSchedule", "--ip-base", "127.0.5.0", "--delete-node-on-exit", "--heartbeat-seconds", "2", "--log-level", "debug"]);
    expect(a).toMatchObject({ node: "dev-0", pool: "gpu-spot", gpus: 2, labels: { a: "b" }, taints: [{ key: "k", value: "v", effect: "NoSchedule" }], ipBase: "127.0.5.0", deleteNodeOnExit: true, heartbeatSeconds: 2, logLevel: "debug", hostIP: "127.0.0.1" });
  });

  it("defaults the pool and derives the IP base from the node name", () => {
    expect(parseArgs(["--node", "dev-1"])).toMatchObject({ pool: "gpu-a100", ipBase: defaultIpBase("dev-1") });
  });

  it.each([[[]], [["--node", "Bad_Name"]], [["--node", "n", "--pool", "tpu"]], [["--node", "n", "--gpus", "-1"]], [["--node", "n", "--ip-base", "10.0.0.0"]], [["--node", "n", "--bogus", "1"]], [["--node"]]])("rejects %j", (argv) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
  });

  it("parses taints with and without a value", () => {
    expect(parseTaint("gantry.dev/spot-reclaim=true:NoExecute")).toEqual({ key: "gantry.dev/spot-reclaim", value: "true", effect: "NoExecute" });
    expect(parseTaint("dedicated:NoSchedule")).toEqual({ key: "dedicated", effect: "NoSchedule" });
    expect(() => parseTaint("k=v")).toThrow(UsageError);
  });
});

describe("nodeObject", () => {
  const now = new Date("2026-01-01T00:00:00Z");

  it("looks like nodes.sh's pool but is never KWOK's", () => {
    const n = nodeObject({ name: "dev-0", pool: "gpu-spot", gpus: 2, hostIP: "127.0.0.1" }, now);
    expect(n.metadata?.annotations?.[KWOK_ANNOTATION]).toBeUndefined();
    expect(n.metadata?.labels).toMatchObject({ "gantry.dev/pool": "gpu-spot", "gantry.dev/spot": "true", "gantry.dev/node-agent": "true", "kubernetes.io/hostname": "dev-0", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB" });
    expect(n.metadata?.labels?.["type"]).not.toBe("kwok");
    expect(n.spec?.taints).toEqual([{ key: "gantry.dev/spot", value: "true", effect: "NoSchedule" }]);
    expect(n.status?.capacity).toMatchObject({ "nvidia.com/gpu": "2", cpu: "96" });
    expect(n.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "True", reason: "KubeletReady" });
  });

  it("gives a cpu node no GPUs and no GPU product label", () => {
    const n = nodeObject({ name: "c", pool: "cpu", hostIP: "127.0.0.1", taints: [{ key: "x", effect: "NoSchedule" }] }, now);
    expect(n.status?.capacity?.["nvidia.com/gpu"]).toBe("0");
    expect(n.metadata?.labels?.["nvidia.com/gpu.product"]).toBeUndefined();
    expect(n.spec?.taints).toEqual([{ key: "x", effect: "NoSchedule" }]);
  });

  it("makes a Lease held by the node and owned by it, with a microsecond renew time", () => {
    const l = leaseObject("dev-0", "uid-1", now, 40);
    expect(l.spec).toMatchObject({ holderIdentity: "dev-0", leaseDurationSeconds: 40 });
    expect(l.metadata?.ownerReferences).toEqual([{ apiVersion: "v1", kind: "Node", name: "dev-0", uid: "uid-1" }]);
    expect(JSON.stringify(l.spec?.renewTime)).toBe('"2026-01-01T00:00:00.000000Z"');
  });
});
