// `make demo`: the Gantry story on this machine. A 2-worker job trains on spot GPU nodes run by the local node agent
// (real trainer processes), a node is reclaimed part-way, the job resumes from its checkpoint and succeeds; then it
// prints where the checkpoint and the loss plot are and samples some text from the model.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { openStore, prepareDataset, readManifest, tokenizerFor } from "@gantry/dataloader";
import { parse as parseYaml } from "yaml";
import { clusterUp, REPO_ROOT } from "../test/support/cluster-env.js";
import { kubeConfig, kubectl } from "../test/support/kube.js";
import { startNodeAgent, type NodeAgentProcess } from "../test/support/node-agent.js";
import { Nodes } from "../test/support/nodes.js";
import { readS3Object, s3Client } from "../test/support/services.js";
import { writeCorpus } from "../test/support/corpus.js";
import { waitFor } from "../test/support/wait.js";

const NAMESPACE = "gantry-demo";
const JOB = "tiny";
const DATASET = "datasets/licenses";
const OUT = join(REPO_ROOT, "gantry-runs", "demo");
const say = (s: string) => console.log(`\n\u001b[1m==> ${s}\u001b[0m`);
const started = Date.now();

const NODES = ["demo-spot-0", "demo-spot-1", "demo-spot-2"] as const;
const children: ChildProcess[] = [];
const agents: NodeAgentProcess[] = [];
let removeNodes: () => Promise<void> = () => Promise.resolve();

async function cleanup(): Promise<void> {
  for (const c of children) c.kill("SIGTERM");
  for (const a of agents) await a.stop().catch(() => undefined);
  await removeNodes();
}

/** The corpus: Debian's license texts (base-files, on every Debian machine), else a generated one. */
function corpusFiles(dir: string): string[] {
  const licenses = "/usr/share/common-licenses";
  const files: string[] = [];
  if (existsSync(licenses)) {
    for (const name of readdirSync(licenses).sort()) {
      let text: string;
      try {
        text = readFileSync(join(licenses, name), "utf8");
      } catch {
        continue; // a folder or an unreadable entry
      }
      if (text.length < 200) continue;
      const f = join(dir, `${name}.txt`);
      writeFileSync(f, text);
      files.push(f);
    }
  }
  return files.length > 0 ? files : writeCorpus(dir, 200);
}

