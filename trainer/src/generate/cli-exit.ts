// The exit code and one-line message of an error that ends gantry-generate, gantry-eval or gantry-compress: bad
// input (model source, tokenizer, prompt, options) is the user's to fix (exit 2); the rest falls back to the trainer's map.
import { EXIT } from "@gantry/crds";
import { CompressedModelError } from "../compress/compressed-model.js";
import { ContextOverflowError, DecodingOptionError, DraftMismatchError } from "../inference/errors.js";
import { exitFor, type ExitDecision } from "../run/exit-code.js";
import { SafetensorsFormatError } from "../checkpoint/safetensors.js";
import { HfImportError } from "../interop/hf-gpt2.js";
import { ModelLoadError } from "../model-source/model-checks.js";

const BAD_INPUT = [ModelLoadError, ContextOverflowError, DecodingOptionError, DraftMismatchError, CompressedModelError, HfImportError, SafetensorsFormatError];

export function cliExit(err: unknown): ExitDecision {
  if (BAD_INPUT.some((t) => err instanceof t)) return { code: EXIT.badConfig, message: (err as Error).message };
  return exitFor(err);
}

/** S3 settings for a CLI that reads s3:// URIs: the same environment gantry-train reads. */
export { s3ClientFromEnv } from "./s3-from-env.js";
