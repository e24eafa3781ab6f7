// Prometheus metrics of the operator.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileSeconds = new Histogram({
    name: "gantry_reconcile_duration_seconds",
    help: "Time to reconcile one job.",
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: "gantry_queue_depth", help: "Jobs waiting to be reconciled.", registers: [this.registry] });
  readonly jobsByPhase = new Gauge({ name: "gantry_jobs", help: "Jobs by phase.", labelNames: ["phase"], registers: [this.registry] });
  readonly restarts = new Counter({ name: "gantry_gang_restarts_total", help: "Gang restarts by cause.", labelNames: ["cause"], registers: [this.registry] });
  readonly apiErrors = new Counter({ name: "gantry_api_errors_total", help: "Failed Kubernetes API calls.", labelNames: ["verb", "resource"], registers: [this.registry] });
  readonly apiWrites = new Counter({ name: "gantry_api_writes_total", help: "Kubernetes API writes.", labelNames: ["verb", "resource"], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
