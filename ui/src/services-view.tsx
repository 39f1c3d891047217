/** Views 1 and 2 of issue #16: every service with its counts, and one service's instances (a virtual list). */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { INSTANCE_STATUSES, LIMITS } from '../../src/wire/index.js';
import type { Instance, InstanceStatus } from '../../src/sdk/client.js';
import type { Session } from './session.js';
import { DialogForm, Modal } from './dialog.js';
import { ago } from './live.js';
import { HEALTH_COUNTS, facetsOf, filterServices, healthCountOf, selectInstances, serviceRows } from './model.js';
import type { HealthCount, InstanceFilter, Sort, SortKey } from './model.js';
import { canWrite } from './rights.js';
import { hrefOf } from './routes.js';
import { ServiceSubscribers } from './subscribers-view.js';
import { rowWindow } from './window.js';

export function ServicesView({ session }: { session: Session }) {
  const [search, setSearch] = useState('');
  const [hideEmpty, setHideEmpty] = useState(false);
  const rows = filterServices(serviceRows(session.model), search, hideEmpty);
  return (
    <>
      <h1>Services</h1>
      <div class="filters">
        <label>
          Search{' '}
          <input
            type="search"
            value={search}
            placeholder="name or tag"
            onInput={(event) => {
              setSearch(event.currentTarget.value);
            }}
          />
        </label>
        <label>
          <input
            type="checkbox"
            checked={hideEmpty}
            onChange={(event) => {
              setHideEmpty(event.currentTarget.checked);
            }}
          />{' '}
          Hide empty services
        </label>
      </div>
      <table class="data">
        <caption>Services</caption>
        <thead>
          <tr>
            <th scope="col">Service</th>
            <th scope="col">Instances</th>
            <th scope="col">By status</th>
            {HEALTH_COUNTS.map((health) => (
              <th scope="col" key={health}>
                {capitalize(health)}
              </th>
            ))}
            <th scope="col">Tags</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.name}>
              <th scope="row">
                <a href={hrefOf({ view: 'service', service: row.name })}>{row.name}</a>
              </th>
              <td class="num">{row.instances}</td>
              <td>
                {INSTANCE_STATUSES.filter((status) => (row.byStatus[status] ?? 0) > 0)
                  .map((status) => `${status} ${row.byStatus[status] ?? 0}`)
                  .join(', ')}
              </td>
              {HEALTH_COUNTS.map((health) => (
                <td class={`num ${row.byHealth[health] > 0 ? `h-${health}` : 'zero'}`} key={health}>
                  {row.byHealth[health]}
                </td>
              ))}
              <td class="tags">{row.tags.join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && <p class="empty">No service matches.</p>}
    </>
  );
}

const ROW_HEIGHT = 40;
const COLUMNS: { key: SortKey | undefined; label: string }[] = [
  { key: 'id', label: 'Instance' },
  { key: 'address', label: 'Address' },
  { key: undefined, label: 'URL and endpoints' },
  { key: 'zone', label: 'Zone' },
  { key: undefined, label: 'Tags' },
  { key: 'weight', label: 'Weight' },
  { key: 'status', label: 'Status' },
  { key: 'health', label: 'Health' },
  { key: undefined, label: 'TTL' },
  { key: 'lastHeartbeat', label: 'Last heartbeat' },
];

interface Action {
  kind: 'status' | 'maintenance' | 'deregister';
  instance: Instance;
}

export function ServiceView({ session, service }: { session: Session; service: string }) {
  const byId = session.model.services.get(service);
  const [filter, setFilter] = useState<InstanceFilter>({});
  const [sort, setSort] = useState<Sort>({ key: 'id', descending: false });
  const [action, setAction] = useState<Action>();
  const writable = canWrite(session.self?.policy, service);
  const instances = selectInstances(byId, filter, sort);
  const facets = facetsOf(byId);
  const close = () => {
    setAction(undefined);
  };
  return (
    <>
      <p class="crumbs">
        <a href={hrefOf({ view: 'services' })}>Services</a> /
      </p>
      <h1>{service}</h1>
      {!byId && session.model.index > 0 && <p class="empty">No instance of {service} is registered (or readable).</p>}
      <ServiceSubscribers session={session} service={service} />
      <div class="filters">
        <Choice
          label="Status"
          value={filter.status ?? ''}
          options={INSTANCE_STATUSES}
          onChange={(status) => {
            setFilter({ ...filter, status: status as InstanceStatus | '' });
          }}
        />
        <Choice
          label="Health"
          value={filter.health ?? ''}
          options={HEALTH_COUNTS}
          onChange={(health) => {
            setFilter({ ...filter, health: health as HealthCount | '' });
          }}
        />
        <Choice
          label="Tag"
          value={filter.tag ?? ''}
          options={facets.tags}
          onChange={(tag) => {
            setFilter({ ...filter, tag });
          }}
        />
        <Choice
          label="Zone"
          value={filter.zone ?? ''}
          options={facets.zones}
          onChange={(zone) => {
            setFilter({ ...filter, zone });
          }}
        />
        <span class="count">
          {instances.length} of {byId?.size ?? 0} instances
        </span>
      </div>
      <InstanceTable
        session={session}
        instances={instances}
        sort={sort}
        onSort={setSort}
        writable={writable}
        onAction={setAction}
      />
      {action?.kind === 'status' && <StatusDialog session={session} instance={action.instance} onClose={close} />}
      {action?.kind === 'maintenance' && (
        <MaintenanceDialog session={session} instance={action.instance} onClose={close} />
      )}
      {action?.kind === 'deregister' && (
        <DeregisterDialog session={session} instance={action.instance} onClose={close} />
      )}
    </>
  );
}

