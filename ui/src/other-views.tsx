/** Views 3 to 6 of issue #16: an instance, the live event log, the registry itself, and the gateway's routes. */
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { CHANGE_TYPES } from '../../src/wire/index.js';
import type { ChangeType, Instance, RegistryClient } from '../../src/sdk/client.js';
import type { ClusterView, HealthAnswer } from '../../src/wire/index.js';
import type { Session } from './session.js';
import { changesOf, filterEvents } from './event-log.js';
import type { LoggedEvent } from './event-log.js';
import { ago } from './live.js';
import { usePolled } from './polled.js';
import { healthCountOf } from './model.js';
import { hrefOf } from './routes.js';
import { HealthBadge } from './services-view.js';
import { explainSelfPreservation } from './self-preservation.js';
import { canWrite } from './rights.js';
import { DrainAction } from './subscribers-view.js';

export function InstanceView({ session, service, id }: { session: Session; service: string; id: string }) {
  const instance = session.model.services.get(service)?.get(id);
  const changes = changesOf(session.log, service, id);
  return (
    <>
      <p class="crumbs">
        <a href={hrefOf({ view: 'services' })}>Services</a> /{' '}
        <a href={hrefOf({ view: 'service', service })}>{service}</a> /
      </p>
      <h1>{id}</h1>
      {instance && canWrite(session.self?.policy, service) && (
        <div class="buttons">
          <DrainAction session={session} instance={instance} />
        </div>
      )}
      {instance ? <InstanceDetails instance={instance} now={session.now} /> : <p class="empty">Not registered now.</p>}
      <h2>Recent changes</h2>
      <EventTable log={changes} label="Recent changes" empty="No change since this page opened." />
    </>
  );
}