async function main(): Promise<void> {
  say("1/7 the local control plane, Redis and S3 (test/cluster/cluster.sh)");
  const env = clusterUp();
  const kc = kubeConfig(env);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const s3 = s3Client(env);
  const kubectlEnv = { ...process.env, KUBECONFIG: env.KUBECONFIG, PATH: `${env.GANTRY_BIN_DIR}:${process.env["PATH"] ?? ""}` };

  say(`2/7 a corpus as token shards on S3 (s3://${env.S3_BUCKET}/${DATASET})`);
  const dataUri = `s3://${env.S3_BUCKET}/${DATASET}`;
  const store = openStore(dataUri, { client: s3 });
  const existing = await readManifest(store).catch(() => undefined);
  if (existing) console.log(`   already prepared: ${existing.shards.length} shards`);
  // The same texts stay on disk for a local `gantry-train` run afterwards.
  const corpusDir = join(OUT, "corpus");
  rmSync(corpusDir, { recursive: true, force: true });
  mkdirSync(corpusDir, { recursive: true });
  const files = corpusFiles(corpusDir);
  if (!existing) {
    const m = await prepareDataset(store, { files, format: "text", textField: "text", tokenizer: tokenizerFor("bytes"), shardBytes: 64 * 1024 });
    console.log(`   ${files.length} documents -> ${m.shards.length} shards, ${m.shards.reduce((a, s) => a + s.tokens, 0)} tokens`);
  }

  say("3/7 the operator (installs the CRD) and two spot GPU nodes run by the local node agent");
  const operator = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "operator", "src", "cli", "operator.ts")], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "ignore", "inherit"],
    env: {
      ...process.env,
      KUBECONFIG: env.KUBECONFIG,
      GANTRY_INSTALL_CRD: "true",
      GANTRY_WATCH_NAMESPACES: NAMESPACE,
      GANTRY_LEADER_ELECTION: "false",
      GANTRY_HTTP_PORT: "38180",
      GANTRY_REDIS_URL: env.REDIS_URL,
      GANTRY_S3_ENDPOINT: env.S3_ENDPOINT,
      GANTRY_CHECKPOINT_BASE: `s3://${env.S3_BUCKET}/checkpoints`,
      GANTRY_LOG_LEVEL: "warn",
    },
  });
  children.push(operator);
  await waitFor("the operator to be ready", () => fetch("http://127.0.0.1:38180/readyz").then((r) => r.ok, () => false), (ok) => ok, { timeoutMs: 90_000 });
  // A node reclaimed by an earlier run keeps its taint in the API: start every run from fresh Node objects.
  removeNodes = async () => {
    for (const name of NODES) await core.deleteNode({ name }).catch(() => undefined);
    await waitFor("the demo's old nodes to go", () => core.listNode(), (l) => !l.items.some((n) => (NODES as readonly string[]).includes(n.metadata?.name ?? "")), { timeoutMs: 60_000 });
  };
  await removeNodes();
  for (const node of NODES.slice(0, 2)) agents.push(await startNodeAgent(env, { node, pool: "gpu-spot", gpus: 1 }));

  say(`4/7 kubectl apply -f examples/tiny-job.yaml (namespace ${NAMESPACE})`);
  kubectl(env, ["create", "namespace", NAMESPACE]);
  kubectl(env, ["-n", NAMESPACE, "delete", "llmjob", JOB, "--ignore-not-found", "--wait=true"]);
  // A rerun starts from scratch rather than resuming the previous run's checkpoints.
  const prefix = `checkpoints/${NAMESPACE}/${JOB}/`;
  const old: string[] = [];
  for await (const o of s3.listObjectsV2(env.S3_BUCKET, prefix, true)) if (o.name) old.push(o.name);
  if (old.length > 0) await s3.removeObjects(env.S3_BUCKET, old);
  kubectl(env, ["-n", NAMESPACE, "delete", "secret", "s3-credentials", "--ignore-not-found"]);
  kubectl(env, ["-n", NAMESPACE, "create", "secret", "generic", "s3-credentials", `--from-literal=AWS_ACCESS_KEY_ID=${env.S3_ACCESS_KEY}`, `--from-literal=AWS_SECRET_ACCESS_KEY=${env.S3_SECRET_KEY}`]);
  const job = parseYaml(readFileSync(join(REPO_ROOT, "examples", "tiny-job.yaml"), "utf8")) as { metadata: Record<string, unknown>; spec: { data: { source: string }; scheduling: { nodeSelector: Record<string, string> } } };
  job.metadata["namespace"] = NAMESPACE;
  job.spec.data.source = dataUri;
  // The cluster's KWOK nodes are simulated and cannot run a process: keep the job on the agent's nodes.
  job.spec.scheduling.nodeSelector["gantry.dev/node-agent"] = "true";
  const applied = kubectl(env, ["apply", "-f", "-"], JSON.stringify(job));
  if (applied.code !== 0) throw new Error(`kubectl apply failed: ${applied.stderr}`);

  say("5/7 kubectl get llmjob -w");
  const watch = spawn(join(env.GANTRY_BIN_DIR, "kubectl"), ["-n", NAMESPACE, "get", "llmjob", "-w"], { env: kubectlEnv, stdio: ["ignore", "inherit", "inherit"] });
  children.push(watch);
  const read = async () => (await custom.getNamespacedCustomObject({ group: "gantry.dev", version: "v1alpha1", namespace: NAMESPACE, plural: "llmtrainingjobs", name: JOB })) as { status?: { phase?: string; restarts?: { preemption: number; failure: number }; progress?: { step?: number; lastCheckpoint?: { step: number; uri: string } } } };
  await waitFor("the first checkpoint", read, (j) => (j.status?.progress?.lastCheckpoint?.step ?? 0) >= 40 || j.status?.phase === "Failed", { timeoutMs: 900_000, intervalMs: 1000 });

  const pods = await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `gantry.dev/job=${JOB}` });
  const victim = pods.items.find((p) => p.metadata?.labels?.["gantry.dev/worker"] === "1" && !p.metadata.deletionTimestamp)?.spec?.nodeName;
  if (victim) {
    say(`6/7 spot reclaim: node ${victim} gets the gantry.dev/spot-reclaim NoExecute taint; a new spot node joins`);
    await new Nodes(kc).reclaimSpot(victim);
    agents.push(await startNodeAgent(env, { node: NODES[2], pool: "gpu-spot", gpus: 1 }));
  }
  const done = await waitFor("the job to finish", read, (j) => j.status?.phase === "Succeeded" || j.status?.phase === "Failed", { timeoutMs: 1_200_000, intervalMs: 1000 });
  watch.kill("SIGTERM");

  say("7/7 the result");
  const history = JSON.parse((await readS3Object(s3, env.S3_BUCKET, `${prefix}losses.json`))?.toString("utf8") ?? '{"train":[]}') as { train: { step: number; loss: number }[] };
  const first = history.train[0];
  const last = history.train.at(-1);
  mkdirSync(OUT, { recursive: true });
  const svg = await readS3Object(s3, env.S3_BUCKET, `${prefix}loss.svg`);
  if (svg) writeFileSync(join(OUT, "loss.svg"), svg);
  console.log(`   phase:        ${done.status?.phase}  (restarts: ${JSON.stringify(done.status?.restarts)})`);
  console.log(`   loss:         ${first?.loss.toFixed(3)} at step ${first?.step} -> ${last?.loss.toFixed(3)} at step ${last?.step}`);
  console.log(`   checkpoint:   ${done.status?.progress?.lastCheckpoint?.uri ?? `s3://${env.S3_BUCKET}/${prefix}`}`);
  console.log(`   loss plot:    ${join(OUT, "loss.svg")}  (also s3://${env.S3_BUCKET}/${prefix}loss.svg)`);
  const ckpt = `s3://${env.S3_BUCKET}/${prefix.replace(/\/$/, "")}`;
  const s3Env = { ...process.env, S3_ENDPOINT: env.S3_ENDPOINT, AWS_ACCESS_KEY_ID: env.S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: env.S3_SECRET_KEY };
  console.log(`   text from the model (npx tsx trainer/src/cli/generate.ts --checkpoint ${ckpt} --prompt "The"):`);
  const sample = spawnSync(process.execPath, ["--import", "tsx", join(REPO_ROOT, "trainer", "src", "cli", "generate.ts"), "--checkpoint", ckpt, "--prompt", "The ", "--tokens", "160"], { cwd: REPO_ROOT, env: s3Env, encoding: "utf8" });
  console.log(`   | ${sample.stdout.trim().replace(/\n/g, "\n   | ")}`);
  const local = join(OUT, "local-job.yaml");
  writeFileSync(local, `apiVersion: gantry.dev/v1alpha1\nkind: LLMTrainingJob\nmetadata: {name: tiny-local}\nspec:\n  model: {preset: tiny, contextLength: 64}\n  data: {source: "file://${corpusDir}", format: text, tokenizer: bytes}\n  training: {steps: 100, globalBatchSize: 8, microBatchSize: 8, optimizer: {lr: 0.003}, schedule: {warmupSteps: 10}}\n  checkpointing: {everySteps: 25}\n`);
  console.log(`\n   Train locally, no Kubernetes, Redis or S3: npx tsx trainer/src/cli/train.ts --config ${local} --out ${join(OUT, "local")}`);
  console.log(`   The cluster keeps running (make cluster-down stops it). Demo took ${Math.round((Date.now() - started) / 1000)} s.`);
  if (done.status?.phase !== "Succeeded") process.exitCode = 1;
}

try {
  await main();
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
