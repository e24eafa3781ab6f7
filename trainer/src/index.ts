// Public entry of @gantry/trainer.
export * from "./checkpoint/named-array.js";
export * from "./dist/collective.js";
