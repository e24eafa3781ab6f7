// What every gantry-* command does around its own work: usage on --help or missing arguments, paths as URIs, S3 from
// the environment, the --backend flag, and an error turned into `<tool>: message` on stderr and an exit code.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { EXIT } from "@gantry/crds";
import type { Client } from "minio";
import { DEFAULT_BACKEND_ORDER, selectBackend, type BackendName } from "../backend/select-backend.js";
import { SafetensorsFormatError } from "../checkpoint/safetensors.js";
import { CompressedModelError } from "../compress/compressed-model.js";
import { ContextOverflowError, DecodingOptionError, DraftMismatchError } from "../inference/errors.js";
import { HfImportError } from "../interop/hf-gpt2.js";
import { ModelLoadError } from "../model-source/model-checks.js";
import { exitFor, type ExitDecision } from "../run/exit-code.js";
import { needsS3, s3ClientFor } from "../run/storage.js";
import { ConfigError, fromManifest } from "../runtime/run-config.js";

// Bad input to a model tool (model source, tokenizer, prompt, options) is the user's to fix (exit 2).
const BAD_INPUT = [ModelLoadError, ContextOverflowError, DecodingOptionError, DraftMismatchError, CompressedModelError, HfImportError, SafetensorsFormatError];

/** The exit of gantry-generate, gantry-eval and gantry-compress: bad input is exit 2, the rest the trainer's map. */
export function cliExit(err: unknown): ExitDecision {
  if (BAD_INPUT.some((t) => err instanceof t)) return { code: EXIT.badConfig, message: (err as Error).message };
  return exitFor(err);
}

/** Prints the usage; the exit code is 0 when it was asked for (--help), else a configuration error. */
export function usageExit(usage: string, asked: boolean | undefined): number {
  console.error(usage);
  return asked === true ? EXIT.success : EXIT.badConfig;
}

/** A folder path or a URI, as a URI. */
export const asUri = (p: string): string => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) ? p : pathToFileURL(resolve(p)).href);

/**
 * An S3 client for the s3:// URIs a command was given, configured from the environment exactly as gantry-train's
 * (S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, …); undefined when no URI is on S3.
 */
export function s3ClientFromEnv(uris: readonly string[], tool: string): Client | undefined {
  const s3Uris = uris.filter((u) => u.startsWith("s3://"));
  if (!needsS3(...s3Uris)) return undefined;
  // A minimal local run config: only its S3 settings are used.
  // gantry-data's names (S3_ACCESS_KEY, S3_SECRET_KEY; what `. .gantry/env` exports) stand in for the AWS ones.
  const env = process.env;
  const aliased = { ...env, AWS_ACCESS_KEY_ID: env["AWS_ACCESS_KEY_ID"] ?? env["S3_ACCESS_KEY"], AWS_SECRET_ACCESS_KEY: env["AWS_SECRET_ACCESS_KEY"] ?? env["S3_SECRET_KEY"] };
  const cfg = fromManifest(`spec: {data: {source: "file:///unused"}, training: {steps: 1}}`, tool, { env: aliased });
  return s3ClientFor(cfg.s3, s3Uris, "set S3_ENDPOINT and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or S3_ACCESS_KEY/S3_SECRET_KEY");
}

/** A command-line flag with a value it cannot take. A ConfigError, so exit 2 under cliExit and exitFor alike. */
export class FlagError extends ConfigError {
  constructor(
    readonly flag: string,
    readonly value: string,
    expected: string,
  ) {
    super(`${flag} must be ${expected}, not ${JSON.stringify(value)}`);
    this.name = "FlagError";
  }
}

/** The --backend flag's value, checked against the backend names. */
export function parseBackendFlag(backend: string): BackendName {
  const name = DEFAULT_BACKEND_ORDER.find((b) => b === backend);
  if (name === undefined) throw new FlagError("--backend", backend, `one of ${DEFAULT_BACKEND_ORDER.join(", ")}`);
  return name;
}

/** A --port value: an integer from 0 (any free port) to 65535. */
export function parsePortFlag(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new FlagError("--port", text, "an integer from 0 to 65535");
  return n;
}

/** The --backend flag: that backend only, or the default order. */
export const selectBackendFlag = (backend: string | undefined): Promise<BackendName> => selectBackend(backend ? { order: [parseBackendFlag(backend)] } : {});

/** Runs a command's work; an error is printed as `<tool>: message` and becomes its exit code (`exit`, default cliExit). */
export async function runCommand(tool: string, work: () => Promise<number>, exit: (err: unknown) => ExitDecision = cliExit): Promise<number> {
  try {
    return await work();
  } catch (err) {
    const { code, message } = exit(err);
    console.error(`${tool}: ${message}`);
    return code;
  }
}
