// Which parameters AdamW decays. Matrices decay; vectors (LayerNorm gains and biases, every bias) do not. The token
// and position embeddings are matrices and do decay, as in nanoGPT and GPT-2 replications: with tied embeddings wte
// is also the LM head, and exempting it would leave the largest matrix of a small model unregularised.
export const decays = (shape: readonly number[]): boolean => shape.length >= 2;
