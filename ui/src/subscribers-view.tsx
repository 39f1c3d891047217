/**
 * Issue #19's view: who follows the registry (`GET /v1/subscribers`), what each watches, the index it has applied and
 * how far behind it is, worst first; and on a service's view, how many subscribers a drain of it waits for.
 *
 * Lag moves without registry events (a subscriber catches up, or does not), so the list is asked for every
 * `REFRESH_MS`, and again soon after each change the page's event stream brings.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { DrainAnswer, DrainSubscriber, Instance, Subscriber, SubscriberList } from '../../src/sdk/client.js';
import { DRAIN_REASON } from '../../src/wire/index.js';
import { DialogForm, Modal } from './dialog.js';
import { ago } from './live.js';
import { usePolled } from './polled.js';
import type { Polled } from './polled.js';
import { hrefOf } from './routes.js';
import type { Session } from './session.js';
import {
  DRAIN_WAITS,
  countLabel,
  drainSummary,
  durationLabel,
  isBehind,
  lagChangesLabel,
  livenessLabel,
  sortByLag,
  subscriberKey,
  subscribersOf,
  watchesLabel,
} from './subscribers.js';

const REFRESH_MS = 2_000;
/** What the drain dialog offers first: the route's own default. */
const DEFAULT_DRAIN_WAIT = '30s';

function useSubscribers(session: Session): Polled<SubscriberList> {
  const { client } = session;
  return usePolled(() => client.subscribers(), [client], { everyMs: REFRESH_MS, refreshOn: session.model.index });
}

export function SubscribersView({ session, service }: { session: Session; service: string | undefined }) {
  const answer = useSubscribers(session);
  const shown = answer.value ? sortByLag(subscribersOf(answer.value.subscribers, service)) : [];
  // Those a drain would wait for: a subscriber that is gone no longer counts.
  const behind = shown.filter((subscriber) => subscriber.live && isBehind(subscriber)).length;
  return (
    <>
      <h1>Subscribers</h1>
      <p>
        {service === undefined ? (
          'Every watcher of the services you may read: SDK watches, Discovery caches, gateways. Worst lag first.'
        ) : (
          <>
            Those a drain of <a href={hrefOf({ view: 'service', service })}>{service}</a> waits for: its subscribers and
            those of every service. Worst lag first. <a href={hrefOf({ view: 'subscribers' })}>Show all</a>
          </>
        )}
      </p>
      {answer.error !== undefined && <p class="error">{answer.error}</p>}
      {answer.value && (
        <>
          <p class="count">
            {countLabel(shown.length)}, {behind} live and behind; the registry is at index {answer.value.index}.
          </p>
          <SubscriberTable session={session} list={shown} />
          {shown.length === 0 && <EmptySubscribers service={service} />}
        </>
      )}
    </>
  );
}

