// Prometheus metrics: the agent's registry (what /metrics serves) and the one way a component
// makes its counters, gauges and histograms. Without a registry a metric still counts (tests read
// it) but is exposed nowhere. Every label set is bounded by the code or the config, never by what
// a client sends.
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
} from 'prom-client';
import { agentVersion } from './version.js';

/**
 * A registry with prom-client's process and Node.js metrics under their standard names
 * (process_cpu_seconds_total, nodejs_heap_size_used_bytes, …: what stock dashboards query) and
 * maskin_build_info; components register theirs in it.
 */
export function agentMetrics(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  gauge(registry, { name: 'maskin_build_info', help: 'Always 1; the agent version and the Node.js version it runs on', labelNames: ['version', 'nodejs'] }).set(
    { version: agentVersion(), nodejs: process.versions.node },
    1,
  );
  return registry;
}

export function counter<L extends string>(registry: Registry | undefined, config: Omit<CounterConfiguration<L>, 'registers'>): Counter<L> {
  return new Counter({ ...config, registers: registry ? [registry] : [] });
}

export function gauge<L extends string>(registry: Registry | undefined, config: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L> {
  return new Gauge({ ...config, registers: registry ? [registry] : [] });
}

export function histogram<L extends string>(registry: Registry | undefined, config: Omit<HistogramConfiguration<L>, 'registers'>): Histogram<L> {
  return new Histogram({ ...config, registers: registry ? [registry] : [] });
}

/**
 * A gauge read on scrape: `read` gives every label set's value (label sets it leaves out are
 * reset). A failing `read` keeps the last values: a scrape never throws into the agent.
 */
export function observedGauge<L extends string>(
  registry: Registry | undefined,
  config: Omit<GaugeConfiguration<L>, 'registers' | 'collect'>,
  read: () => Iterable<[Partial<Record<L, string>>, number]>,
): Gauge<L> {
  return new Gauge<L>({
    ...config,
    registers: registry ? [registry] : [],
    collect() {
      let values: [Partial<Record<L, string>>, number][];
      try {
        values = [...read()];
      } catch {
        return;
      }
      this.reset();
      for (const [labels, value] of values) this.set(labels, value);
    },
  });
}
