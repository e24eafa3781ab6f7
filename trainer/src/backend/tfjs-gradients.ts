// tfjs-core's Node entry (dist/tf-core.node.js, CommonJS) registers no gradients: they ship only as unbundled ES
// modules (dist/register_all_gradients.js) with extensionless relative imports, which the @tensorflow/tfjs union
// package normally bundles. Without them every tf.grads call fails ("gradient function not found for Neg"). We load
// that file through a resolve hook that adds the missing ".js" (or "/index.js") inside tfjs-core's dist folder only.
// The ES copy of tfjs-core it pulls in shares the engine, kernel and gradient registries with the CommonJS copy
// (tfjs keeps them on a global namespace for exactly this), so the gradients land where the engine looks.
import { register } from "node:module";
import { getGradient } from "@tensorflow/tfjs-core";

// Runs in Node's loader thread; a data: URL so it loads the same from sources (vitest, tsx) and from dist.
const RESOLVE_HOOK = `
const DIST = "/@tensorflow/tfjs-core/dist/";
export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? "";
  if (!parent.includes(DIST) || !(specifier.startsWith("./") || specifier.startsWith("../")) || specifier.endsWith(".js")) {
    return next(specifier, context);
  }
  try {
    return await next(specifier + ".js", context);
  } catch {
    return next(specifier + "/index.js", context);
  }
}`;

export class GradientRegistrationError extends Error {
  constructor(override readonly cause: unknown) {
    super(`could not register tfjs-core's gradients: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "GradientRegistrationError";
  }
}

let loading: Promise<void> | undefined;

/** Makes sure every tfjs-core gradient is registered (idempotent; a no-op when tfjs-node already registered them). */
export function ensureGradients(): Promise<void> {
  loading ??= (async () => {
    if (getGradient("Neg") !== undefined) return;
    try {
      register(`data:text/javascript,${encodeURIComponent(RESOLVE_HOOK)}`);
      const specifier: string = "@tensorflow/tfjs-core/dist/register_all_gradients.js";
      await import(specifier);
    } catch (err) {
      throw new GradientRegistrationError(err);
    }
    if (getGradient("Neg") === undefined) throw new GradientRegistrationError("loaded, but the gradient registry is still empty");
  })();
  return loading;
}
