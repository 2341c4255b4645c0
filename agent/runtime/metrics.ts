// Prometheus metrics: the agent's registry (what /metrics serves) and the one way a component
// makes its counters and gauges. Without a registry a metric still counts (tests read it) but is
// exposed nowhere.
import { collectDefaultMetrics, Counter, Gauge, Registry, type CounterConfiguration, type GaugeConfiguration } from 'prom-client';

/** A registry with the process metrics (maskin_ prefix); components register theirs in it. */
export function agentMetrics(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'maskin_' });
  return registry;
}

export function counter<L extends string>(registry: Registry | undefined, config: Omit<CounterConfiguration<L>, 'registers'>): Counter<L> {
  return new Counter({ ...config, registers: registry ? [registry] : [] });
}

export function gauge<L extends string>(registry: Registry | undefined, config: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L> {
  return new Gauge({ ...config, registers: registry ? [registry] : [] });
}
