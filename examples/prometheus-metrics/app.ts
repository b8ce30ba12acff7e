import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import express from 'express';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { createGuard, type GuardOptions } from 'tokengate';
import { protect } from 'tokengate/express';
import { instrument } from 'tokengate/otel';

/**
 * An Express API whose `/metrics` is one Prometheus scrape of two sources: the app's own prom-client
 * registry (Node's process metrics and an `orders_listed_total` counter) and tokengate's
 * OpenTelemetry instruments, rendered by OpenTelemetry's Prometheus exporter (no server of its own:
 * it is read when `/metrics` is).
 */
export function createApp(options: GuardOptions): express.Express {
  const guard = createGuard(options);

  // tokengate's metrics: an OpenTelemetry meter whose reader is the Prometheus exporter.
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  instrument(guard, { meter: meterProvider.getMeter('tokengate') });
  const serializer = new PrometheusSerializer();

  // The app's own metrics, as it had them before: prom-client.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const ordersListed = new Counter({ name: 'orders_listed_total', help: 'Order lists served', registers: [registry] });

  const app = express();
  app.get('/orders', protect(guard, { scopes: ['orders:read'] }), (_req, res) => {
    ordersListed.inc();
    res.json([{ id: 1, item: 'coffee' }]);
  });
  // Keep /metrics off the public listener in production (another port, or a network policy).
  app.get('/metrics', (_req, res, next) => {
    Promise.all([registry.metrics(), exporter.collect()])
      .then(([own, { resourceMetrics }]) => {
        res.setHeader('Content-Type', registry.contentType);
        res.end(`${own}\n${serializer.serialize(resourceMetrics)}`);
      })
      .catch(next);
  });
  return app;
}