function InstanceDetails({ instance, now }: { instance: Instance; now: number }) {
  return (
    <>
      <dl class="facts">
        <dt>Service</dt>
        <dd>{instance.service}</dd>
        <dt>Address</dt>
        <dd>
          {instance.host}:{instance.port}
        </dd>
        <dt>URL</dt>
        <dd>{instance.url ?? '—'}</dd>
        <dt>Status</dt>
        <dd>{instance.status}</dd>
        <dt>Health</dt>
        <dd>
          <HealthBadge health={healthCountOf(instance)} />
        </dd>
        <dt>Maintenance</dt>
        <dd>
          {instance.maintenance?.enabled === true ? `on: ${instance.maintenance.reason || 'no reason given'}` : 'off'}
        </dd>
        <dt>Zone</dt>
        <dd>{instance.zone ?? '—'}</dd>
        <dt>Weight</dt>
        <dd>{instance.weight}</dd>
        <dt>Tags</dt>
        <dd>{instance.tags.join(', ') || '—'}</dd>
        <dt>Endpoints</dt>
        <dd>{instance.endpoints.map((endpoint) => `${endpoint.type} ${endpoint.url}`).join(', ') || '—'}</dd>
        <dt>Registered</dt>
        <dd>
          <time dateTime={instance.registeredAt}>{instance.registeredAt}</time>
        </dd>
        <dt>Index</dt>
        <dd>
          created {instance.createIndex}, modified {instance.modifyIndex}
        </dd>
      </dl>
      <h2>Lease</h2>
      <dl class="facts">
        <dt>TTL</dt>
        <dd>{instance.ttl ?? 'none: the instance stays until deregistered'}</dd>
        <dt>Last heartbeat</dt>
        <dd>
          <time dateTime={instance.lastHeartbeat}>{ago(instance.lastHeartbeat, now)} ago</time>
        </dd>
        <dt>Removed after</dt>
        <dd>{instance.deregisterAfter ?? '—'} (lapsed lease)</dd>
        <dt>Removed after critical for</dt>
        <dd>{instance.deregisterCriticalAfter ?? '—'}</dd>
      </dl>
      <h2>Checks</h2>
      {instance.checks && instance.checks.length > 0 ? (
        <table class="data" aria-label="Checks">
          <thead>
            <tr>
              <th scope="col">Check</th>
              <th scope="col">Target</th>
              <th scope="col">State</th>
              <th scope="col">Last output</th>
              <th scope="col">Changed</th>
              <th scope="col">Interval / timeout</th>
              <th scope="col">Thresholds</th>
            </tr>
          </thead>
          <tbody>
            {instance.checks.map((check) => (
              <tr key={check.id}>
                <th scope="row">{check.id}</th>
                <td>
                  {check.kind} {check.target}
                </td>
                <td>
                  <HealthBadge health={check.status} />
                </td>
                <td>
                  <pre class="output">{check.output || '—'}</pre>
                </td>
                <td>{ago(check.updatedAt, now)} ago</td>
                <td>
                  {check.interval} / {check.timeout}
                </td>
                <td>
                  passing after {check.successBefore}, critical after {check.failuresBefore}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>No active check: the lease alone says whether it is alive.</p>
      )}
      <h2>Metadata</h2>
      {Object.keys(instance.metadata).length > 0 ? (
        <dl class="facts">
          {Object.entries(instance.metadata).map(([key, value]) => (
            <Fragment key={key}>
              <dt>{key}</dt>
              <dd>{value}</dd>
            </Fragment>
          ))}
        </dl>
      ) : (
        <p>No metadata.</p>
      )}
    </>
  );
}

export function EventsView({ session }: { session: Session }) {
  const [service, setService] = useState('');
  const [type, setType] = useState<ChangeType | ''>('');
  const shown = filterEvents(session.log, { service, type });
  return (
    <>
      <h1>Events</h1>
      <div class="filters">
        <label>
          Service{' '}
          <input
            type="text"
            value={service}
            onInput={(event) => {
              setService(event.currentTarget.value);
            }}
          />
        </label>
        <label>
          Type{' '}
          <select
            value={type}
            onChange={(event) => {
              setType(event.currentTarget.value as ChangeType | '');
            }}
          >
            <option value="">any</option>
            {CHANGE_TYPES.map((option) => (
              <option key={option}>{option}</option>
            ))}
          </select>
        </label>
        <span class="count">
          {shown.length} of the last {session.log.length} changes since this page opened
        </span>
      </div>
      <EventTable log={shown} label="Events" empty="No change yet: they appear here as they happen." />
    </>
  );
}

function EventTable({ log, label, empty }: { log: readonly LoggedEvent[]; label: string; empty: string }) {
  return (
    <>
      <table class="data" aria-label={label}>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Index</th>
            <th scope="col">Type</th>
            <th scope="col">Service</th>
            <th scope="col">Instance</th>
            <th scope="col">Status / health</th>
          </tr>
        </thead>
        <tbody>
          {log.map(({ at, event }) => (
            <tr key={event.index * 1_000_000 + event.instance.id.length + at}>
              <td>
                <time dateTime={new Date(at).toISOString()}>{new Date(at).toLocaleTimeString()}</time>
              </td>
              <td class="num">{event.index}</td>
              <td>{event.type}</td>
              <td>
                <a href={hrefOf({ view: 'service', service: event.service })}>{event.service}</a>
              </td>
              <td>
                <a href={hrefOf({ view: 'instance', service: event.service, id: event.instance.id })}>
                  {event.instance.id}
                </a>
              </td>
              <td>
                {event.instance.status} / {healthCountOf(event.instance)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {log.length === 0 && <p class="empty">{empty}</p>}
    </>
  );
}

async function readHealth(): Promise<HealthAnswer> {
  // 503 (the store is failing) still carries the whole report.
  const response = await fetch('/health', { headers: { accept: 'application/json' } });
  return (await response.json()) as HealthAnswer;
}

async function readJson<T>(client: RegistryClient, path: string): Promise<T> {
  return (await client.request<T>({ method: 'GET', path })).body;
}

export function RegistryView({ session }: { session: Session }) {
  const health = usePolled(readHealth, []);
  const cluster = usePolled(() => readJson<ClusterView>(session.client, '/v1/cluster'), [session.client]);
  const report = health.value;
  const explained = report ? explainSelfPreservation(report.selfPreservation, session.now) : undefined;
  return (
    <>
      <h1>Registry</h1>
      <h2>Store</h2>
      {health.error !== undefined && <p class="error">{health.error}</p>}
      {report && (
        <dl class="facts">
          <dt>State</dt>
          <dd class={report.status === 'ok' ? 'h-passing' : 'h-critical'}>{report.status}</dd>
          <dt>Kind</dt>
          <dd>
            {report.store.kind}
            {report.store.location === undefined ? '' : ` (${report.store.location})`}
          </dd>
          {report.store.error !== undefined && (
            <>
              <dt>Error</dt>
              <dd>{report.store.error}</dd>
            </>
          )}
          <dt>This node's view</dt>
          <dd>{report.stale ? 'stale: the store cannot be reached, answers come from the last view' : 'current'}</dd>
          <dt>Index</dt>
          <dd>{report.index}</dd>
          <dt>Services / instances / leases</dt>
          <dd>
            {report.services} / {report.instances} / {report.leases}
          </dd>
        </dl>
      )}
      <h2>Self-preservation</h2>
      {explained && (
        <section class={explained.active ? 'callout warn' : 'callout'} aria-label="Self-preservation">
          <p>
            <strong>{explained.headline}</strong>
          </p>
          {explained.paragraphs.map((text) => (
            <p key={text}>{text}</p>
          ))}
        </section>
      )}
      <h2>Nodes</h2>
      {cluster.error !== undefined && <p class="error">{cluster.error}</p>}
      {cluster.value && (
        <>
          <p>
            {cluster.value.leader === null
              ? 'No node leads right now: an election is under way, and no lease expires until one leads.'
              : `${cluster.value.leader} leads: it runs the lease sweep and the active checks.`}{' '}
            This page is served by {cluster.value.self}.
          </p>
          <table class="data" aria-label="Nodes">
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">URL</th>
                <th scope="col">Role</th>
                <th scope="col">Index applied</th>
                <th scope="col">Lag</th>
                <th scope="col">Last report</th>
              </tr>
            </thead>
            <tbody>
              {cluster.value.nodes.map((node) => (
                <tr key={node.name}>
                  <th scope="row">{node.name}</th>
                  <td>{node.url}</td>
                  <td>{node.leader ? 'leader' : 'follower'}</td>
                  <td class="num">{node.applied}</td>
                  <td class="num">{node.lag}</td>
                  <td>{ago(node.lastSeen, session.now)} ago</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

/** The part of `/_gateway/routes` (served here as `/v1/gateway/routes`) this view shows. */
interface GatewayRoutesAnswer {
  stale: boolean;
  updatedAt: string | null;
  routes: {
    prefix: string;
    service: string;
    balance: string;
    fallback: string | null;
    retained: boolean;
    instances: { id: string; address: string; eligible: boolean; ejected: boolean; ejections: number }[];
  }[];
  conflicts: { prefix: string; services: string[]; routedTo: string }[];
}

export function GatewayView({ session }: { session: Session }) {
  // Asked first, so a registry without a gateway is not asked for routes it cannot have (no 404 in the console).
  const config = usePolled(() => readJson<{ gateway: string | null }>(session.client, '/v1/ui-config'), []);
  const url = config.value?.gateway ?? null;
  if (config.value && url === null) {
    return (
      <>
        <h1>Gateway</h1>
        <p class="empty">No gateway runs inside this registry (start one with `serve --gateway-port`).</p>
      </>
    );
  }
  return url === null ? <h1>Gateway</h1> : <GatewayRoutes session={session} url={url} />;
}

function GatewayRoutes({ session, url }: { session: Session; url: string }) {
  const answer = usePolled(() => readJson<GatewayRoutesAnswer>(session.client, '/v1/gateway/routes'), [session.client]);
  const table = answer.value;
  return (
    <>
      <h1>Gateway</h1>
      <p>
        Listening at <code>{url}</code>.
      </p>
      {answer.error !== undefined && <p class="error">{answer.error}</p>}
      {table && (
        <>
          <p>
            {table.stale ? 'Stale: the gateway cannot reach the registry; it routes on the last table it had. ' : ''}
            {table.updatedAt === null ? '' : `Updated ${ago(table.updatedAt, session.now)} ago.`}
          </p>
          <table class="data" aria-label="Routes">
            <thead>
              <tr>
                <th scope="col">Prefix</th>
                <th scope="col">Service</th>
                <th scope="col">Eligible instances</th>
                <th scope="col">Ejected</th>
                <th scope="col">Ejections</th>
                <th scope="col">Balance</th>
                <th scope="col">Fallback</th>
              </tr>
            </thead>
            <tbody>
              {table.routes.map((route) => (
                <tr key={route.prefix}>
                  <th scope="row">
                    <code>{route.prefix}</code>
                  </th>
                  <td>
                    <a href={hrefOf({ view: 'service', service: route.service })}>{route.service}</a>
                    {route.retained ? ' (kept: no instance left)' : ''}
                  </td>
                  <td class="num">
                    {route.instances.filter((instance) => instance.eligible).length} of {route.instances.length}
                  </td>
                  <td>
                    {route.instances
                      .filter((instance) => instance.ejected)
                      .map((instance) => instance.id)
                      .join(', ') || '—'}
                  </td>
                  <td class="num">{route.instances.reduce((sum, instance) => sum + instance.ejections, 0)}</td>
                  <td>{route.balance}</td>
                  <td>{route.fallback ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {table.conflicts.length > 0 && (
            <>
              <h2>Conflicts</h2>
              <ul>
                {table.conflicts.map((conflict) => (
                  <li key={conflict.prefix}>
                    <code>{conflict.prefix}</code> is claimed by {conflict.services.join(', ')}; it routes to{' '}
                    {conflict.routedTo}.
                  </li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </>
  );
}
