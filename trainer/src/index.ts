// Public entry of @gantry/trainer.
export * from "./checkpoint/named-array.js";
export * from "./dist/collective.js";
// Collectives, rendezvous, checkpoints, interop (issue #6 parts 4, 5, 11).
export { PeerLostError, RendezvousTimeoutError, RendezvousConfigError, CollectiveMismatchError } from "./dist/errors.js";
export { RingCollective, DEFAULT_BUCKET_BYTES, type RingOptions } from "./dist/ring-collective.js";
export { connectCollective, type ConnectOptions } from "./dist/connect-ring.js";
export { rendezvous, RedisAddressBook, MemoryAddressBook, advertiseHost, type AddressBook, type RendezvousOptions } from "./dist/rendezvous.js";
export { peersKey, formatAddress, parseAddress, type PeerAddress } from "./dist/rendezvous-plan.js";
export * from "./checkpoint/safetensors.js";
export * from "./checkpoint/errors.js";
export * from "./checkpoint/layout.js";
export * from "./checkpoint/manifest.js";
export * from "./checkpoint/checkpoint-store.js";
export * from "./checkpoint/checkpoint-writer.js";
export * from "./checkpoint/checkpoint-reader.js";
export * from "./interop/hf-gpt2.js";
