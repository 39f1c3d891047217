/**
 * What a Consul read keeps of its answer: `?filter=` over the fields of the endpoint's answer objects, and
 * `?node-meta=key:value` (repeatable) over the metadata of each object's node, applied after the endpoint's other
 * parameters. The fields below are those of the objects mapping.ts builds (mapping.test.ts keeps the two in step):
 * a selector names a field of the answer, as in Consul, and a field the answer lacks is refused.
 */
import type { FieldTypes } from './filter.js';
import { compileFilter } from './filter.js';
import { NODE_META } from './mapping.js';

const WEIGHTS: FieldTypes = { Passing: 'integer', Warning: 'integer' };
const STRING_MAP = { map: 'string' } as const;
const INDEXES: FieldTypes = { CreateIndex: 'integer', ModifyIndex: 'integer' };

/** `nodeOf`: an entry of `/v1/catalog/nodes`, and `Node` of a health entry. */
export const NODE_FIELDS: FieldTypes = {
  ID: 'string',
  Node: 'string',
  Address: 'string',
  Datacenter: 'string',
  TaggedAddresses: STRING_MAP,
  Meta: STRING_MAP,
  ...INDEXES,
};

/** `serviceOf`: a value of `/v1/agent/services`. */
export const AGENT_SERVICE_FIELDS: FieldTypes = {
  ID: 'string',
  Service: 'string',
  Tags: 'strings',
  Meta: STRING_MAP,
  Port: 'integer',
  Address: 'string',
  Weights: { struct: WEIGHTS },
  EnableTagOverride: 'boolean',
  Datacenter: 'string',
  ...INDEXES,
};

/** `checksOf`: an entry of `/v1/health/checks/:service`, and `Checks` of a health entry. */
export const CHECK_FIELDS: FieldTypes = {
  Node: 'string',
  CheckID: 'string',
  Name: 'string',
  Status: 'string',
  Notes: 'string',
  Output: 'string',
  ServiceID: 'string',
  ServiceName: 'string',
  ServiceTags: 'strings',
  Type: 'string',
  ...INDEXES,
};

/** `healthEntryOf`: an entry of `/v1/health/service/:service` (its Service has no Datacenter). */
export const HEALTH_ENTRY_FIELDS: FieldTypes = {
  Node: { struct: NODE_FIELDS },
  Service: { struct: Object.fromEntries(Object.entries(AGENT_SERVICE_FIELDS).filter(([key]) => key !== 'Datacenter')) },
  Checks: { list: CHECK_FIELDS },
};

/** `catalogEntryOf`: an entry of `/v1/catalog/service/:service`, and what `/v1/catalog/services` filters. */
export const CATALOG_ENTRY_FIELDS: FieldTypes = {
  ID: 'string',
  Node: 'string',
  Address: 'string',
  Datacenter: 'string',
  TaggedAddresses: STRING_MAP,
  NodeMeta: STRING_MAP,
  ServiceKind: 'string',
  ServiceID: 'string',
  ServiceName: 'string',
  ServiceTags: 'strings',
  ServiceAddress: 'string',
  ServiceWeights: { struct: WEIGHTS },
  ServiceMeta: STRING_MAP,
  ServicePort: 'integer',
  ServiceEnableTagOverride: 'boolean',
  ...INDEXES,
};

/** An endpoint's answer objects: their fields, and where each one's node metadata is (none: `node-meta` is not taken). */
export interface AnswerObjects {
  fields: FieldTypes;
  nodeMetaOf?: (item: Readonly<Record<string, unknown>>) => unknown;
}

/** What one request keeps. `variant` names it for the answer cache ('' when it keeps everything). */
export interface AnswerFilter {
  readonly variant: string;
  readonly everything: boolean;
  keeps(item: Readonly<Record<string, unknown>>): boolean;
}

type Query = Record<string, string | string[] | undefined>;

/**
 * The request's `filter` and `node-meta` for `objects`; throws INVALID_ARGUMENT for an expression that does not parse,
 * names a field the objects lack, or exceeds `maxFilterLength`.
 * @example
 * const filter = answerFilterOf(request.query, { fields: NODE_FIELDS, nodeMetaOf: (node) => node['Meta'] }, 4096);
 * nodes.filter((node) => filter.keeps(node));
 */
export function answerFilterOf(query: Query, objects: AnswerObjects, maxFilterLength: number): AnswerFilter {
  // Go's url.Values.Get, as Consul reads it: the first `filter` counts.
  const expression = single(query['filter']) ?? '';
  const filter = expression === '' ? undefined : compileFilter(expression, objects.fields, maxFilterLength);
  const pairs = objects.nodeMetaOf === undefined ? [] : nodeMetaParam(query['node-meta']);
  const { nodeMetaOf } = objects;
  const keepsNode = (item: Readonly<Record<string, unknown>>): boolean => {
    if (pairs.length === 0 || nodeMetaOf === undefined) return true;
    const meta = nodeMetaOf(item);
    return pairs.every(([key, value]) => isStringRecord(meta) && Object.hasOwn(meta, key) && meta[key] === value);
  };
  const everything = filter === undefined && pairs.length === 0;
  return {
    variant: everything ? '' : JSON.stringify([expression, pairs]),
    everything,
    keeps: (item) => keepsNode(item) && (filter === undefined || filter.matches(item)),
  };
}

/** `node-meta=key:value`, as Consul's ParseMetaPair reads it: split at the first `:`, no `:` meaning an empty value. */
function nodeMetaParam(raw: string | string[] | undefined): [string, string][] {
  const given = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return given.map((pair) => {
    const colon = pair.indexOf(':');
    return colon < 0 ? [pair, ''] : [pair.slice(0, colon), pair.slice(colon + 1)];
  });
}

/** A query parameter as Go's url.Values.Get reads it (Consul's reading of every parameter): its first value. */
export function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function isStringRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The metadata of the node of a check, whose answer names the node but does not carry its metadata. */
export function checkNodeMeta(): Readonly<Record<string, string>> {
  return NODE_META;
}
