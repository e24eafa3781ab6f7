// An address book for benchmark ranks that are child processes of one parent: each child registers through the
// fork IPC channel and the parent relays every namespace's entries back to all children. Namespaces (sub()) are
// what connectProcessGroups needs to meet each sub-group separately; the root namespace is "".
import type { ChildProcess } from "node:child_process";
import type { AddressBook } from "../trainer/src/collective/rendezvous.js";

/** Child → parent: rank `rank` of namespace `book` listens at `address`. */
export interface RegisterMessage {
  kind: "register";
  book: string;
  rank: number;
  address: string;
}

/** Parent → child: every entry of namespace `book` so far. */
export interface BookMessage {
  kind: "book";
  book: string;
  entries: Record<string, string>;
}

const isBookMessage = (m: unknown): m is BookMessage => typeof m === "object" && m !== null && (m as { kind?: unknown }).kind === "book";
export const isRegisterMessage = (m: unknown): m is RegisterMessage => typeof m === "object" && m !== null && (m as { kind?: unknown }).kind === "register";

// One copy per process, shared by every namespace's book: the IPC channel delivers all namespaces to one listener.
const latest = new Map<string, Record<string, string>>();
let listening = false;

function listen(): void {
  if (listening) return;
  listening = true;
  process.on("message", (m: unknown) => {
    if (isBookMessage(m)) latest.set(m.book, m.entries);
  });
}

/** The child side. Requires a process forked with an IPC channel. */
export class IpcAddressBook implements AddressBook {
  readonly group: string;

  constructor(
    /** The namespace path joined by "/" ("" for the root). */
    readonly namespace = "",
  ) {
    if (process.send === undefined) throw new Error("IpcAddressBook needs a process forked with an IPC channel");
    this.group = namespace === "" ? "bench" : `bench ${namespace}`;
    listen();
  }

  sub(name: string): IpcAddressBook {
    return new IpcAddressBook(this.namespace === "" ? name : `${this.namespace}/${name}`);
  }

  register(rank: number, address: string): Promise<void> {
    process.send?.({ kind: "register", book: this.namespace, rank, address } satisfies RegisterMessage);
    return Promise.resolve();
  }

  entries(): Promise<Record<string, string>> {
    return Promise.resolve({ ...(latest.get(this.namespace) ?? {}) });
  }
}

/**
 * The parent side: collects registrations from `children` and sends each namespace's entries to all of them after
 * every change. Returns a function that stops relaying.
 */
export function relayAddressBooks(children: readonly ChildProcess[]): () => void {
  const books = new Map<string, Record<string, string>>();
  const onMessage = (m: unknown) => {
    if (!isRegisterMessage(m)) return;
    const entries = books.get(m.book) ?? {};
    entries[String(m.rank)] = m.address;
    books.set(m.book, entries);
    for (const c of children) if (c.connected) c.send({ kind: "book", book: m.book, entries } satisfies BookMessage);
  };
  for (const c of children) c.on("message", onMessage);
  return () => {
    for (const c of children) c.off("message", onMessage);
  };
}
