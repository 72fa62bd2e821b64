// The checks a Kubernetes API server applies to a custom resource from its CRD's structural schema
// (OpenAPI v3, the subset crds/*.yaml use), as a pure function. validate() runs it so that
// trellisctl analyze and the controllers give the verdict the API server would, not a laxer one.
//
// Unknown fields are not reported: the API server prunes them from a structural schema rather than
// rejecting them. A null field is pruned too (unless nullable), so it counts as absent.
import type { ValidationError } from './validate-errors.js';

export interface SchemaNode {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  nullable?: boolean;
  enum?: readonly unknown[];
  required?: readonly string[];
  properties?: Readonly<Record<string, SchemaNode>>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  allOf?: readonly SchemaNode[];
  anyOf?: readonly SchemaNode[];
  oneOf?: readonly SchemaNode[];
  not?: SchemaNode;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/**
 * The keywords checkSchema() acts on, and the ones that carry no rule. A unit test requires every
 * keyword in the generated schemas to be listed, so a CRD that starts using another one (pattern,
 * x-kubernetes-validations...) fails there instead of being silently ignored.
 */
export const SCHEMA_KEYWORDS: readonly string[] = [
  'type', 'format', 'nullable', 'enum', 'required', 'properties', 'additionalProperties', 'items',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems',
  'minProperties', 'maxProperties', 'allOf', 'anyOf', 'oneOf', 'not',
  'x-kubernetes-int-or-string', 'x-kubernetes-preserve-unknown-fields',
];

const INT32 = { min: -2147483648, max: 2147483647 };

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Checks `value`, found at `path`, against `schema`. An undefined value is absent: not an error here. */
export function checkSchema(schema: SchemaNode, value: unknown, path: string): ValidationError[] {
  return checkSchemaTypes(schema, value, path).errors;
}

/**
 * checkSchema(), also telling which errors are wrong types: a value of the wrong type is not
 * descended into, and a caller's own rules about it (or below it) have nothing sound to say.
 */
export function checkSchemaTypes(schema: SchemaNode, value: unknown, path: string): { errors: ValidationError[]; typeErrors: ReadonlySet<ValidationError> } {
  const errors: ValidationError[] = [];
  const typeErrors = new Set<ValidationError>();
  check(schema, value, path, errors, typeErrors);
  return { errors, typeErrors };
}

function check(s: SchemaNode, value: unknown, path: string, errors: ValidationError[], typeErrors?: Set<ValidationError>): void {
  if (value === undefined) return;
  const wrongType = (message: string): void => {
    const error = { path, message };
    errors.push(error);
    typeErrors?.add(error);
  };
  if (value === null) {
    if (!s.nullable) wrongType(`must be ${typeName(s)}, got null`);
    return;
  }
  if (s['x-kubernetes-int-or-string']) {
    if (typeof value !== 'string' && !Number.isInteger(value)) {
      wrongType(`must be an integer or a string, got ${show(value)}`);
      return;
    }
  } else if (s.type !== undefined && !hasType(s.type, value)) {
    wrongType(`must be ${typeName(s)}, got ${show(value)}`);
    return;
  }
  const before = errors.length;
  if (s.enum !== undefined && !s.enum.some((e) => e === value)) {
    errors.push({ path, message: `must be one of ${s.enum.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join(', ')}, got ${show(value)}` });
  }
  if (typeof value === 'number') checkNumber(s, value, path, errors);
  if (typeof value === 'string') {
    // The API server counts characters (runes), not UTF-16 units.
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength) errors.push({ path, message: `must be at least ${s.minLength} characters long, got ${length}` });
    if (s.maxLength !== undefined && length > s.maxLength) errors.push({ path, message: `must be at most ${s.maxLength} characters long, got ${length}` });
  }
  if (Array.isArray(value)) checkArray(s, value, path, errors, typeErrors);
  else if (isObject(value)) checkObject(s, value, path, errors, typeErrors);
  // Combinators are judged on a value that is otherwise well formed, so a wrong field is reported
  // once, where it is, and not again as "matches none of the alternatives".
  if (errors.length === before) checkCombinators(s, value, path, errors, typeErrors);
}

function hasType(type: NonNullable<SchemaNode['type']>, value: unknown): boolean {
  switch (type) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
  }
}

function typeName(s: SchemaNode): string {
  if (s['x-kubernetes-int-or-string']) return 'an integer or a string';
  switch (s.type) {
    case 'object':
      return 'an object';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    default:
      return 'set';
  }
}

function show(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (isObject(value)) return 'an object';
  return JSON.stringify(value) ?? String(value);
}

