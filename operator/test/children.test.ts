// The pods, Service and PDB a job owns: the environment contract, credentials by reference, hardening.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { parseJob, POD_ENV, type LLMTrainingJob } from "@gantry/crds";
import { gangPdb, headlessService, workerPod, type ChildDefaults } from "../src/core/children.js";

const defaults: ChildDefaults = { trainerImage: "gantry/trainer:dev", redisUrl: "redis://redis.gantry:6379/0", s3Endpoint: "http://s3.gantry:7070", checkpointBase: "s3://ckpt/" };
const ref = { name: "gpt2-small", namespace: "research", uid: "0f0e-uid" };

function example(file: string): LLMTrainingJob {
  const r = parseJob(parseYaml(readFileSync(join(import.meta.dirname, "..", "..", "examples", file), "utf8")));
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.job;
}

const envOf = (pod: ReturnType<typeof workerPod>) => new Map((pod.spec?.containers[0]?.env ?? []).map((e) => [e.name, e]));

describe("worker pods", () => {
  const job = example("gpt2-small-s3.yaml");
  const pod = workerPod(job, ref, 3, 5, 8, defaults);

  it("are named, labelled and owned deterministically", () => {
    expect(pod.metadata?.name).toBe("gpt2-small-3-5");
    expect(pod.metadata?.labels).toMatchObject({ "gantry.dev/job": "gpt2-small", "gantry.dev/job-uid": "0f0e-uid", "gantry.dev/attempt": "3", "gantry.dev/worker": "5" });
    expect(pod.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: "LLMTrainingJob", uid: "0f0e-uid", controller: true })]);
    expect(pod.spec?.hostname).toBe("gpt2-small-3-5");
    expect(pod.spec?.subdomain).toBe("gpt2-small");
    expect(pod.metadata?.annotations).toMatchObject({ "cluster-autoscaler.kubernetes.io/safe-to-evict": "false", "karpenter.sh/do-not-disrupt": "true" });
  });

  it("carry the rank, world size and rendezvous address", () => {
    const env = envOf(pod);
    expect(env.get(POD_ENV.worldSize)?.value).toBe("64");
    expect(env.get(POD_ENV.localWorldSize)?.value).toBe("8");
    expect(env.get(POD_ENV.rankBase)?.value).toBe("40");
    expect(env.get(POD_ENV.workerIndex)?.value).toBe("5");
    expect(env.get(POD_ENV.attempt)?.value).toBe("3");
    expect(env.get(POD_ENV.masterAddr)?.value).toBe("gpt2-small-3-0.gpt2-small.research.svc");
    expect(env.get(POD_ENV.podIp)?.valueFrom?.fieldRef?.fieldPath).toBe("status.podIP");
    expect(JSON.parse(env.get(POD_ENV.spec)?.value ?? "{}")).toEqual(JSON.parse(JSON.stringify(job.spec)));
    expect(env.get(POD_ENV.checkpointUri)?.value).toBe("s3://checkpoints/gpt2-small");
  });

  it("take credentials only from Secrets", () => {
    const env = envOf(pod);
    expect(env.get(POD_ENV.s3AccessKeyId)).toEqual({ name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "corpora-s3", key: "AWS_ACCESS_KEY_ID" } } });
    expect(env.get(POD_ENV.s3SecretAccessKey)?.valueFrom?.secretKeyRef?.name).toBe("corpora-s3");
    expect(env.get(POD_ENV.redisUrl)?.valueFrom?.secretKeyRef).toEqual({ name: "gantry-redis", key: "url" });
    for (const name of [POD_ENV.s3AccessKeyId, POD_ENV.s3SecretAccessKey, POD_ENV.redisUrl]) {
      expect(env.get(name)?.value).toBeUndefined();
      expect(env.get(name)?.valueFrom?.secretKeyRef).toBeDefined();
    }
  });

  it("request their GPUs, CPU and memory, and follow the scheduling spec", () => {
    const c = pod.spec?.containers[0];
    expect(c?.resources?.limits).toEqual({ cpu: "64", memory: "512Gi", "nvidia.com/gpu": "8" });
    expect(c?.resources?.requests).toEqual(c?.resources?.limits);
    expect(pod.spec?.nodeSelector).toEqual({ "gantry.dev/pool": "gpu-a100" });
    expect(pod.spec?.priorityClassName).toBe("training-high");
    expect(pod.spec?.terminationGracePeriodSeconds).toBe(300);
    expect(pod.spec?.restartPolicy).toBe("Never");
  });

  it("run as non-root with a read-only root filesystem and no capabilities", () => {
    expect(pod.spec?.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(pod.spec?.containers[0]?.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    expect(pod.spec?.automountServiceAccountToken).toBe(false);
  });

  it("use the operator's defaults where the job names none, and no command unless the operator sets one", () => {
    const tiny = example("tiny-cpu.yaml");
    const p = workerPod(tiny, { name: "tiny", namespace: "default", uid: "u" }, 0, 0, 1, defaults);
    const env = envOf(p);
    expect(p.spec?.containers[0]?.image).toBe("gantry/trainer:dev");
    expect(p.spec?.containers[0]?.command).toBeUndefined();
    expect(p.spec?.containers[0]?.resources?.limits).not.toHaveProperty("nvidia.com/gpu");
    expect(env.get(POD_ENV.redisUrl)?.value).toBe("redis://redis.gantry:6379/0");
    expect(env.get(POD_ENV.checkpointUri)?.value).toBe("s3://ckpt/default/tiny");
    expect(env.get(POD_ENV.worldSize)?.value).toBe("1");
  });

  it("copy spot tolerations from the elastic example", () => {
    const p = workerPod(example("elastic-spot.yaml"), ref, 0, 0, 4, defaults);
    expect(p.spec?.tolerations).toEqual([{ key: "gantry.dev/spot", operator: "Equal", value: "true", effect: "NoSchedule" }]);
  });
});

describe("the Service and PDB", () => {
  it("select the job's pods by uid", () => {
    const svc = headlessService(ref);
    expect(svc.spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true, selector: { "gantry.dev/job-uid": "0f0e-uid" } });
    const pdb = gangPdb(ref, 8);
    expect(pdb.spec).toEqual({ minAvailable: 8, selector: { matchLabels: { "gantry.dev/job-uid": "0f0e-uid" } } });
  });
});
