// The checks every model source shares (checkpoint, compressed file, Hugging Face weights): a valid shape, a known
// tokenizer, and weights that match the shape. Each failure is a ModelLoadError naming the source.
import { TOKENIZER_NAMES, type TokenizerName } from "@gantry/crds";
import type { NamedArray } from "../checkpoint/named-array.js";
import { validateModelConfig, type ModelConfig } from "../model/model-config.js";
import { matchNamedArrays, ParamImportError } from "../model/param-io.js";
import { paramLayout } from "../model/param-layout.js";
import { ConfigError } from "../runtime/run-config.js";

/** The source cannot be loaded as a model: no checkpoint, no shape, unknown tokenizer, tensors of another model. */
export class ModelLoadError extends ConfigError {
  constructor(
    readonly source: string,
    readonly reason: string,
  ) {
    super(`${source}: ${reason}`);
    this.name = "ModelLoadError";
  }
}

export function checkTokenizer(source: string, name: unknown): TokenizerName {
  if (typeof name !== "string" || !(TOKENIZER_NAMES as readonly string[]).includes(name)) {
    throw new ModelLoadError(source, `unknown tokenizer ${JSON.stringify(name)}: expected one of ${TOKENIZER_NAMES.join(", ")}`);
  }
  return name as TokenizerName;
}

export function validConfig(source: string, raw: unknown): ModelConfig {
  try {
    return validateModelConfig(raw as ModelConfig);
  } catch (err) {
    throw new ModelLoadError(source, `bad model shape: ${(err as Error).message}`);
  }
}

/** The parameters in layout order, or a ModelLoadError naming the first mismatch with the recorded shape. */
export function matchConfig(source: string, config: ModelConfig, arrays: readonly NamedArray[]): NamedArray[] {
  try {
    return matchNamedArrays(paramLayout(config), arrays);
  } catch (err) {
    if (err instanceof ParamImportError) throw new ModelLoadError(source, `the weights do not match the model config (${config.layers} layers, dModel ${config.dModel}, heads ${config.heads}, kvHeads ${config.kvHeads}, vocab ${config.vocabSize}): ${err.message}`);
    throw err;
  }
}
