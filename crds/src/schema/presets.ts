// Named model shapes and tokenizer vocabularies. The zod rules, the CEL rules and the trainer all read these tables.

export const MODEL_PRESETS = {
  tiny: { layers: 2, dModel: 128, heads: 4, contextLength: 128 },
  "gpt2-small": { layers: 12, dModel: 768, heads: 12, contextLength: 1024 },
  "gpt2-medium": { layers: 24, dModel: 1024, heads: 16, contextLength: 1024 },
  "gpt2-large": { layers: 36, dModel: 1280, heads: 20, contextLength: 1024 },
  "gpt2-xl": { layers: 48, dModel: 1600, heads: 25, contextLength: 1024 },
} as const satisfies Record<string, PresetShape>;

export interface PresetShape {
  layers: number;
  dModel: number;
  heads: number;
  contextLength: number;
}

export type ModelPreset = keyof typeof MODEL_PRESETS;
export const MODEL_PRESET_NAMES = Object.keys(MODEL_PRESETS) as [ModelPreset, ...ModelPreset[]];

/** Vocabulary size of each supported tokenizer (gpt2 = r50k_base, cl100k_base as in tiktoken, bytes = raw UTF-8 bytes). */
export const TOKENIZER_VOCAB = {
  gpt2: 50257,
  cl100k_base: 100277,
  bytes: 256,
} as const;

export type TokenizerName = keyof typeof TOKENIZER_VOCAB;
export const TOKENIZER_NAMES = Object.keys(TOKENIZER_VOCAB) as [TokenizerName, ...TokenizerName[]];
