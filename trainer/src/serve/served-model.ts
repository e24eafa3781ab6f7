// A checkpoint's model held for serving: weights as tensors once, text in and text out through the tokenizer and the
// existing sampler (generate/sample.ts), with counter-based randomness so a seed gives the same text every time.
import type { TokenizerName } from "@gantry/crds";
import { encodeText } from "@gantry/dataloader";
import * as tf from "@tensorflow/tfjs-core";
import type { NamedArray } from "../checkpoint/named-array.js";
import { decodeTokens } from "../generate/decode.js";
import { sample } from "../generate/sample.js";
import { structureWeights, type GptWeights } from "../model/gpt-weights.js";
import type { ModelConfig } from "../model/model-config.js";
import { importParams } from "../model/param-io.js";
import { ApiError, cutAtStop, type Generated } from "./openai-protocol.js";

/** End-of-text ids: generation stops there, as gantry-generate does. */
export const END_OF_TEXT: Record<TokenizerName, number> = { gpt2: 50256, cl100k_base: 100257, bytes: 0 };

export interface CompletionOptions {
  maxTokens: number;
  temperature: number;
  topK: number;
  seed: number;
  stop?: string | string[];
}

export interface ServedModel {
  readonly id: string;
  readonly config: ModelConfig;
  readonly tokenizer: TokenizerName;
  complete(prompt: string, opts: CompletionOptions): Promise<Generated>;
  dispose(): void;
}

export function servedModel(id: string, config: ModelConfig, tokenizer: TokenizerName, arrays: readonly NamedArray[]): ServedModel {
  const tensors = importParams(config, arrays);
  const weights: GptWeights = structureWeights(config, tensors);
  const eos = END_OF_TEXT[tokenizer];
  return {
    id,
    config,
    tokenizer,
    async complete(prompt, opts) {
      const input = encodeText(tokenizer, prompt);
      const outside = input.find((t) => t >= config.vocabSize);
      if (outside !== undefined) throw new ApiError(400, "invalid_request_error", `the prompt encodes to token ${outside}, outside this model's vocabulary of ${config.vocabSize}`, "prompt");
      // The sampler would slide its window past the context; a server says so instead.
      if (input.length + opts.maxTokens > config.contextLength) {
        throw new ApiError(400, "invalid_request_error", `the prompt's ${input.length} tokens plus max_tokens ${opts.maxTokens} exceed this model's context of ${config.contextLength} tokens`, "max_tokens");
      }
      const out = await sample(config, weights, input, { maxNewTokens: opts.maxTokens, temperature: opts.temperature, topK: opts.topK, seed: opts.seed, stopToken: eos });
      // sample() starts an empty prompt from the end-of-text token; either way the new tokens follow the prompt's.
      const fresh = out.slice(Math.max(input.length, 1));
      const ended = fresh.at(-1) === eos;
      const text = decodeTokens(tokenizer, fresh.filter((t) => t !== eos));
      const cut = cutAtStop(text, opts.stop);
      return { text: cut.text, finishReason: ended || cut.stopped ? "stop" : "length", promptTokens: input.length, completionTokens: fresh.length };
    },
    dispose: () => tf.dispose(tensors),
  };
}
