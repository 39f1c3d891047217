import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DefinitionError, parseDefinitionText } from './definition.js';

function problems(text: string, file = 'svc.yaml'): string[] {
  try {
    parseDefinitionText(text, file);
  } catch (err) {
    if (err instanceof DefinitionError) return err.problems;
    throw err;
  }
  return [];
}

describe('service definitions', () => {
  it('normalizes a run definition: defaults, and the fallback in the metadata', () => {
    const definition = parseDefinitionText(
      'service: tickets\nfallback: sorry\nrun:\n  command: node\n  instances: {min: 1, max: 3}\nscale: {metric: inflight, target: 4, cooldown: 20s}\n',
      'tickets.yaml',
    );
    expect(definition.registration).toEqual({ ttl: '10s', metadata: { 'switchboard.fallback': 'sorry' } });
    expect(definition.run).toMatchObject({
      command: 'node',
      args: [],
      port: 'auto',
      host: '127.0.0.1',
      min: 1,
      max: 3,
    });
    expect(definition.scale).toEqual({ metric: 'inflight', target: 4, cooldownMs: 20_000 });
  });

  it('names every bad key of a file with its reason', () => {
    expect(
      problems('{"service": "x", "run": {"command": 1, "instances": {"min": 1, "max": 1}}, "colour": 1}', 'x.json'),
    ).toEqual(['colour: unexpected property', 'run.command: expected string']);
    expect(
      problems('service: x\ninstances: [{host: h, port: 1}]\nrun: {command: c, instances: {min: 0, max: 1}}\n'),
    ).toEqual(['(definition): needs exactly one of "instances" and "run"']);
    expect(
      problems(
        'service: x\ninstances: [{host: h, port: 1, ttl: 500ms}]\nscale: {metric: rps, target: 1, cooldown: 1s}',
      ),
    ).toEqual([
      'scale: only a "run" definition can scale',
      'instances[0].ttl: must be at least 1s (the agent renews it)',
    ]);
    expect(problems('service: [')[0]).toMatch(/^\(file\): not valid YAML: /);
  });
});

describe('the example definitions', () => {
  it('are valid', () => {
    const dir = new URL('../../examples/agent/', import.meta.url);
    const names = readdirSync(dir).filter((name) => /\.(json|ya?ml)$/.test(name));
    expect(names.sort()).toEqual(['tickets-sorry.yaml', 'tickets.yaml']);
    for (const name of names) {
      expect(() => parseDefinitionText(readFileSync(new URL(name, dir), 'utf8'), name), name).not.toThrow();
    }
  });
});
