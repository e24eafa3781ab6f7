// Moved to model-source/load-model.ts; this re-export keeps bench/inference (owned elsewhere) compiling until its
// import is updated. Delete it then.
export { loadModel, modelWeights, type LoadedModel, type ModelSourceKind } from "../model-source/load-model.js";
