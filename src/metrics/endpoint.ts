import type http from 'node:http';
import client from 'prom-client';
import type { Db } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { registry } from './metrics.ts';
import { readState, stateRegistry } from './state.ts';

/** The background thread's metrics, as prom-client's JSON; null when it cannot say (not running). */
export type OtherThreadMetrics = () => Promise<client.MetricObjectWithValues<client.MetricValue<string>>[] | null>;

/**
 * `GET /metrics`: this thread's metrics, the background thread's (merged: counters and
 * histograms add up, each series keeps its `thread` label) and the deployment's state from
 * the database. A scrape that cannot read the database still answers, without those gauges,
 * and says so in `gatehouse_metrics_state_up`.
 */
/** How this scrape went: set at each one, gathered with the rest. */
const scrapeRegistry = new client.Registry();
const stateUp = new client.Gauge({
  name: 'gatehouse_metrics_state_up',
  help: "Whether this scrape could read the deployment's state from the database",
  registers: [scrapeRegistry],
});
const backgroundUp = new client.Gauge({
  name: 'gatehouse_background_thread_up',
  help: 'Whether the background thread answered this scrape',
  registers: [scrapeRegistry],
});

export function metricsHandler(db: Db, log: Logger, background: OtherThreadMetrics): http.RequestListener {
  // One scrape at a time: they share the registries, and a burst of them must not pile queries on the database.
  let previous: Promise<void> = Promise.resolve();
  return (_req, res) => {
    previous = previous.then(() => scrape(res));
  };

  async function scrape(res: http.ServerResponse): Promise<void> {
    try {
      const state = await readState(db).then(
        () => true,
        (err: unknown) => {
          log.warn({ err }, 'metrics: the database did not answer; state gauges left out of this scrape');
          return false;
        },
      );
      const other = await background().catch(() => null);
      stateUp.set(state ? 1 : 0);
      backgroundUp.set(other ? 1 : 0);
      const parts = [await registry.getMetricsAsJSON(), await scrapeRegistry.getMetricsAsJSON()];
      if (other) parts.push(other);
      if (state) parts.push(await stateRegistry.getMetricsAsJSON());
      const merged = client.AggregatorRegistry.aggregate(parts);
      res.writeHead(200, { 'content-type': merged.contentType });
      res.end(await merged.metrics());
    } catch (err) {
      log.error({ err }, 'metrics: the scrape failed');
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('metrics unavailable\n');
    }
  }
}