/** A labelled select of `options`, with "any" (the empty value) first: one filter of the instance list. */
function Choice(props: {
  label: string;
  value: string;
  options: readonly string[];
  onChange: (value: string) => void;
}) {
  return (
    <label>
      {props.label}{' '}
      <select
        value={props.value}
        onChange={(event) => {
          props.onChange(event.currentTarget.value);
        }}
      >
        <option value="">any</option>
        {props.options.map((option) => (
          <option key={option}>{option}</option>
        ))}
      </select>
    </label>
  );
}

function InstanceTable(props: {
  session: Session;
  instances: Instance[];
  sort: Sort;
  onSort: (sort: Sort) => void;
  writable: boolean;
  onAction: (action: Action) => void;
}) {
  const { instances, sort, writable, session } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ scrollTop: 0, height: 600 });
  const measure = () => {
    const element = scroller.current;
    if (element) setView({ scrollTop: element.scrollTop, height: element.clientHeight });
  };
  useLayoutEffect(measure, []);
  useEffect(() => {
    addEventListener('resize', measure);
    return () => {
      removeEventListener('resize', measure);
    };
  }, []);
  const window = rowWindow({ count: instances.length, rowHeight: ROW_HEIGHT, ...view });
  const columns = COLUMNS.length + (writable ? 1 : 0);
  return (
    <div class="scroll" data-testid="instances-scroll" ref={scroller} onScroll={measure} tabIndex={0}>
      <table class="data instances" aria-label="Instances" aria-rowcount={instances.length + 1}>
        <thead>
          <tr aria-rowindex={1}>
            {COLUMNS.map((column) => (
              <th
                scope="col"
                key={column.label}
                aria-sort={
                  column.key !== undefined && column.key === sort.key
                    ? sort.descending
                      ? 'descending'
                      : 'ascending'
                    : undefined
                }
              >
                {column.key === undefined ? (
                  column.label
                ) : (
                  <button
                    type="button"
                    class="sort"
                    onClick={() => {
                      const key = column.key as SortKey;
                      props.onSort({ key, descending: key === sort.key ? !sort.descending : false });
                    }}
                  >
                    {column.label}
                    <span aria-hidden="true">{column.key === sort.key ? (sort.descending ? ' ▼' : ' ▲') : ''}</span>
                  </button>
                )}
              </th>
            ))}
            {writable && <th scope="col">Actions</th>}
          </tr>
        </thead>
        <tbody>
          {window.before > 0 && (
            <tr aria-hidden="true" class="spacer">
              <td colSpan={columns} style={{ height: `${window.before}px` }} />
            </tr>
          )}
          {instances.slice(window.first, window.end).map((instance, offset) => (
            <tr key={`${instance.service}/${instance.id}`} aria-rowindex={window.first + offset + 2}>
              <th scope="row">
                <a href={hrefOf({ view: 'instance', service: instance.service, id: instance.id })}>{instance.id}</a>
              </th>
              <td>
                {instance.host}:{instance.port}
              </td>
              <td class="clip" title={urlsOf(instance)}>
                {urlsOf(instance)}
              </td>
              <td>{instance.zone ?? ''}</td>
              <td class="clip">{instance.tags.join(', ')}</td>
              <td class="num">{instance.weight}</td>
              <td>{instance.status}</td>
              <td>
                <HealthBadge health={healthCountOf(instance)} />
              </td>
              <td>{instance.ttl ?? '—'}</td>
              <td>{ago(instance.lastHeartbeat, session.now)} ago</td>
              {writable && (
                <td class="actions">
                  <button
                    type="button"
                    onClick={() => {
                      props.onAction({ kind: 'status', instance });
                    }}
                  >
                    Set status
                  </button>
                  <button
                    type="button"
                    aria-pressed={instance.maintenance?.enabled === true}
                    onClick={() => {
                      props.onAction({ kind: 'maintenance', instance });
                    }}
                  >
                    Maintenance
                  </button>
                  <button
                    type="button"
                    class="danger"
                    onClick={() => {
                      props.onAction({ kind: 'deregister', instance });
                    }}
                  >
                    Deregister
                  </button>
                </td>
              )}
            </tr>
          ))}
          {window.after > 0 && (
            <tr aria-hidden="true" class="spacer">
              <td colSpan={columns} style={{ height: `${window.after}px` }} />
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function urlsOf(instance: Instance): string {
  return [instance.url, ...instance.endpoints.map((endpoint) => `${endpoint.type} ${endpoint.url}`)]
    .filter((text) => text !== undefined)
    .join(', ');
}

export function HealthBadge({ health }: { health: HealthCount }) {
  return <span class={`badge h-${health}`}>{health}</span>;
}

export function capitalize(text: string): string {
  return (text[0]?.toUpperCase() ?? '') + text.slice(1);
}

/** Runs an action of a dialog: closes it when the registry accepts, shows the refusal otherwise. */
function useSubmit(session: Session, onClose: () => void) {
  const [busy, setBusy] = useState(false);
  return {
    busy,
    submit: (action: () => Promise<unknown>) => {
      setBusy(true);
      action().then(onClose, (err: unknown) => {
        setBusy(false);
        session.fail(err);
        onClose();
      });
    },
  };
}

function StatusDialog(props: { session: Session; instance: Instance; onClose: () => void }) {
  const { instance, session } = props;
  const [status, setStatus] = useState<InstanceStatus>(instance.status);
  const { busy, submit } = useSubmit(session, props.onClose);
  return (
    <Modal title={`Set the status of ${instance.id}`} onClose={props.onClose}>
      <DialogForm
        action="Apply"
        busy={busy}
        onClose={props.onClose}
        onSubmit={() => {
          submit(() => session.client.setStatus(instance.service, instance.id, status));
        }}
      >
        <label>
          Status{' '}
          <select
            value={status}
            onChange={(event) => {
              setStatus(event.currentTarget.value as InstanceStatus);
            }}
          >
            {INSTANCE_STATUSES.map((option) => (
              <option key={option}>{option}</option>
            ))}
          </select>
        </label>
      </DialogForm>
    </Modal>
  );
}

function MaintenanceDialog(props: { session: Session; instance: Instance; onClose: () => void }) {
  const { instance, session } = props;
  const on = instance.maintenance?.enabled === true;
  const [reason, setReason] = useState(instance.maintenance?.reason ?? '');
  const { busy, submit } = useSubmit(session, props.onClose);
  return (
    <Modal title={`Maintenance of ${instance.id}`} onClose={props.onClose}>
      <DialogForm
        action={on ? 'Disable maintenance' : 'Enable maintenance'}
        busy={busy}
        onClose={props.onClose}
        onSubmit={() => {
          submit(() =>
            session.client.setMaintenance(instance.service, instance.id, { enable: !on, reason: reason.trim() }),
          );
        }}
      >
        <p>
          {on
            ? `${instance.id} is in maintenance: discovery does not offer it.`
            : `Maintenance takes ${instance.id} out of discovery without deregistering it.`}
        </p>
        <label>
          Reason{' '}
          <input
            type="text"
            maxLength={LIMITS.reason}
            value={reason}
            onInput={(event) => {
              setReason(event.currentTarget.value);
            }}
          />
        </label>
      </DialogForm>
    </Modal>
  );
}

function DeregisterDialog(props: { session: Session; instance: Instance; onClose: () => void }) {
  const { instance, session } = props;
  const { busy, submit } = useSubmit(session, props.onClose);
  return (
    <Modal title={`Deregister ${instance.id}?`} onClose={props.onClose}>
      <p>
        This removes {instance.id} ({instance.host}:{instance.port}) from {instance.service} now. If its process is
        still running and registers itself, it comes back.
      </p>
      <div class="buttons">
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={() => {
            submit(() => session.client.deregister(instance.service, instance.id));
          }}
        >
          Deregister
        </button>
        <button type="button" onClick={props.onClose} autoFocus>
          Cancel
        </button>
      </div>
    </Modal>
  );
}
