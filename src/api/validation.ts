import type { FastifySchemaValidationError } from 'fastify';

/** Where a value failed its schema (fastify's `validationContext`). */
export type SchemaErrorDataVar = 'body' | 'headers' | 'params' | 'querystring';

/**
 * What ajv adds to an error with `verbose` (server.ts turns it on): the value and the schema
 * it failed, so that a message can say what was expected (the schema's `description`) and what
 * came.
 */
interface VerboseError extends FastifySchemaValidationError {
  data?: unknown;
  parentSchema?: { description?: string; properties?: Record<string, unknown> };
}

/** A value as a message quotes it: JSON, cut short (a hostile value may be long). */
function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

const WHERE: Record<SchemaErrorDataVar, string> = {
  querystring: 'query parameter',
  params: 'path parameter',
  body: 'field of the body',
  headers: 'header',
};

/**
 * Which error a reply names when a request has several (ajv runs with `allErrors`): an unknown
 * field first (a misspelt name also leaves a required one missing, and the misspelling is
 * what to fix), then a missing one, then the rest in ajv's order.
 */
const FIRST: Readonly<Record<string, number>> = { additionalProperties: 0, required: 1 };

/** A JSON value's type as a message names it. */
function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * One line for a request's schema errors, naming the parameter: `limit must be an integer from
 * 1 to 1000, got "0"`, `"foo" is not a query parameter of this call; it takes status, since,
 * ...`, `concurrency must be a JSON number: an integer from 1 to 256, got "16" (a string)`,
 * `the body must be a JSON object`.
 */
export function describeValidation(
  errors: readonly FastifySchemaValidationError[],
  context: SchemaErrorDataVar,
): string {
  const error = [...errors].sort((a, b) => (FIRST[a.keyword] ?? 2) - (FIRST[b.keyword] ?? 2))[0] as
    VerboseError | undefined;
  if (error === undefined) return `a ${WHERE[context]} is not valid`;
  const name = error.instancePath.slice(1).replaceAll('/', '.');
  if (error.keyword === 'additionalProperties') {
    const extra = String(error.params.additionalProperty);
    const known = Object.keys(error.parentSchema?.properties ?? {});
    const none = context === 'body' ? 'it takes none: send no body, or {}' : 'it takes none';
    const takes = known.length === 0 ? none : `it takes ${known.join(', ')}`;
    const where = context === 'body' ? 'a field of this body' : `a ${WHERE[context]} of this call`;
    return `${quote(extra)} is not ${where}; ${takes}`;
  }
  if (error.keyword === 'required') {
    return `${String(error.params.missingProperty)} is required`;
  }
  if (name === '') {
    return context === 'body' ? 'the body must be a JSON object' : `the ${context} are not valid`;
  }
  const expected = error.parentSchema?.description ?? error.message ?? 'valid';
  // A body's values are JSON, taken as they are typed: "16" is a string, not a number.
  if (context === 'body' && error.keyword === 'type') {
    const type = String(error.params.type);
    const json = type === 'integer' ? 'number' : type;
    return `${name} must be a JSON ${json}: ${expected}, got ${quote(error.data)} (${jsonType(error.data)})`;
  }
  return `${name} must be ${expected}, got ${quote(error.data)}`;
}
