// Status of a reconciled networking object: observedGeneration and conditions, computed
// purely, compared before writing so an unchanged object is never written again.

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export interface ConfigStatus {
  observedGeneration: number;
  conditions: Condition[];
}

export type DesiredCondition = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** The status to write, keeping each condition's lastTransitionTime unless its status flipped. */
export function nextStatus(current: Partial<ConfigStatus> | undefined, generation: number, desired: DesiredCondition[], now: string): ConfigStatus {
  const prev = new Map((current?.conditions ?? []).map((c) => [c.type, c]));
  return {
    observedGeneration: generation,
    conditions: desired.map((d) => {
      const p = prev.get(d.type);
      return { ...d, observedGeneration: generation, lastTransitionTime: p && p.status === d.status ? p.lastTransitionTime : now };
    }),
  };
}

/** True when writing `next` would change nothing a reader can see. */
export function sameStatus(current: Partial<ConfigStatus> | undefined, next: ConfigStatus): boolean {
  if (!current || current.observedGeneration !== next.observedGeneration) return false;
  const cur = current.conditions ?? [];
  if (cur.length !== next.conditions.length) return false;
  return next.conditions.every((n, i) => {
    const c = cur[i];
    return c.type === n.type && c.status === n.status && c.reason === n.reason && c.message === n.message && c.observedGeneration === n.observedGeneration;
  });
}
