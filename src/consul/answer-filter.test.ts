import { describe, expect, it } from 'vitest';
import { wireInstance } from '../../test/fixtures/instances.js';
import {
  AGENT_SERVICE_FIELDS,
  CATALOG_ENTRY_FIELDS,
  CHECK_FIELDS,
  HEALTH_ENTRY_FIELDS,
  NODE_FIELDS,
  answerFilterOf,
} from './answer-filter.js';
import type { FieldType, FieldTypes } from './filter.js';
import { catalogEntryOf, checksOf, healthEntryOf, nodeOf, serviceOf } from './mapping.js';

const NOW = Date.parse('2026-01-01T00:00:10Z');
const instance = wireInstance({
  tags: ['v1'],
  metadata: { env: 'prod' },
  ttl: '30s',
  lastHeartbeat: '2026-01-01T00:00:09Z',
  checks: [
    {
      id: 'service:web-1:1',
      kind: 'http',
      target: 'http://10.0.0.1/',
      interval: '10s',
      timeout: '2s',
      successBefore: 1,
      failuresBefore: 1,
      status: 'passing',
      output: '',
      updatedAt: '2026-01-01T00:00:00Z',
    },
  ],
  maintenance: { enabled: true, reason: 'r' },
});

/** That `value` has the shape `type` declares, down to each map value and list element. */
function shapeMatches(value: unknown, type: FieldType, at: string): void {
  if (type === 'string' || type === 'integer' || type === 'boolean') {
    expect(typeof value, at).toBe(type === 'integer' ? 'number' : type);
    return;
  }
  if (type === 'strings') {
    expect(Array.isArray(value) && value.every((v) => typeof v === 'string'), at).toBe(true);
    return;
  }
  if ('map' in type) {
    for (const [key, v] of Object.entries(value as object)) shapeMatches(v, type.map, `${at}.${key}`);
    return;
  }
  if ('list' in type) {
    expect(Array.isArray(value), at).toBe(true);
    for (const element of value as unknown[]) fieldsMatch(element, type.list, `${at}[]`);
    return;
  }
  fieldsMatch(value, type.struct, at);
}

function fieldsMatch(value: unknown, fields: FieldTypes, at: string): void {
  expect(Object.keys(value as object).sort(), at).toEqual(Object.keys(fields).sort());
  for (const [key, type] of Object.entries(fields))
    shapeMatches((value as Record<string, unknown>)[key], type, `${at}.${key}`);
}

describe('the filterable fields', () => {
  it('are exactly the fields of the objects each endpoint answers', () => {
    fieldsMatch(nodeOf('10.0.0.1', 'dc1'), NODE_FIELDS, 'node');
    fieldsMatch(serviceOf(instance, 'dc1'), AGENT_SERVICE_FIELDS, 'agent service');
    const checks = checksOf(instance, NOW);
    expect(checks).toHaveLength(3);
    for (const check of checks) fieldsMatch(check, CHECK_FIELDS, 'check');
    fieldsMatch(healthEntryOf(instance, { datacenter: 'dc1', now: NOW }).entry, HEALTH_ENTRY_FIELDS, 'health entry');
    fieldsMatch(catalogEntryOf(instance, 'dc1'), CATALOG_ENTRY_FIELDS, 'catalog entry');
  });
});

describe('answerFilterOf', () => {
  const objects = {
    fields: CATALOG_ENTRY_FIELDS,
    nodeMetaOf: (entry: Readonly<Record<string, unknown>>) => entry['NodeMeta'],
  };
  const entry = catalogEntryOf(instance, 'dc1');

  it('keeps everything, with an empty variant, when neither filter nor node-meta is given', () => {
    const filter = answerFilterOf({ filter: '' }, objects, 100);
    expect(filter).toMatchObject({ everything: true, variant: '' });
    expect(filter.keeps(entry)).toBe(true);
  });

  it('reads node-meta as Consul does and keeps no entry of a node without that metadata', () => {
    const filter = answerFilterOf({ 'node-meta': ['a:b:c', 'd'] }, objects, 100);
    expect(filter.everything).toBe(false);
    expect(filter.variant).toBe(
      JSON.stringify([
        '',
        [
          ['a', 'b:c'],
          ['d', ''],
        ],
      ]),
    );
    expect(filter.keeps(entry)).toBe(false);
    expect(filter.keeps({ ...entry, NodeMeta: { a: 'b:c', d: '' } })).toBe(true);
    expect(filter.keeps({ ...entry, NodeMeta: { a: 'b:c' } })).toBe(false);
  });

  it('ignores node-meta where the endpoint takes none, and takes the first filter given', () => {
    const filter = answerFilterOf(
      { 'node-meta': 'a:b', filter: ['ServiceMeta.env == prod', 'nonsense'] },
      { fields: CATALOG_ENTRY_FIELDS },
      100,
    );
    expect(filter.keeps(entry)).toBe(true);
    expect(filter.keeps({ ...entry, ServiceMeta: {} })).toBe(false);
  });

  it('refuses a filter longer than the limit', () => {
    expect(() => answerFilterOf({ filter: 'ServiceMeta.env == prod' }, objects, 10)).toThrow(
      /^Failed to create boolean expression evaluator: expression is 23 characters long, more than the 10 allowed$/,
    );
  });
});