function SubscriberTable({ session, list }: { session: Session; list: readonly Subscriber[] }) {
  return (
    <table class="data subscribers" aria-label="Subscribers">
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Id</th>
          <th scope="col">Watches</th>
          <th scope="col">Transport</th>
          <th scope="col">Node</th>
          <th scope="col">Applied index</th>
          <th scope="col">Lag</th>
          <th scope="col">Waiting for</th>
          <th scope="col">Last seen</th>
          <th scope="col">Live</th>
        </tr>
      </thead>
      <tbody>
        {list.map((subscriber) => {
          const behind = isBehind(subscriber);
          return (
            <tr key={subscriberKey(subscriber)}>
              <th scope="row">{subscriber.name}</th>
              <td class="clip" title={subscriber.id}>
                <code>{subscriber.id}</code>
              </td>
              <td>
                {subscriber.watches === null ? (
                  watchesLabel(null)
                ) : (
                  <a href={hrefOf({ view: 'service', service: subscriber.watches })}>{subscriber.watches}</a>
                )}
              </td>
              <td>{subscriber.transport}</td>
              <td>{subscriber.node}</td>
              <td class="num">{subscriber.applied ?? 'not yet'}</td>
              <td class={behind ? 'num behind' : 'num'}>{lagChangesLabel(subscriber)}</td>
              <td class={behind ? 'num behind' : 'num'}>{behind ? durationLabel(subscriber.lagMs) : '—'}</td>
              <td>
                <time dateTime={subscriber.lastSeen}>{ago(subscriber.lastSeen, session.now)} ago</time>
              </td>
              <td class={subscriber.live ? '' : 'zero'}>{livenessLabel(subscriber)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function EmptySubscribers({ service }: { service: string | undefined }) {
  return (
    <div class="empty">
      <p>
        {service === undefined ? 'No subscriber is known.' : `No subscriber of ${service} is known.`} A client appears
        here once it follows the registry: each SDK <code>watch()</code>, each service a <code>Discovery</code> asks
        about, and each gateway, named by its <code>subscriber</code> option (the headers{' '}
        <code>X-Switchboard-Subscriber</code> and <code>X-Switchboard-Subscriber-Name</code>).
      </p>
      <p>
        Only the subscribers of services your token may read are listed, and those of every service only with read on
        every service. One unseen for a while (<code>--subscribers-forget-after</code>) is forgotten.
      </p>
    </div>
  );
}

/** On a service's view: how many subscribers a drain of it waits for, linking to them. */
export function ServiceSubscribers({ session, service }: { session: Session; service: string }) {
  const answer = useSubscribers(session);
  if (!answer.value) return null;
  const mine = subscribersOf(answer.value.subscribers, service);
  const own = mine.filter((subscriber) => subscriber.watches === service);
  const behind = mine.filter((subscriber) => subscriber.live && isBehind(subscriber)).length;
  return (
    <p class="count">
      <a href={hrefOf({ view: 'subscribers', service })}>
        {countLabel(own.length)} of {service}, {mine.length - own.length} of every service
      </a>
      {behind > 0 ? `; ${behind} behind` : ''}
    </p>
  );
}

/**
 * On an instance's view (write right): drain it. The registry takes it out of discovery and answers once every live
 * subscriber of its service has applied that, or when the wait runs out; the dialog then shows who had and who had
 * not. Closing the dialog stops waiting, not the drain: the instance stays in maintenance until it is disabled.
 */
export function DrainAction({ session, instance }: { session: Session; instance: Instance }) {
  const [open, setOpen] = useState(false);
  const draining = instance.maintenance?.enabled === true && instance.maintenance.reason === DRAIN_REASON;
  return (
    <>
      <button
        type="button"
        onClick={() => {
          setOpen(true);
        }}
      >
        {draining ? 'Drain again' : 'Drain'}
      </button>
      {open && (
        <DrainDialog
          session={session}
          instance={instance}
          onClose={() => {
            setOpen(false);
          }}
        />
      )}
    </>
  );
}

function DrainDialog(props: { session: Session; instance: Instance; onClose: () => void }) {
  const { session, instance } = props;
  const [wait, setWait] = useState<string>(DEFAULT_DRAIN_WAIT);
  const [state, setState] = useState<{ phase: 'ask' } | { phase: 'waiting' } | { phase: 'done'; answer: DrainAnswer }>({
    phase: 'ask',
  });
  const abort = useRef<AbortController>();
  useEffect(
    () => () => {
      abort.current?.abort();
    },
    [],
  );
  const start = () => {
    const controller = new AbortController();
    abort.current = controller;
    setState({ phase: 'waiting' });
    session.client.drain(instance.service, instance.id, { wait, signal: controller.signal }).then(
      (answer) => {
        if (!controller.signal.aborted) setState({ phase: 'done', answer });
      },
      (err: unknown) => {
        if (controller.signal.aborted) return;
        session.fail(err);
        props.onClose();
      },
    );
  };
  return (
    <Modal title={`Drain ${instance.id}`} onClose={props.onClose}>
      {state.phase === 'done' ? (
        <DrainResult answer={state.answer} />
      ) : (
        <DialogForm
          action="Drain"
          busy={state.phase === 'waiting'}
          onClose={props.onClose}
          closeLabel={state.phase === 'waiting' ? 'Stop waiting' : 'Cancel'}
          onSubmit={start}
        >
          <p>
            Takes {instance.id} out of discovery (maintenance “{DRAIN_REASON}”): no new requests are sent to it, those
            in flight finish. Then waits until every live subscriber of {instance.service} has applied that.
          </p>
          <label>
            Wait at most{' '}
            <select
              value={wait}
              disabled={state.phase === 'waiting'}
              onChange={(event) => {
                setWait(event.currentTarget.value);
              }}
            >
              {DRAIN_WAITS.map((option) => (
                <option key={option}>{option}</option>
              ))}
            </select>
          </label>
          {state.phase === 'waiting' && <p role="status">Waiting for the subscribers of {instance.service}…</p>}
        </DialogForm>
      )}
      {state.phase === 'done' && (
        <div class="buttons">
          <button type="button" onClick={props.onClose} autoFocus>
            Close
          </button>
        </div>
      )}
    </Modal>
  );
}

function DrainResult({ answer }: { answer: DrainAnswer }) {
  return (
    <>
      <p role="status" class={answer.complete ? 'h-passing' : 'h-warning'}>
        {drainSummary(answer)}
      </p>
      {answer.behind.length > 0 && <DrainList label="Behind" list={answer.behind} />}
      {answer.caughtUp.length > 0 && <DrainList label="Caught up" list={answer.caughtUp} />}
      <p class="count">
        {answer.id} stays in maintenance (“{DRAIN_REASON}”) until it is deregistered or its maintenance is disabled.
      </p>
    </>
  );
}

function DrainList({ label, list }: { label: string; list: DrainSubscriber[] }) {
  return (
    <table class="data" aria-label={label}>
      <caption>{label}</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Node</th>
          <th scope="col">Watches</th>
          <th scope="col">Applied</th>
        </tr>
      </thead>
      <tbody>
        {list.map((subscriber) => (
          <tr key={subscriberKey(subscriber)}>
            <th scope="row" title={subscriber.id}>
              {subscriber.name}
            </th>
            <td>{subscriber.node}</td>
            <td>{watchesLabel(subscriber.watches)}</td>
            <td class="num">{subscriber.applied ?? 'not yet'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
