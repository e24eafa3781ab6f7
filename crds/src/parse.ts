// parseJob: the one validation entry point for the operator and the CLI. Schema first, then the cross-field rules.
import type { z } from "zod";
import { CROSS_FIELD_RULES, type CrossFieldRule } from "./rules.js";
import { LLMTrainingJob } from "./schema/job.js";

export interface JobIssue {
  /** Dotted field path, for example "spec.training.globalBatchSize" or "spec.data.streams[1].name". */
  path: string;
  message: string;
  /** Id of the cross-field rule that failed, when one did. */
  rule?: string;
}

export type ParseResult = { ok: true; job: LLMTrainingJob } | { ok: false; issues: JobIssue[] };

export interface ParseOptions {
  /** The stored object, on update: enables transition rules such as model immutability. */
  old?: unknown;
}

const INLINE_SECRET = /(secret|password|passwd|token|accesskey|credential|apikey)/i;

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

function issuesFromZod(error: z.ZodError): JobIssue[] {
  const issues: JobIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const path = formatPath([...issue.path, key]);
        const message = INLINE_SECRET.test(key)
          ? "credentials must not be written inline: put them in a Secret and reference it (data.s3.credentialsSecret, redis.secretRef)"
          : "unknown field";
        issues.push({ path, message });
      }
      continue;
    }
    const missing = issue.code === "invalid_type" && issue.message.endsWith("received undefined");
    issues.push({ path: formatPath(issue.path), message: missing ? `required: ${issue.message.replace(/, received undefined$/, "")}` : issue.message });
  }
  return issues;
}

export function rulePath(rule: CrossFieldRule): string {
  const field = rule.field.startsWith(".") ? rule.field.slice(1).split(".") : [];
  return formatPath([...rule.at, ...field]);
}

/** Applies the cross-field rules to a job that passed the schema. */
export function checkRules(job: LLMTrainingJob, old?: LLMTrainingJob): JobIssue[] {
  const issues: JobIssue[] = [];
  for (const rule of CROSS_FIELD_RULES) {
    if (rule.transition && old === undefined) continue;
    if (!rule.holds(job, old)) issues.push({ path: rulePath(rule), message: rule.message, rule: rule.id });
  }
  return issues;
}

/**
 * Validates an LLMTrainingJob and applies its defaults. Never throws: bad input comes back as issues that name the field.
 */
export function parseJob(input: unknown, options: ParseOptions = {}): ParseResult {
  const parsed = LLMTrainingJob.safeParse(input);
  if (!parsed.success) return { ok: false, issues: issuesFromZod(parsed.error) };
  const job = parsed.data;
  const issues: JobIssue[] = [];
  if (job.metadata.name === undefined && job.metadata.generateName === undefined) {
    issues.push({ path: "metadata.name", message: "metadata.name is required" });
  }
  let old: LLMTrainingJob | undefined;
  if (options.old !== undefined) {
    const previous = LLMTrainingJob.safeParse(options.old);
    if (previous.success) old = previous.data;
  }
  issues.push(...checkRules(job, old));
  return issues.length === 0 ? { ok: true, job } : { ok: false, issues };
}

/** One line per issue, "path: message", for conditions, events and the CLI. */
export function describeIssues(issues: readonly JobIssue[]): string {
  return issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ");
}
