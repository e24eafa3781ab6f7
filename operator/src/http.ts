// /healthz (the process is alive), /readyz (caches synced and, with leader election, leading or standing by),
// /metrics (Prometheus).
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export function startHttp(port: number, ready: () => boolean, registry: Registry): Server {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok\n" : "not ready\n");
    } else if (path === "/metrics") {
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(port);
  return server;
}
