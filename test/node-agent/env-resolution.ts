// A container's environment as the kubelet builds it: envFrom, then env in order, with $(VAR) references to earlier
// variables expanded, values from Secrets and ConfigMaps, and the downward API. Pure: the Secrets and ConfigMaps the
// container names are fetched first (referencedObjects) and passed in.
import type { V1ConfigMap, V1Container, V1EnvVar, V1Pod, V1Secret } from "@kubernetes/client-node";

/** What a container refers to, to be read before resolveEnv. */
export interface References {
  secrets: string[];
  configMaps: string[];
}

export function referencedObjects(container: V1Container): References {
  const secrets = new Set<string>();
  const configMaps = new Set<string>();
  for (const from of container.envFrom ?? []) {
    if (from.secretRef?.name) secrets.add(from.secretRef.name);
    if (from.configMapRef?.name) configMaps.add(from.configMapRef.name);
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom?.secretKeyRef?.name) secrets.add(e.valueFrom.secretKeyRef.name);
    if (e.valueFrom?.configMapKeyRef?.name) configMaps.add(e.valueFrom.configMapKeyRef.name);
  }
  return { secrets: [...secrets].sort(), configMaps: [...configMaps].sort() };
}

/** The Secrets and ConfigMaps of the pod's namespace that were found; a name that is absent was not found. */
export interface FetchedObjects {
  secrets: ReadonlyMap<string, V1Secret>;
  configMaps: ReadonlyMap<string, V1ConfigMap>;
}

/** Values of the downward API that only the node knows. */
export interface PodRuntimeFields {
  podIP: string;
  hostIP: string;
}

/** Why a container cannot be configured; the kubelet reports these as CreateContainerConfigError. */
export class ContainerConfigError extends Error {
  readonly reason = "CreateContainerConfigError";
  constructor(
    readonly container: string,
    message: string,
  ) {
    super(message);
    this.name = "ContainerConfigError";
  }
}

export type EnvResolution = { ok: true; env: Record<string, string> } | { ok: false; error: ContainerConfigError };

/**
 * Expands $(NAME) to the value of an already defined variable; $$ is a literal $, and a reference to an undefined
 * variable stays as written (the kubelet's rules).
 */
export function expandReferences(input: string, defined: Readonly<Record<string, string>>): string {
  let out = "";
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== "$" || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1];
    if (next === "$") {
      out += "$";
      i++;
    } else if (next === "(") {
      const close = input.indexOf(")", i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      out += Object.hasOwn(defined, name) ? defined[name] : `$(${name})`;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

const decode = (b64: string) => Buffer.from(b64, "base64").toString("utf8");

function secretValue(secret: V1Secret, key: string): string | undefined {
  const data = secret.data?.[key];
  if (data !== undefined) return decode(data);
  return secret.stringData?.[key];
}

function configMapValue(cm: V1ConfigMap, key: string): string | undefined {
  const data = cm.data?.[key];
  if (data !== undefined) return data;
  const binary = cm.binaryData?.[key];
  return binary === undefined ? undefined : decode(binary);
}

/** `metadata.labels['key']` and `metadata.annotations['key']` name one entry of a map. */
const MAP_FIELD = /^metadata\.(labels|annotations)\['(.+)'\]$/;

function fieldValue(pod: V1Pod, path: string, runtime: PodRuntimeFields): string | undefined {
  const meta = pod.metadata ?? {};
  switch (path) {
    case "metadata.name":
      return meta.name ?? "";
    case "metadata.namespace":
      return meta.namespace ?? "";
    case "metadata.uid":
      return meta.uid ?? "";
    case "spec.nodeName":
      return pod.spec?.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec?.serviceAccountName ?? "";
    case "status.podIP":
    case "status.podIPs":
      return runtime.podIP;
    case "status.hostIP":
    case "status.hostIPs":
      return runtime.hostIP;
  }
  const m = MAP_FIELD.exec(path);
  if (m) {
    const map = m[1] === "labels" ? meta.labels : meta.annotations;
    return map?.[m[2] ?? ""] ?? "";
  }
  return undefined;
}

function one(e: V1EnvVar, pod: V1Pod, container: string, runtime: PodRuntimeFields, objects: FetchedObjects, defined: Record<string, string>): string | undefined | ContainerConfigError {
  const ns = pod.metadata?.namespace ?? "";
  const from = e.valueFrom;
  if (!from) return expandReferences(e.value ?? "", defined);
  if (from.secretKeyRef) {
    const { name = "", key, optional } = from.secretKeyRef;
    const secret = objects.secrets.get(name);
    if (!secret) return optional ? undefined : new ContainerConfigError(container, `secret "${name}" not found (env ${e.name})`);
    const v = secretValue(secret, key);
    if (v === undefined) return optional ? undefined : new ContainerConfigError(container, `couldn't find key ${key} in Secret ${ns}/${name} (env ${e.name})`);
    return v;
  }
  if (from.configMapKeyRef) {
    const { name = "", key, optional } = from.configMapKeyRef;
    const cm = objects.configMaps.get(name);
    if (!cm) return optional ? undefined : new ContainerConfigError(container, `configmap "${name}" not found (env ${e.name})`);
    const v = configMapValue(cm, key);
    if (v === undefined) return optional ? undefined : new ContainerConfigError(container, `couldn't find key ${key} in ConfigMap ${ns}/${name} (env ${e.name})`);
    return v;
  }
  if (from.fieldRef) {
    const v = fieldValue(pod, from.fieldRef.fieldPath, runtime);
    return v ?? new ContainerConfigError(container, `unsupported fieldRef ${from.fieldRef.fieldPath} (env ${e.name})`);
  }
  return new ContainerConfigError(container, `env ${e.name}: resourceFieldRef is not supported by the local node agent`);
}

export function resolveEnv(pod: V1Pod, container: V1Container, runtime: PodRuntimeFields, objects: FetchedObjects): EnvResolution {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? "";
    if (from.secretRef) {
      const { name = "", optional } = from.secretRef;
      const secret = objects.secrets.get(name);
      if (!secret) {
        if (optional) continue;
        return { ok: false, error: new ContainerConfigError(container.name, `secret "${name}" not found (envFrom)`) };
      }
      const keys = new Set([...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})]);
      for (const k of keys) env[prefix + k] = secretValue(secret, k) ?? "";
    }
    if (from.configMapRef) {
      const { name = "", optional } = from.configMapRef;
      const cm = objects.configMaps.get(name);
      if (!cm) {
        if (optional) continue;
        return { ok: false, error: new ContainerConfigError(container.name, `configmap "${name}" not found (envFrom)`) };
      }
      const keys = new Set([...Object.keys(cm.data ?? {}), ...Object.keys(cm.binaryData ?? {})]);
      for (const k of keys) env[prefix + k] = configMapValue(cm, k) ?? "";
    }
  }
  for (const e of container.env ?? []) {
    const v = one(e, pod, container.name, runtime, objects, env);
    if (v instanceof ContainerConfigError) return { ok: false, error: v };
    if (v !== undefined) env[e.name] = v;
  }
  return { ok: true, env };
}

/** A container's command and args with $(VAR) references to its environment expanded, as the kubelet does. */
export function expandArgs(args: readonly string[] | undefined, env: Readonly<Record<string, string>>): string[] | undefined {
  return args?.map((a) => expandReferences(a, env));
}
