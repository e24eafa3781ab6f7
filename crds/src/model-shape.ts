// Resolves a model spec (preset plus overrides) into the full shape, in TypeScript and as CEL.
import type { Model } from "./schema/model.js";
import { MODEL_PRESETS, TOKENIZER_VOCAB, type PresetShape, type TokenizerName } from "./schema/presets.js";

export interface ModelShape {
  vocabSize: number;
  contextLength: number;
  layers: number;
  dModel: number;
  heads: number;
  kvHeads: number;
}

/** The shape the trainer builds: each field from the spec if set, else from the preset; vocab from the tokenizer. */
export function resolveModelShape(model: Model, tokenizer: TokenizerName): ModelShape {
  const preset = MODEL_PRESETS[model.preset];
  const heads = model.heads ?? preset.heads;
  return {
    vocabSize: model.vocabSize ?? TOKENIZER_VOCAB[tokenizer],
    contextLength: model.contextLength ?? preset.contextLength,
    layers: model.layers ?? preset.layers,
    dModel: model.dModel ?? preset.dModel,
    heads,
    kvHeads: model.kvHeads ?? heads,
  };
}

/** CEL for one shape field of the model at `model` (a CEL expression), falling back to the preset table. */
export function celPresetField(model: string, field: keyof PresetShape): string {
  const table = Object.entries(MODEL_PRESETS)
    .map(([name, shape]) => `'${name}': ${shape[field]}`)
    .join(", ");
  return `(has(${model}.${field}) ? ${model}.${field} : {${table}}[${model}.preset])`;
}

/** CEL for the tokenizer's vocabulary size at `tokenizer` (a CEL expression). */
export function celTokenizerVocab(tokenizer: string): string {
  const table = Object.entries(TOKENIZER_VOCAB)
    .map(([name, size]) => `'${name}': ${size}`)
    .join(", ");
  return `{${table}}[${tokenizer}]`;
}
