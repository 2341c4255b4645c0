// A long-running part of the agent, run under the supervisor (agent/runtime/supervisor.ts).

export interface Service {
  readonly name: string;
  /** Resolves when the service has stopped after `signal` aborted; rejects on a fatal failure. */
  run(signal: AbortSignal): Promise<void>;
}
