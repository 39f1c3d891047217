import type { FastifyInstance } from 'fastify';
import type { Registry } from '../core/index.js';
import type { InstanceRegistration, MaintenanceBody, StatusBody } from '../wire/index.js';
import { INDEX_HEADER } from '../wire/index.js';
import {
  errorSchema,
  instanceParams,
  instanceSchema,
  maintenanceBody,
  registrationBody,
  registrationQuery,
  serviceParams,
  statusBody,
} from './schemas.js';

interface InstancePath {
  service: string;
  id: string;
}

const errors = { 400: errorSchema, 404: errorSchema };

/** Registration, heartbeat, status and deregistration of one instance. */
export function addInstanceRoutes(app: FastifyInstance, registry: Registry): void {
  app.put<{ Params: InstancePath; Body: InstanceRegistration; Querystring: { exclusive?: boolean } }>(
    '/v1/services/:service/instances/:id',
    {
      schema: { params: instanceParams, body: registrationBody, querystring: registrationQuery },
      config: {
        access: 'write',
        summary:
          'Register or update an instance (201 created, 200 updated; with ?exclusive=true an existing id is 409)',
        responses: { 201: instanceSchema, 200: instanceSchema, ...errors, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { service, id } = request.params;
      // The check and the write happen in the core, so two exclusive registrations cannot both see "no instance".
      const exclusive = request.query.exclusive === true;
      const { instance, created } = await registry.register({ ...request.body, service, id }, { exclusive });
      return reply
        .code(created ? 201 : 200)
        .header(INDEX_HEADER, registry.index)
        .send(instance);
    },
  );

  app.post<{ Params: { service: string }; Body: InstanceRegistration }>(
    '/v1/services/:service/instances',
    {
      schema: { params: serviceParams, body: registrationBody },
      config: {
        access: 'write',
        summary: 'Register an instance with a generated id',
        responses: { 201: instanceSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { instance } = await registry.register({ ...request.body, service: request.params.service });
      return reply.code(201).header(INDEX_HEADER, registry.index).send(instance);
    },
  );

  app.delete<{ Params: InstancePath }>(
    '/v1/services/:service/instances/:id',
    {
      schema: { params: instanceParams },
      config: { access: 'write', summary: 'Deregister an instance', responses: { 200: instanceSchema, ...errors } },
    },
    async (request, reply) => {
      const instance = await registry.deregister(request.params.service, request.params.id);
      return reply.header(INDEX_HEADER, registry.index).send(instance);
    },
  );

  app.put<{ Params: InstancePath }>(
    '/v1/services/:service/instances/:id/heartbeat',
    {
      schema: { params: instanceParams },
      config: {
        access: 'write',
        summary: 'Renew the lease; 404 means: register again',
        responses: { 200: instanceSchema, ...errors },
      },
    },
    async (request, reply) => {
      const instance = await registry.renew(request.params.service, request.params.id);
      return reply.header(INDEX_HEADER, registry.index).send(instance);
    },
  );

  app.put<{ Params: InstancePath; Body: StatusBody }>(
    '/v1/services/:service/instances/:id/status',
    {
      schema: { params: instanceParams, body: statusBody },
      config: { access: 'write', summary: 'Set the status', responses: { 200: instanceSchema, ...errors } },
    },
    async (request, reply) => {
      const instance = await registry.setStatus(request.params.service, request.params.id, request.body.status);
      return reply.header(INDEX_HEADER, registry.index).send(instance);
    },
  );

  app.put<{ Params: InstancePath; Body: MaintenanceBody }>(
    '/v1/services/:service/instances/:id/maintenance',
    {
      schema: { params: instanceParams, body: maintenanceBody },
      config: {
        access: 'write',
        summary: 'Take an instance out of discovery without deregistering it (drain), or put it back',
        responses: { 200: instanceSchema, ...errors },
      },
    },
    async (request, reply) => {
      const instance = await registry.setMaintenance(request.params.service, request.params.id, request.body);
      return reply.header(INDEX_HEADER, registry.index).send(instance);
    },
  );

  app.get<{ Params: InstancePath }>(
    '/v1/services/:service/instances/:id',
    {
      schema: { params: instanceParams },
      config: { access: 'read', summary: 'One instance', responses: { 200: instanceSchema, ...errors } },
    },
    (request, reply) => {
      const instance = registry.get(request.params.service, request.params.id);
      return reply.header(INDEX_HEADER, registry.serviceIndex(request.params.service)).send(instance);
    },
  );
}
