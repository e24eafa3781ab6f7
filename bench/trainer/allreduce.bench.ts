// bench-trainer allreduce: ring all-reduce bus bandwidth across 2 and 4 local ranks, each rank its own process
// (child_process.fork under tsx), against raw loopback TCP between two processes measured in the same run.
// Bus bandwidth = 2(N−1)/N · bytes / time: the bytes each rank must send, per second (nccl-tests' convention), so
// it is directly comparable with one TCP stream's throughput.
import { fork, type ChildProcess } from "node:child_process";
import { createServer, connect, type AddressInfo } from "node:net";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { DEFAULT_BUCKET_BYTES, connectCollective } from "@gantry/trainer";
import { IpcAddressBook, relayAddressBooks } from "../ipc-address-book.js";
import { median } from "../stats.js";
import { printResult, printTable } from "../table.js";

// All-reduce bus bandwidth at least 70% of raw loopback TCP carrying the same traffic: N processes in a ring, each
// streaming to the next while draining the previous (one-way throughput between two idle processes is shown too).
const TARGET_RATIO = 0.7;
const BYTES = Number(process.env["ALLREDUCE_MB"] ?? 64) * 1024 * 1024;
const ROUNDS = Number(process.env["ALLREDUCE_ROUNDS"] ?? 8);
const BUCKETS = (process.env["ALLREDUCE_BUCKETS_MB"] ?? "4,16,64").split(",").map((m) => Number(m) * 1024 * 1024);
const PIECE_BYTES = Number(process.env["ALLREDUCE_PIECE_KB"] ?? 1024) * 1024;
const REPEATS = Number(process.env["ALLREDUCE_REPEATS"] ?? 3);
const SELF = fileURLToPath(import.meta.url);

type ToParent = { kind: "result"; rank: number; seconds: number; check: number } | { kind: "raw"; seconds: number; bytes: number } | { kind: "port"; port: number };

const send = (m: ToParent) => process.send?.(m);
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

async function rankMain(rank: number, worldSize: number, bucketBytes: number): Promise<void> {
  const dbg = (s: string) => process.env["BENCH_DEBUG"] && console.error(`rank ${rank}: ${s}`);
  const c = await connectCollective({ rank, worldSize, book: new IpcAddressBook(), advertiseHost: "127.0.0.1", bucketBytes, pieceBytes: PIECE_BYTES, peerTimeoutMs: 60_000 });
  dbg("connected");
  const data = new Float32Array(BYTES / 4).fill(1e-20 * (rank + 1));
  await c.allReduceSum([data]); // warm-up: connections, JIT, page faults
  dbg("warm");
  await c.barrier();
  const start = process.hrtime.bigint();
  dbg("barrier done");
  for (let r = 0; r < ROUNDS; r++) {
    await c.allReduceSum([data]);
    dbg(`round ${r}`);
  }
  const s = seconds(start);
  send({ kind: "result", rank, seconds: s, check: data[12345] ?? 0 });
  await c.close();
  // The IPC listener would keep this process alive.
  process.disconnect();
}

/** Raw: one process writes BYTES · ROUNDS through one loopback socket with backpressure, the other drains it. */
async function rawReceiver(): Promise<void> {
  const total = BYTES * ROUNDS;
  const server = createServer((socket) => {
    let got = 0;
    let start: bigint | undefined;
    socket.on("data", (chunk: Buffer) => {
      start ??= process.hrtime.bigint();
      got += chunk.length;
      if (got >= total) {
        send({ kind: "raw", seconds: seconds(start), bytes: got });
        socket.end();
        server.close();
      }
    });
  });
  server.listen(0, "127.0.0.1", () => send({ kind: "port", port: (server.address() as AddressInfo).port }));
}

async function rawSender(port: number): Promise<void> {
  const chunk = Buffer.alloc(4 * 1024 * 1024, 1);
  const socket = connect({ port, host: "127.0.0.1", noDelay: true });
  await new Promise((r) => socket.once("connect", r));
  for (let sent = 0; sent < BYTES * ROUNDS; sent += chunk.length) {
    if (!socket.write(chunk)) await new Promise((r) => socket.once("drain", r));
  }
  socket.end();
}

/** Raw ring: each process streams `bytes` to rank + 1 while draining rank − 1: the all-reduce's traffic, no collective. */
async function rawRingRank(rank: number, n: number, bytes: number): Promise<void> {
  const book = new IpcAddressBook();
  let received = 0;
  let resolveIn: () => void = () => {};
  const inDone = new Promise<void>((r) => (resolveIn = r));
  const server = createServer((socket) => {
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received >= bytes) resolveIn();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  await book.register(rank, `127.0.0.1:${(server.address() as AddressInfo).port}`);
  let entries: Record<string, string> = {};
  while (Object.keys(entries).length < n) {
    await new Promise((r) => setTimeout(r, 20));
    entries = await book.entries();
  }
  const [host, port] = (entries[String((rank + 1) % n)] ?? "").split(":");
  const socket = connect({ host: host ?? "127.0.0.1", port: Number(port), noDelay: true });
  await new Promise((r) => socket.once("connect", r));
  const chunk = Buffer.alloc(256 * 1024, 1);
  const start = process.hrtime.bigint();
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!socket.write(chunk)) await new Promise((r) => socket.once("drain", r));
  }
  await inDone;
  send({ kind: "result", rank, seconds: seconds(start), check: 0 });
  // Every rank must have drained its input before anyone closes.
  await new Promise((r) => setTimeout(r, 200));
  socket.destroy();
  server.close();
  process.disconnect();
}