function checkNumber(s: SchemaNode, value: number, path: string, errors: ValidationError[]): void {
  if (s.format === 'int32' && (value < INT32.min || value > INT32.max)) {
    errors.push({ path, message: `must fit in 32 bits (${INT32.min} to ${INT32.max}), got ${value}` });
  }
  if (s.minimum !== undefined && (s.exclusiveMinimum ? value <= s.minimum : value < s.minimum)) {
    errors.push({ path, message: `must be ${s.exclusiveMinimum ? 'greater than' : 'at least'} ${s.minimum}, got ${value}` });
  }
  if (s.maximum !== undefined && (s.exclusiveMaximum ? value >= s.maximum : value > s.maximum)) {
    errors.push({ path, message: `must be ${s.exclusiveMaximum ? 'less than' : 'at most'} ${s.maximum}, got ${value}` });
  }
}

function checkArray(s: SchemaNode, value: readonly unknown[], path: string, errors: ValidationError[], typeErrors?: Set<ValidationError>): void {
  if (s.minItems !== undefined && value.length < s.minItems) errors.push({ path, message: `must have at least ${s.minItems} items, got ${value.length}` });
  if (s.maxItems !== undefined && value.length > s.maxItems) errors.push({ path, message: `must have at most ${s.maxItems} items, got ${value.length}` });
  if (s.items !== undefined) value.forEach((item, i) => check(s.items as SchemaNode, item, `${path}[${i}]`, errors, typeErrors));
}

function checkObject(s: SchemaNode, value: Readonly<Record<string, unknown>>, path: string, errors: ValidationError[], typeErrors?: Set<ValidationError>): void {
  const keys = Object.keys(value).filter((k) => value[k] !== undefined);
  if (s.minProperties !== undefined && keys.length < s.minProperties) errors.push({ path, message: `must have at least ${s.minProperties} entries, got ${keys.length}` });
  if (s.maxProperties !== undefined && keys.length > s.maxProperties) errors.push({ path, message: `must have at most ${s.maxProperties} entries, got ${keys.length}` });
  for (const name of s.required ?? []) {
    if (!isPresent(s, value, name)) errors.push({ path: `${path}.${name}`, message: 'required' });
  }
  const extra = typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
  for (const key of keys) {
    const property = s.properties?.[key];
    if (property !== undefined) {
      // A non-nullable null field is pruned before validation: it is absent, and `required` said so.
      if (value[key] !== null || property.nullable) check(property, value[key], `${path}.${key}`, errors, typeErrors);
    } else if (extra !== undefined) {
      check(extra, value[key], `${path}[${key}]`, errors, typeErrors);
    }
  }
}

function isPresent(s: SchemaNode, value: Readonly<Record<string, unknown>>, name: string): boolean {
  const v = value[name];
  if (v === undefined) return false;
  return v !== null || s.properties?.[name]?.nullable === true;
}

function matches(s: SchemaNode, value: unknown, path: string): boolean {
  return checkSchema(s, value, path).length === 0;
}

function checkCombinators(s: SchemaNode, value: unknown, path: string, errors: ValidationError[], typeErrors?: Set<ValidationError>): void {
  for (const branch of s.allOf ?? []) check(branch, value, path, errors, typeErrors);
  if (s.anyOf !== undefined && !s.anyOf.some((b) => matches(b, value, path))) {
    const fields = requiredFields(s.anyOf);
    errors.push({ path, message: fields ? `at least one of ${orList(fields)} is required` : 'must match at least one of the schema\'s alternatives' });
  }
  if (s.oneOf !== undefined) {
    const matched = s.oneOf.filter((b) => matches(b, value, path));
    if (matched.length !== 1) errors.push({ path, message: oneOfMessage(s.oneOf, matched) });
  }
  if (s.not !== undefined && matches(s.not, value, path)) {
    const fields = s.not.anyOf ? requiredFields(s.not.anyOf) : undefined;
    errors.push({ path, message: fields ? `must not set ${orList(fields)}` : 'must not match the schema\'s excluded form' });
  }
}

/**
 * The CRDs spell "at most one of a, b, c" as oneOf [not anyOf [required a, ...], required a, ...]
 * (and "exactly one" without the `not`): name the fields rather than the schema's structure.
 */
function oneOfMessage(branches: readonly SchemaNode[], matched: readonly SchemaNode[]): string {
  const fields = requiredFields(branches.filter((b) => b.not === undefined));
  if (fields === undefined) return matched.length === 0 ? 'must match one of the schema\'s alternatives' : 'must match only one of the schema\'s alternatives';
  if (matched.length === 0) return `one of ${orList(fields)} is required`;
  const set = requiredFields(matched.filter((b) => b.not === undefined)) ?? [];
  return `only one of ${orList(fields)} may be set, got ${set.join(' and ')}`;
}

/** The field of each branch when every branch is only `required: [field]`. */
function requiredFields(branches: readonly SchemaNode[]): string[] | undefined {
  const fields: string[] = [];
  for (const b of branches) {
    const keys = Object.keys(b);
    if (keys.length !== 1 || b.required?.length !== 1) return undefined;
    fields.push(b.required[0] as string);
  }
  return fields.length > 0 ? fields : undefined;
}

function orList(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}
