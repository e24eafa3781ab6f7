// Trainer ranks as the operator starts them: trainer/src/main.ts in child processes with the pod environment
// contract, on loopback, meeting through the real Redis. Checkpoints go to a local directory or to the local S3.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, expect } from "vitest";
import { EXIT, POD_ENV } from "@gantry/crds";
import { REPO_ROOT, type ClusterEnv } from "./cluster-env.js";
import { writeTokenDataset } from "./token-dataset.js";

const MAIN = join(REPO_ROOT, "trainer", "src", "main.ts");

/** One job as the trainer sees it: the same uid across attempts, so a new attempt resumes the old one's run. */
export interface TrainerRun {
  name: string;
  uid: string;
  world: number;
  /** A local directory (handed over as a file:// URI) or an s3:// URI. */
  ckpt: string;
  spec: unknown;
}

export interface RankExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr together, for failure messages and log lines. */
  output: string;
}

export interface StartOptions {
  logLevel?: string;
  /** Hand the ranks the cluster's S3 endpoint and credentials (for S3 checkpoints, bases or teachers). */
  s3?: boolean;
}

/** Starts and awaits trainer ranks; `dir` holds their termination logs. */
export class TrainerProcesses {
  constructor(
    private readonly env: ClusterEnv,
    readonly dir: string,
  ) {}

  /** A new job `name` of `world` ranks checkpointing under `dir`/`name`/ckpt. */
  run(name: string, world: number, spec: unknown): TrainerRun {
    return { name, uid: `${name}-${Date.now()}`, world, ckpt: join(this.dir, name, "ckpt"), spec };
  }

  /** The file a rank writes its one-line exit reason to. */
  terminationLog(run: TrainerRun, attempt: number, rank: number): string {
    return join(this.dir, `${run.name}-${attempt}-${rank}.termination`);
  }

  /** Starts every rank of one attempt. */
  start(run: TrainerRun, attempt: number, options: StartOptions = {}): ChildProcess[] {
    const s3 = options.s3
      ? { [POD_ENV.s3Endpoint]: this.env.S3_ENDPOINT, [POD_ENV.s3Region]: this.env.S3_REGION, [POD_ENV.s3AccessKeyId]: this.env.S3_ACCESS_KEY, [POD_ENV.s3SecretAccessKey]: this.env.S3_SECRET_KEY }
      : {};
    return Array.from({ length: run.world }, (_, rank) =>
      spawn(process.execPath, ["--import", "tsx", MAIN], {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          PATH: process.env["PATH"],
          GANTRY_LOG_LEVEL: options.logLevel ?? "warn",
          GANTRY_TERMINATION_LOG: this.terminationLog(run, attempt, rank),
          [POD_ENV.jobName]: run.name,
          [POD_ENV.jobNamespace]: "test",
          [POD_ENV.jobUid]: run.uid,
          [POD_ENV.attempt]: String(attempt),
          [POD_ENV.worldSize]: String(run.world),
          [POD_ENV.rankBase]: String(rank),
          [POD_ENV.podIp]: "127.0.0.1",
          [POD_ENV.masterPort]: "0",
          [POD_ENV.checkpointUri]: run.ckpt.startsWith("s3://") ? run.ckpt : pathToFileURL(run.ckpt).href,
          [POD_ENV.redisUrl]: this.env.REDIS_URL,
          ...s3,
          [POD_ENV.spec]: JSON.stringify(run.spec),
        },
      }),
    );
  }

  /** Runs one attempt to its end and expects every rank to exit with success; returns their exits, rank order. */
  async finish(run: TrainerRun, attempt: number, options: StartOptions = {}): Promise<RankExit[]> {
    const results = await Promise.all(this.start(run, attempt, options).map(exited));
    for (const r of results) expect(r.code, r.output).toBe(EXIT.success);
    return results;
  }
}

/** Collects a rank's output from now on and resolves when it exits. */
export function exited(p: ChildProcess): Promise<RankExit> {
  let output = "";
  p.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  p.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => p.on("exit", (code, signal) => resolve({ code, signal, output })));
}

/** Resolves once the rank has logged (at info) that it finished `step`: a way to stop a run mid-way. */
export function stepLogged(p: ChildProcess | undefined, step: number): Promise<void> {
  const line = new RegExp(`"message":"step".*"step":${step}\\b`);
  return new Promise((resolve) => p?.stdout?.on("data", (d: Buffer) => line.test(d.toString()) && resolve()));
}

export interface TrainerTestbed {
  /** file:// URI of the token dataset. */
  readonly source: string;
  readonly trainers: TrainerProcesses;
}

/** For one test file: a temporary directory with a token dataset of `docs` documents, and trainer ranks over it. */
export function trainerTestbed(env: ClusterEnv, prefix: string, docs: number): TrainerTestbed {
  let dir = "";
  const bed = { source: "", trainers: undefined as unknown as TrainerProcesses };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    bed.source = pathToFileURL(await writeTokenDataset(dir, docs)).href;
    bed.trainers = new TrainerProcesses(env, dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return bed;
}