function spawnChild(args: string[]): ChildProcess {
  // Under tsx the children need its loader; a bundled copy of this file runs as plain JavaScript.
  return fork(SELF, args, { execArgv: SELF.endsWith(".ts") ? ["--import", "tsx"] : [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

async function measureRaw(): Promise<number> {
  const receiver = spawnChild(["raw-recv"]);
  const port = await new Promise<number>((resolve) => receiver.on("message", (m: ToParent) => m.kind === "port" && resolve(m.port)));
  const result = new Promise<ToParent & { kind: "raw" }>((resolve) => receiver.on("message", (m: ToParent) => m.kind === "raw" && resolve(m)));
  spawnChild(["raw-send", String(port)]);
  const r = await result;
  return r.bytes / r.seconds;
}

async function measureRing(n: number, role: "rank" | "raw-ring", arg: number): Promise<{ seconds: number; check: number[] }> {
  const children = Array.from({ length: n }, (_, rank) => spawnChild([role, String(rank), String(n), String(arg)]));
  const stopRelay = relayAddressBooks(children);
  const results: (ToParent & { kind: "result" })[] = [];
  await new Promise<void>((resolve) => {
    for (const child of children) {
      child.on("message", (m: ToParent) => {
        if (m.kind === "result") {
          results.push(m);
          if (results.length === n) resolve();
        }
      });
    }
  });
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))));
  stopRelay();
  return { seconds: Math.max(...results.map((r) => r.seconds)), check: results.map((r) => r.check) };
}

async function main(): Promise<void> {
  const mib = (b: number) => b / 1024 / 1024;
  const oneWay = await measureRaw();
  const rows: Record<string, string | number>[] = [{ run: "raw TCP, one way, 2 processes", ranks: 2, bucket_MiB: "-", "GB/s per rank": oneWay / 1e9, "of raw ring": "-" }];
  const figures: Record<string, number> = { rawOneWayBytesPerS: oneWay };
  const identical: boolean[] = [];
  const ratios: Record<number, number> = {};
  // Raw and all-reduce runs alternate, REPEATS times each, and the medians are compared: a shared 2-core machine is noisy.
  for (const n of (process.env["ALLREDUCE_RANKS"] ?? "2,4").split(",").map(Number)) {
    const perRank = ((2 * (n - 1)) / n) * BYTES * ROUNDS;
    const raws: number[] = [];
    const rings = new Map<number, number[]>(BUCKETS.map((b) => [b, []]));
    for (let rep = 0; rep < REPEATS; rep++) {
      raws.push(perRank / (await measureRing(n, "raw-ring", perRank)).seconds);
      for (const bucket of BUCKETS) {
        const r = await measureRing(n, "rank", bucket);
        identical.push(r.check.every((v) => v === r.check[0]));
        rings.get(bucket)?.push(perRank / r.seconds);
      }
    }
    const raw = median(raws);
    figures[`rawRingBytesPerS_${n}ranks`] = raw;
    rows.push({ run: "raw TCP ring (same traffic)", ranks: n, bucket_MiB: "-", "GB/s per rank": raw / 1e9, "of raw ring": 1 });
    for (const bucket of BUCKETS) {
      const busbw = median(rings.get(bucket) ?? []);
      rows.push({ run: "ring all-reduce (bus bw)", ranks: n, bucket_MiB: mib(bucket), "GB/s per rank": busbw / 1e9, "of raw ring": busbw / raw });
      figures[`busBytesPerS_${n}ranks_${mib(bucket)}MiB`] = busbw;
      figures[`ratioToRawRing_${n}ranks_${mib(bucket)}MiB`] = busbw / raw;
      figures[`ratioToOneWay_${n}ranks_${mib(bucket)}MiB`] = busbw / oneWay;
      if (bucket === DEFAULT_BUCKET_BYTES) ratios[n] = busbw / raw;
    }
  }
  printTable(`All-reduce of ${mib(BYTES)} MiB float32, ${ROUNDS} rounds, median of ${REPEATS}, one process per rank, ${availableParallelism()} CPU cores (bus bw = 2(N-1)/N x bytes / time)`, rows);
  printResult({
    bench: "trainer-allreduce",
    bytes: BYTES,
    rounds: ROUNDS,
    repeats: REPEATS,
    defaultBucketBytes: DEFAULT_BUCKET_BYTES,
    cores: availableParallelism(),
    ...figures,
    meets: { ring2AtLeast70PctOfRawRing: (ratios[2] ?? 0) >= TARGET_RATIO, ring4AtLeast70PctOfRawRing: (ratios[4] ?? 0) >= TARGET_RATIO, identicalOnEveryRank: identical.every(Boolean) },
  });
}

const [role, ...args] = process.argv.slice(2);
if (role === "rank") await rankMain(Number(args[0]), Number(args[1]), Number(args[2]));
else if (role === "raw-ring") await rawRingRank(Number(args[0]), Number(args[1]), Number(args[2]));
else if (role === "raw-recv") await rawReceiver();
else if (role === "raw-send") await rawSender(Number(args[0]));
else await main();
