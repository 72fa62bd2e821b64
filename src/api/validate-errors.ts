// Validation results: each error names a field path and the rule it breaks. Rendered for users as
// `<Kind> <namespace>/<name>: <field path>: <rule>`.

export interface ValidationError {
  /** Field path from the object root, e.g. `spec.http[0].route[1].weight`. */
  path: string;
  /** The rule that is broken, e.g. `must not be negative, got -10`. */
  message: string;
}

/** One line a person can act on: `VirtualService default/reviews: spec.hosts[0]: ...`. */
export function formatError(kind: string, namespace: string, name: string, error: ValidationError): string {
  return `${kind} ${namespace}/${name}: ${error.path}: ${error.message}`;
}

export function formatErrors(kind: string, namespace: string, name: string, errors: readonly ValidationError[]): string[] {
  return errors.map((error) => formatError(kind, namespace, name, error));
}

/** Collects errors while a validator walks a spec. */
export class ErrorList {
  readonly errors: ValidationError[] = [];

  add(path: string, message: string): void {
    this.errors.push({ path, message });
  }

  /** Adds `problem` at `path` when there is one (primitives return a message or undefined). */
  check(path: string, problem: string | undefined): void {
    if (problem !== undefined) this.add(path, problem);
  }
}

/** The elements of a list field, or none when the field is absent or not a list. */
export function list<T>(value: readonly T[] | undefined | null): readonly T[] {
  return Array.isArray(value) ? value : [];
}

/** The entries of a map field, or none when the field is absent or not a map. */
export function entries<T>(value: Record<string, T> | undefined | null): [string, T][] {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.entries(value) : [];
}

/** True when a field holds a value (not absent or null). */
export function isSet<T>(value: T | undefined | null): value is T {
  return value !== undefined && value !== null;
}
