// The Helm chart (helm/gantry): its generated files agree with their sources, it lints clean, its values reach the
// operator as the configuration they mean, its manifests pass the API server's dry run, and install/uninstall create
// and remove everything but the CRD.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { configFromEnv, OperatorConfig } from "../../operator/src/config.js";
import { LABELS, MANAGER } from "../../operator/src/core/names.js";
import { CHART_DIR, generatedFiles, RBAC_SOURCE, REPO_ROOT } from "../../helm/outputs.js";
import { parseOperatorRbac, RbacSourceError, splitByScope, type PolicyRule } from "../../helm/render/rbac-rules.js";
import { ChartValues } from "../../helm/values-schema.js";
import { ensureCrd, freshNamespace, kubeConfig, kubectl, type TestNamespace } from "../support/kube.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const kc = kubeConfig(env);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

interface Container {
  name: string;
  env: EnvVar[];
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
}

interface DeploymentSpec {
  replicas: number;
  template: { spec: { securityContext: Record<string, unknown>; serviceAccountName: string; containers: Container[] } };
}

function helm(args: readonly string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(join(env.GANTRY_BIN_DIR, "helm"), ["--kubeconfig", env.KUBECONFIG, ...args], { encoding: "utf8", timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` with --set-json pairs, parsed into manifests. */
function render(sets: Record<string, unknown> = {}, namespace = "gantry-system"): Manifest[] {
  const r = helm(["template", "t", CHART_DIR, "--namespace", namespace, ...Object.entries(sets).flatMap(([k, v]) => ["--set-json", `${k}=${JSON.stringify(v)}`])]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

function only(manifests: Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  expect(found.map((m) => m.metadata.name), `${kind} ${name ?? ""}`).toHaveLength(1);
  return found[0] as Manifest;
}

function operatorContainer(manifests: Manifest[]): Container {
  const spec = only(manifests, "Deployment").spec as DeploymentSpec;
  const c = spec.template.spec.containers.find((x) => x.name === "operator");
  if (!c) throw new Error("the Deployment has no operator container");
  return c;
}

/** The environment the operator process would see: values as given, field refs as the kubelet resolves them. */
function processEnv(c: Container, pod: { name: string; namespace: string }): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const e of c.env) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    out[e.name] = field === "metadata.name" ? pod.name : field === "metadata.namespace" ? pod.namespace : e.value;
  }
  return out;
}

const sortRules = (rules: readonly PolicyRule[]) => rules.map((r) => JSON.stringify(r)).sort();
const rbacSource = () => parseOperatorRbac(readFileSync(join(REPO_ROOT, RBAC_SOURCE), "utf8"), RBAC_SOURCE);

describe("generated chart files", () => {
  it("are what make crds writes from their sources (crds-check fails on drift)", () => {
    for (const { path, content } of generatedFiles()) expect(readFileSync(join(REPO_ROOT, path), "utf8"), path).toBe(content);
  });

  it("ship the same CRD as crds/, byte for byte", () => {
    const chart = readFileSync(join(CHART_DIR, "crds", "llmtrainingjob.yaml"));
    const crds = readFileSync(join(REPO_ROOT, "crds", "llmtrainingjob.yaml"));
    expect(chart.length).toBeGreaterThan(1000);
    expect(chart.equals(crds)).toBe(true);
  });

  it("values.yaml holds exactly the schema's defaults, and those are the operator's own defaults", () => {
    const values = parseAllDocuments(readFileSync(join(CHART_DIR, "values.yaml"), "utf8"))[0]?.toJS() as unknown;
    expect(values).toEqual(ChartValues.parse({}));
    const op = OperatorConfig.parse({});
    const chart = ChartValues.parse({});
    expect([chart.trainer.image, chart.checkpointBase, chart.concurrency, chart.logLevel, chart.httpPort, chart.leaderElection.enabled]).toEqual([
      op.trainerImage,
      op.checkpointBase,
      op.concurrency,
      op.logLevel,
      op.httpPort,
      op.leaderElection,
    ]);
  });

  it("refuses an RBAC source whose resource scope it does not know, rather than guessing", () => {
    const rule = { apiGroups: ["example.com"], resources: ["widgets"], verbs: ["get"] };
    expect(() => splitByScope([rule], "rbac.yaml")).toThrow(RbacSourceError);
    expect(() => splitByScope([{ apiGroups: [""], resources: ["pods", "nodes"], verbs: ["get"] }], "rbac.yaml")).toThrow(/mixes namespaced and cluster-scoped/);
  });
});

describe("helm lint and values.schema.json", () => {
  it("lints clean with the defaults and with every optional part on", () => {
    for (const extra of [[], ["--set", "networkPolicy.enabled=true", "--set", "watchNamespaces={team-a}", "--set", "metrics.serviceMonitor.enabled=true"]]) {
      const r = helm(["lint", "--strict", CHART_DIR, ...extra]);
      expect(r.stdout + r.stderr).not.toMatch(/\[(WARNING|ERROR|INFO)\]/);
      expect(r.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
      expect(r.code).toBe(0);
    }
  });

  it.each([
    ["logLevel", "verbose", "/logLevel"],
    ["concurrency", 0, "/concurrency"],
    ["redis.url", "redis://admin:secret@redis:6379/0", "/redis/url"],
    ["s3.endpoint", "ftp://s3.local", "/s3/endpoint"],
    ["watchNamespaces", ["Team_A"], "/watchNamespaces/0"],
    ["typo", true, "typo"],
  ])("rejects %s=%j and names the field", (key, value, field) => {
    const r = helm(["template", "t", CHART_DIR, "--set-json", `${key}=${JSON.stringify(value)}`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(field);
  });

  it("refuses two replicas without leader election, and a NetworkPolicy with no namespace to put it in", () => {
    const ha = helm(["template", "t", CHART_DIR, "--set", "leaderElection.enabled=false"]);
    expect(ha.code).not.toBe(0);
    expect(ha.stderr).toContain("replicaCount > 1 needs leaderElection.enabled");
    expect(helm(["template", "t", CHART_DIR, "--set", "leaderElection.enabled=false", "--set", "replicaCount=1"]).code).toBe(0);
    const np = helm(["template", "t", CHART_DIR, "--set", "networkPolicy.enabled=true"]);
    expect(np.code).not.toBe(0);
    expect(np.stderr).toContain("networkPolicy.enabled needs networkPolicy.namespaces or watchNamespaces");
  });
});

describe("helm template", () => {
  it("hands the operator the configuration its values mean, through the operator's own parser", () => {
    const sets = {
      trainer: { image: "registry.local/trainer:9-cuda", command: ["node", "trainer/dist/main.js"] },
      redis: { url: "redis://redis.gantry:6379/2" },
      s3: { endpoint: "https://s3.example.com" },
      checkpointBase: "s3://ckpt/runs",
      watchNamespaces: ["team-a", "team-b"],
      concurrency: 3,
      logLevel: "debug",
      httpPort: 9090,
    };
    const config = configFromEnv(processEnv(operatorContainer(render(sets, "ops")), { name: "op-7f9c", namespace: "ops" }));
    expect(config).toEqual({
      trainerImage: "registry.local/trainer:9-cuda",
      trainerCommand: ["node", "trainer/dist/main.js"],
      redisUrl: "redis://redis.gantry:6379/2",
      s3Endpoint: "https://s3.example.com",
      checkpointBase: "s3://ckpt/runs",
      watchNamespaces: ["team-a", "team-b"],
      concurrency: 3,
      httpPort: 9090,
      logLevel: "debug",
      leaderElection: true,
      leaseNamespace: "ops",
      identity: "op-7f9c",
    });
    const defaults = configFromEnv(processEnv(operatorContainer(render()), { name: "p", namespace: "gantry-system" }));
    expect(defaults).toEqual({ ...OperatorConfig.parse({}), leaseNamespace: "gantry-system", identity: "p" });
  });

  it("runs two replicas non-root on a read-only root filesystem, with probes on /healthz and /readyz", () => {
    const manifests = render();
    const spec = only(manifests, "Deployment").spec as DeploymentSpec;
    expect(spec.replicas).toBe(2);
    expect(spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } });
    const c = operatorContainer(manifests);
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect([c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path]).toEqual(["/healthz", "/readyz"]);
    expect(c.resources.requests).toEqual({ cpu: "100m", memory: "256Mi" });
    expect(c.resources.limits).toEqual({ memory: "512Mi" });
    expect(only(manifests, "PodDisruptionBudget").spec).toMatchObject({ maxUnavailable: 1 });
  });

  it("grants exactly operator/deploy/rbac.yaml's rules, namespaced ones in the one watched namespace when there is one", () => {
    const source = rbacSource();
    const wide = render();
    const clusterRoles = wide.filter((m) => m.kind === "ClusterRole").flatMap((m) => m.rules as PolicyRule[]);
    expect(sortRules(clusterRoles)).toEqual(sortRules(source.clusterRole));
    expect(sortRules(only(wide, "Role").rules as PolicyRule[])).toEqual(sortRules(source.leaderRole));
    expect(only(wide, "Role").metadata.namespace).toBe("gantry-system");
    expect(wide.filter((m) => m.kind === "ClusterRoleBinding").map((m) => m.metadata.name).sort()).toEqual(["t-gantry", "t-gantry-nodes"]);

    const scoped = render({ watchNamespaces: ["team-a"] });
    expect(scoped.filter((m) => m.kind === "ClusterRoleBinding").map((m) => m.metadata.name)).toEqual(["t-gantry-nodes"]);
    const binding = only(scoped, "RoleBinding", "t-gantry");
    expect(binding.metadata.namespace).toBe("team-a");
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "t-gantry" });
    expect(sortRules(only(scoped, "ClusterRole", "t-gantry").rules as PolicyRule[])).toEqual(sortRules(splitByScope(source.clusterRole, RBAC_SOURCE).namespaced));
  });

  it("isolates worker pods by the operator's labels: ingress only from workers, egress to workers, DNS, Redis and S3", () => {
    const manifests = render({ networkPolicy: { enabled: true, namespaces: ["team-a", "team-b"], s3: { ports: [9000], to: [{ ipBlock: { cidr: "10.0.0.0/8" } }] } } });
    const policies = manifests.filter((m) => m.kind === "NetworkPolicy");
    expect(policies.map((p) => p.metadata.namespace)).toEqual(["team-a", "team-b"]);
    const workers = { matchLabels: { [LABELS.managedBy]: MANAGER }, matchExpressions: [{ key: LABELS.jobUid, operator: "Exists" }] };
    const spec = policies[0]?.spec as { podSelector: unknown; policyTypes: string[]; ingress: unknown[]; egress: unknown[] };
    expect(spec.podSelector).toEqual(workers);
    expect(spec.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(spec.ingress).toEqual([{ from: [{ podSelector: workers }] }]);
    expect(spec.egress).toEqual([
      { to: [{ podSelector: workers }] },
      {
        to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
        ports: [
          { protocol: "UDP", port: 53 },
          { protocol: "TCP", port: 53 },
        ],
      },
      { ports: [{ protocol: "TCP", port: 6379 }] },
      { ports: [{ protocol: "TCP", port: 9000 }], to: [{ ipBlock: { cidr: "10.0.0.0/8" } }] },
    ]);
  });

  it("renders a ServiceMonitor on the metrics Service's port when asked", () => {
    const manifests = render({ metrics: { serviceMonitor: { enabled: true, labels: { release: "prom" } } } });
    const monitor = only(manifests, "ServiceMonitor");
    expect(monitor.metadata.labels?.["release"]).toBe("prom");
    expect((monitor.spec as { endpoints: unknown[] }).endpoints).toEqual([{ port: "metrics", path: "/metrics", interval: "30s", scrapeTimeout: "10s" }]);
    const service = only(manifests, "Service");
    expect((service.spec as { ports: unknown[] }).ports).toEqual([{ name: "metrics", port: 8080, targetPort: "http", protocol: "TCP" }]);
    expect(render().some((m) => m.kind === "ServiceMonitor")).toBe(false);
  });
});

describe("on the local cluster", () => {
  let ns: TestNamespace;
  let jobs: TestNamespace;
  const release = `t-helm-${randomBytes(3).toString("hex")}`;

  beforeAll(async () => {
    // Other suites install the CRD with server-side apply; Helm then skips its crds/ folder, as it must.
    await ensureCrd(env);
    ns = await freshNamespace(kc, "helm");
    jobs = await freshNamespace(kc, "helmjobs");
  });
  afterAll(async () => {
    helm(["uninstall", release, "--namespace", ns.name, "--ignore-not-found"]);
    await ns?.delete();
    await jobs?.delete();
  });

  it("helm template passes kubectl apply --dry-run=server, the CRD included", () => {
    const r = helm(["template", release, CHART_DIR, "--namespace", ns.name, "--include-crds", "--set", "networkPolicy.enabled=true", "--set", `networkPolicy.namespaces={${jobs.name}}`]);
    expect(r.code).toBe(0);
    const applied = kubectl(env, ["apply", "--dry-run=server", "-f", "-"], r.stdout);
    expect(applied.stderr).not.toMatch(/error/i);
    expect(applied.code).toBe(0);
    const lines = applied.stdout.trim().split("\n");
    expect(lines.every((l) => / (created|configured|unchanged) \(server dry run\)$/.test(l)), applied.stdout).toBe(true);
    expect(lines.map((l) => l.split("/")[0]).sort()).toEqual(
      [
        "customresourcedefinition.apiextensions.k8s.io",
        "deployment.apps",
        "serviceaccount",
        "clusterrole.rbac.authorization.k8s.io",
        "clusterrole.rbac.authorization.k8s.io",
        "clusterrolebinding.rbac.authorization.k8s.io",
        "clusterrolebinding.rbac.authorization.k8s.io",
        "role.rbac.authorization.k8s.io",
        "rolebinding.rbac.authorization.k8s.io",
        "service",
        "poddisruptionbudget.policy",
        "networkpolicy.networking.k8s.io",
      ].sort(),
    );
  });

  it("helm install creates everything, the operator's service account can do what rbac.yaml allows and no more, and uninstall removes it all but the CRD", async () => {
    const crdUid = kubectl(env, ["get", "crd", "llmtrainingjobs.gantry.dev", "-o", "jsonpath={.metadata.uid}"]).stdout;
    const install = helm(["install", release, CHART_DIR, "--namespace", ns.name, "--wait", "--timeout", "90s", "--set", "networkPolicy.enabled=true", "--set", `networkPolicy.namespaces={${jobs.name}}`]);
    expect(install.stderr).toBe("");
    expect(install.code).toBe(0);
    expect(install.stdout).toContain("kubectl get llmjob -w");

    const selector = `app.kubernetes.io/instance=${release}`;
    const names = (kinds: string, namespace?: string) =>
      kubectl(env, ["get", kinds, "-l", selector, "-o", "name", ...(namespace ? ["-n", namespace] : [])])
        .stdout.split("\n")
        .filter((s) => s !== "")
        .sort();
    const fullname = `${release}-gantry`;
    expect(names("deployment,serviceaccount,service,poddisruptionbudget,role,rolebinding", ns.name)).toEqual(
      [
        `deployment.apps/${fullname}`,
        `poddisruptionbudget.policy/${fullname}`,
        `role.rbac.authorization.k8s.io/${fullname}-leader`,
        `rolebinding.rbac.authorization.k8s.io/${fullname}-leader`,
        `service/${fullname}-metrics`,
        `serviceaccount/${fullname}`,
      ].sort(),
    );
    expect(names("clusterrole,clusterrolebinding")).toEqual(
      [`clusterrole.rbac.authorization.k8s.io/${fullname}`, `clusterrole.rbac.authorization.k8s.io/${fullname}-nodes`, `clusterrolebinding.rbac.authorization.k8s.io/${fullname}`, `clusterrolebinding.rbac.authorization.k8s.io/${fullname}-nodes`].sort(),
    );
    expect(names("networkpolicy", jobs.name)).toEqual([`networkpolicy.networking.k8s.io/${fullname}-workers`]);

    // KWOK runs the two replicas (fake containers): the Deployment is available, and they sit on different nodes.
    const pods = JSON.parse(kubectl(env, ["get", "pods", "-n", ns.name, "-l", selector, "-o", "json"]).stdout) as { items: Array<{ spec: { nodeName: string }; status: { phase: string } }> };
    expect(pods.items.map((p) => p.status.phase)).toEqual(["Running", "Running"]);
    expect(new Set(pods.items.map((p) => p.spec.nodeName)).size).toBe(2);

    const as = `system:serviceaccount:${ns.name}:${fullname}`;
    const can = (...args: string[]) => kubectl(env, ["auth", "can-i", ...args, "--as", as]).stdout.trim();
    expect(can("create", "pods", "-n", jobs.name)).toBe("yes");
    expect(can("update", "llmtrainingjobs.gantry.dev", "--subresource=status", "-n", jobs.name)).toBe("yes");
    expect(can("watch", "nodes")).toBe("yes");
    expect(can("update", "leases.coordination.k8s.io", "-n", ns.name)).toBe("yes");
    expect(can("update", "leases.coordination.k8s.io", "-n", jobs.name)).toBe("no");
    expect(can("get", "secrets", "-n", jobs.name)).toBe("no");
    expect(can("update", "llmtrainingjobs.gantry.dev", "-n", jobs.name)).toBe("no");
    expect(can("create", "pods", "--subresource=exec", "-n", jobs.name)).toBe("no");
    expect(can("delete", "nodes")).toBe("no");

    const uninstall = helm(["uninstall", release, "--namespace", ns.name, "--wait", "--timeout", "60s"]);
    expect(uninstall.code).toBe(0);
    await waitFor("the release's objects to be gone", () => [...names("deployment,serviceaccount,service,poddisruptionbudget,role,rolebinding", ns.name), ...names("clusterrole,clusterrolebinding"), ...names("networkpolicy", jobs.name)], (left) => left.length === 0);
    // Helm keeps CRDs: the same object, not a re-created one.
    expect(kubectl(env, ["get", "crd", "llmtrainingjobs.gantry.dev", "-o", "jsonpath={.metadata.uid}"]).stdout).toBe(crdUid);
  });
});
