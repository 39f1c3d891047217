/**
 * Subscribers and drains (issue #19): `GET /v1/subscribers`, the acknowledgements of event-stream subscribers, and
 * `PUT /v1/services/:service/instances/:id/drain`, which answers once every live subscriber of the service has
 * applied the drain (or its wait runs out).
 *
 * A drain is maintenance with the reason `draining` (wire/ DRAIN_REASON), written through the registry's one write
 * path: it takes the instance out of discovery exactly as maintenance does, survives re-registration, and its write's
 * `modifyIndex` is the index every subscriber must reach. `PUT …/maintenance {enable:false}` undoes it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { AccessControl } from '../auth/index.js';
import type { Registry } from '../core/index.js';
import { RegistryError } from '../errors/index.js';
import type { SubscriberIdentity, SubscriberTable } from '../subscribers/index.js';
import {
  DRAIN_REASON,
  DrainAnswerSchema,
  INDEX_HEADER,
  SERVICE_NAME_PATTERN,
  SUBSCRIBER_HEADER,
  SUBSCRIBER_ID_PATTERN,
  SUBSCRIBER_NAME_HEADER,
  SUBSCRIBER_NAME_MAX,
  SubscriberListSchema,
  durationSchema,
  parseDuration,
} from '../wire/index.js';
import type { DrainAnswer, Duration, SubscriberTransport } from '../wire/index.js';
import { errorSchema, instanceParams } from './schemas.js';

const SUBSCRIBER_ID = new RegExp(SUBSCRIBER_ID_PATTERN);
/** A drain that names no `wait` waits this long (capped by `subscribers.maxDrainWaitMs`). */
const DEFAULT_DRAIN_WAIT_MS = 30_000;

/**
 * The subscriber a request names in its headers, or undefined when it names none; INVALID_ARGUMENT when the id or
 * name breaks the rules (so a hostile client cannot grow the table with huge keys).
 */
export function subscriberOf(
  headers: IncomingHttpHeaders,
  what: { watches: string | undefined; transport: SubscriberTransport; scope?: readonly string[] | undefined },
): SubscriberIdentity | undefined {
  const id = headers[SUBSCRIBER_HEADER];
  if (id === undefined) return undefined;
  if (typeof id !== 'string' || !SUBSCRIBER_ID.test(id)) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `${SUBSCRIBER_HEADER} must be 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit`,
    );
  }
  const raw = headers[SUBSCRIBER_NAME_HEADER];
  const name = typeof raw === 'string' && raw.trim() !== '' ? raw.trim() : id;
  if (name.length > SUBSCRIBER_NAME_MAX) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `${SUBSCRIBER_NAME_HEADER} may be ${SUBSCRIBER_NAME_MAX} characters at most`,
    );
  }
  return { id, name, ...what };
}

export function addSubscriberRoutes(
  app: FastifyInstance,
  registry: Registry,
  parts: { subscribers: SubscriberTable; access: AccessControl },
): void {
  const { subscribers, access } = parts;

  app.get(
    '/v1/subscribers',
    {
      config: {
        access: 'per-item',
        summary:
          'Every subscriber (SDK watches, Discovery, gateways) of the services the caller may read: what it watches, the index it applied, its lag',
        responses: { 200: SubscriberListSchema },
      },
    },
    (request, reply) => {
      const principal = access.principalOf(request.raw);
      const everywhere = principal.holdsEverywhere('read');
      // A watcher of every service is shown to those who may read every service.
      const visible = (watches: string | undefined): boolean =>
        everywhere || (watches !== undefined && principal.can('read', watches));
      return reply
        .header(INDEX_HEADER, registry.index)
        .send({ index: registry.index, subscribers: subscribers.list(visible) });
    },
  );

  app.put<{ Params: { id: string }; Querystring: { index: number; service?: string } }>(
    '/v1/subscribers/:id/applied',
    {
      schema: {
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', pattern: SUBSCRIBER_ID_PATTERN } },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['index'],
          properties: {
            index: { type: 'integer', minimum: 0, description: 'the index the subscriber has applied' },
            service: {
              type: 'string',
              pattern: SERVICE_NAME_PATTERN,
              description: 'the service its stream follows (none: every service)',
            },
          },
        },
      },
      config: {
        // The same right as the watch it acknowledges: read on its service, or (every service) read somewhere.
        access: 'in-handler',
        summary: 'An event-stream subscriber acknowledges the index it has applied (batched by the SDK)',
        responses: { 204: { type: 'null' }, 400: errorSchema, 404: errorSchema },
      },
    },
    (request, reply) => {
      const { service, index } = request.query;
      const principal = access.principalOf(request.raw);
      if (service === undefined) principal.requireSomewhere('read');
      else principal.require('read', service);
      if (!subscribers.ack(request.params.id, service, index)) {
        throw new RegistryError(
          'NOT_FOUND',
          `no subscriber ${request.params.id} of ${service ?? 'every service'} is known here: open its stream first`,
        );
      }
      return reply.code(204).send();
    },
  );

  app.put<{ Params: { service: string; id: string }; Querystring: { wait?: Duration } }>(
    '/v1/services/:service/instances/:id/drain',
    {
      schema: {
        params: instanceParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            wait: durationSchema(
              'how long to wait for the subscribers (default 30s, at most --subscribers-max-drain-wait)',
            ),
          },
        },
      },
      config: {
        access: 'write',
        summary:
          'Take an instance out of discovery (maintenance "draining") and answer once every live subscriber of its service has applied that, or when wait runs out',
        responses: { 200: DrainAnswerSchema, 400: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const { service, id } = request.params;
      const { wait } = request.query;
      const waitMs = wait === undefined ? DEFAULT_DRAIN_WAIT_MS : parseDuration(wait, 'wait');
      const instance = await registry.setMaintenance(service, id, { enable: true, reason: DRAIN_REASON });
      // The write's index: a subscriber that has applied it (or anything later) no longer routes to the instance.
      const index = instance.modifyIndex;
      const waiting = subscribers.drain(service, index, waitMs);
      // A client that hangs up stops nothing: the instance stays draining, the wait simply ends unanswered.
      const report = await waiting;
      const answer: DrainAnswer = { service, id, index, ...report };
      return reply.header(INDEX_HEADER, registry.index).send(answer);
    },
  );
}
