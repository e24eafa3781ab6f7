import { z } from "zod";
import { MODEL_PRESET_NAMES } from "./presets.js";
import { positiveInt, storageUri } from "./primitives.js";

export const CheckpointRef = z
  .strictObject({
    uri: storageUri("Where the checkpoint lives: s3://bucket/prefix or file:///path."),
    format: z
      .enum(["gantry", "hf-safetensors"])
      .default("gantry")
      .describe("gantry: a Gantry checkpoint directory. hf-safetensors: a Hugging Face GPT-2 model.safetensors, mapped by the interop layer."),
  })
  .describe("A model checkpoint to load.");

export const Model = z
  .strictObject({
    preset: z
      .enum(MODEL_PRESET_NAMES)
      .default("tiny")
      .describe("Base shape of the model. Any explicit field below overrides the preset's value."),
    vocabSize: positiveInt("Vocabulary size. Defaults to the tokenizer's vocabulary; must be at least that large.")
      .max(1_048_576)
      .optional(),
    contextLength: positiveInt("Maximum sequence length in tokens. Defaults to the preset's.").max(131_072).optional(),
    layers: positiveInt("Number of transformer blocks. Defaults to the preset's.").max(512).optional(),
    dModel: positiveInt("Width of the residual stream. Defaults to the preset's.").max(65_536).optional(),
    heads: positiveInt("Attention (query) heads. Defaults to the preset's.").max(1024).optional(),
    kvHeads: positiveInt(
      "Key/value heads: equal to heads for multi-head attention (MHA), fewer for grouped-query (GQA), 1 for multi-query (MQA). Defaults to heads.",
    )
      .max(1024)
      .optional(),
    mlpRatio: z.number().gt(0).max(16).default(4).describe("Hidden width of the MLP as a multiple of dModel."),
    activation: z.enum(["gelu", "swiglu"]).default("gelu").describe("MLP activation."),
    dropout: z.number().min(0).lt(1).default(0).describe("Dropout probability on attention and residual paths."),
    positionalEncoding: z.enum(["learned", "rotary"]).default("learned").describe("Learned absolute positions or rotary embeddings (RoPE)."),
    tieEmbeddings: z.boolean().default(true).describe("Share the token embedding matrix with the LM head."),
    pretrained: CheckpointRef.optional().describe("Start from this checkpoint instead of a random initialisation."),
  })
  .describe("The decoder-only transformer to train. Immutable after creation.");

export type Model = z.output<typeof Model>;
