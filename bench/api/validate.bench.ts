// bench-api: how fast the operator can validate jobs. parseJob (schema + cross-field rules) against the bare zod
// schema, interleaved in one run so machine noise hits both alike.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { LLMTrainingJob, parseJob } from "@gantry/crds";
import { printResult, printTable } from "../table.js";

const TARGET_JOBS_PER_SECOND = 5_000; // one core validates a 5,000-job cluster's worth of jobs per second
const TARGET_RULES_OVERHEAD = 1.5; // the cross-field rules may add at most 50% to the schema's cost

const dir = join(import.meta.dirname, "..", "..", "examples");
const manifests: unknown[] = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => parseYaml(readFileSync(join(dir, f), "utf8")));

function timeRound(fn: (m: unknown) => unknown, iterations: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(manifests[i % manifests.length]);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const schemaOnly = (m: unknown) => LLMTrainingJob.safeParse(m);
const full = (m: unknown) => parseJob(m);

for (let i = 0; i < 3; i++) {
  timeRound(schemaOnly, 2_000);
  timeRound(full, 2_000);
}

const ROUNDS = 7;
const PER_ROUND = 4_000;
const schemaTimes: number[] = [];
const fullTimes: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  schemaTimes.push(timeRound(schemaOnly, PER_ROUND));
  fullTimes.push(timeRound(full, PER_ROUND));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const schemaRate = PER_ROUND / median(schemaTimes);
const fullRate = PER_ROUND / median(fullTimes);
const overhead = schemaRate / fullRate;

printTable(`Validating the ${manifests.length} example jobs, ${ROUNDS} interleaved rounds of ${PER_ROUND} (median)`, [
  { check: "zod schema only", "jobs/s": Math.round(schemaRate), "µs/job": 1e6 / schemaRate },
  { check: "parseJob (schema + rules)", "jobs/s": Math.round(fullRate), "µs/job": 1e6 / fullRate },
]);
console.log(`rules overhead: ${overhead.toFixed(2)}× the schema alone (target ≤ ${TARGET_RULES_OVERHEAD}×)`);
console.log(`parseJob: ${Math.round(fullRate)} jobs/s (target ≥ ${TARGET_JOBS_PER_SECOND})`);

printResult({
  bench: "api",
  schema_jobs_per_s: Math.round(schemaRate),
  parsejob_jobs_per_s: Math.round(fullRate),
  rules_overhead_ratio: Number(overhead.toFixed(3)),
  meets: {
    parsejob_jobs_per_s: fullRate >= TARGET_JOBS_PER_SECOND,
    rules_overhead_ratio: overhead <= TARGET_RULES_OVERHEAD,
  },
});
