// A BootObserver that keeps every step it is told about, for assertions.
import type { BootObserver, StepName, StepSubject } from '../../agent/nodes/model.js';

export interface RecordedStep {
  readonly subject: StepSubject;
  readonly step: StepName;
  readonly detail: Record<string, unknown>;
}

export interface RecordingObserver extends BootObserver {
  readonly steps: RecordedStep[];
}

export function recordingObserver(): RecordingObserver {
  const steps: RecordedStep[] = [];
  return {
    steps,
    record(subject, step, detail = {}) {
      steps.push({ subject, step, detail });
    },
  };
}
