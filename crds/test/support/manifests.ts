// Small manifests for tests: a valid base and a deep-merge helper to vary it.
type Plain = Record<string, unknown>;

export function minimalJob(): Plain {
  return {
    apiVersion: "gantry.dev/v1alpha1",
    kind: "LLMTrainingJob",
    metadata: { name: "tiny", namespace: "default" },
    spec: {
      data: { source: "file:///data/tinyshakespeare" },
      training: { steps: 100 },
      resources: { gpusPerWorker: 0 },
    },
  };
}

function isPlain(v: unknown): v is Plain {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Deep merge; a value of `undefined` deletes the key. Arrays replace. */
export function merge(base: Plain, patch: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (isPlain(v) && isPlain(out[k])) out[k] = merge(out[k] as Plain, v);
    else out[k] = v;
  }
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

export const withSpec = (spec: Plain, meta: Plain = {}): Plain =>
  merge(minimalJob(), { spec, ...(Object.keys(meta).length > 0 ? { metadata: meta } : {}) });
