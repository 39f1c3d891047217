/**
 * The dashboard's shell: the header (navigation, live indicator, sign-in), the one event stream every view reads,
 * and the page the URL's fragment names. It talks to the registry over REST v1 with the SDK's RegistryClient, like
 * any other client, with the user's token.
 */
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { RegistryClient } from '../../src/sdk/client.js';
import type { TokenSelf, WatchEvent } from '../../src/sdk/client.js';
import { appendEvents } from './event-log.js';
import type { LoggedEvent } from './event-log.js';
import { liveLabel, nextLiveness } from './live.js';
import type { Liveness } from './live.js';
import { EMPTY_MODEL, applyEvents, withServiceNames } from './model.js';
import type { RegistryModel } from './model.js';
import { hrefOf, parseRoute } from './routes.js';
import { messageOf } from './session.js';
import type { Session } from './session.js';
import type { Route } from './routes.js';
import { ServiceView, ServicesView, capitalize } from './services-view.js';
import { EventsView, GatewayView, InstanceView, RegistryView } from './other-views.js';
import { SubscribersView } from './subscribers-view.js';

const TOKEN_KEY = 'switchboard.token';
/** Events are applied to the page at most this often: a burst of 10,000 registrations is one render, not 10,000. */
const FLUSH_MS = 100;

function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => {
      setHash(location.hash);
    };
    addEventListener('hashchange', changed);
    return () => {
      removeEventListener('hashchange', changed);
    };
  }, []);
  return parseRoute(hash);
}

function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => {
      setNow(Date.now());
    }, 1000);
    return () => {
      clearInterval(timer);
    };
  }, []);
  return now;
}

export function App() {
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY) ?? '');
  const client = useMemo(
    () => new RegistryClient({ url: location.origin, ...(token === '' ? {} : { token }) }),
    [token],
  );
  const [self, setSelf] = useState<TokenSelf>();
  const [model, setModel] = useState<RegistryModel>(EMPTY_MODEL);
  const [log, setLog] = useState<readonly LoggedEvent[]>([]);
  const [live, setLive] = useState<Liveness>({ state: 'connecting' });
  const [alert, setAlert] = useState('');
  const now = useNow();
  const route = useRoute();
  const fail = useCallback((err: unknown) => {
    setAlert(messageOf(err));
  }, []);

  useEffect(() => {
    setSelf(undefined);
    client.whoami().then(setSelf, (err: unknown) => {
      setAlert(`${messageOf(err)}: sign in with a valid token`);
    });
  }, [client]);

  // One watch of every service the user may read: the snapshot, then each change, applied in batches.
  useEffect(() => {
    const abort = new AbortController();
    let pending: WatchEvent[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const batch = pending;
      pending = [];
      setModel((current) => applyEvents(current, batch));
      setLog((current) => appendEvents(current, batch, { at: Date.now() }));
    };
    setModel(EMPTY_MODEL);
    setLog([]);
    setLive({ state: 'connecting' });
    client.listServices().then(
      ({ services }) => {
        setModel((current) =>
          withServiceNames(
            current,
            services.map((service) => service.name),
          ),
        );
      },
      () => undefined, // the watch reports the same failure
    );
    void (async () => {
      try {
        const watch = client.watch(undefined, {
          signal: abort.signal,
          // The page sends the services no traffic: drains must not wait for an open (or throttled background) tab.
          subscriber: false,
          onStatus: (status) => {
            setLive((current) => nextLiveness(current, status.connected, Date.now()));
          },
        });
        for await (const event of watch) {
          pending.push(event);
          // A snapshot is shown at once: it is what the page opens with.
          if (event.type === 'snapshot') flush();
          else timer ??= setTimeout(flush, FLUSH_MS);
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        setLive((current) => nextLiveness(current, false, Date.now()));
        setAlert(`The live updates stopped: ${messageOf(err)}`);
      }
    })();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [client]);

  const signIn = (secret: string) => {
    sessionStorage.setItem(TOKEN_KEY, secret.trim());
    setAlert('');
    setToken(secret.trim());
  };
  const signOut = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    setAlert('');
    setToken('');
  };

  const session: Session = { client, self, model, log, now, fail };
  const label = liveLabel(live, now);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <strong class="brand">Switchboard</strong>
        <nav aria-label="Main">
          <ul>
            {(['services', 'subscribers', 'events', 'registry', 'gateway'] as const).map((view) => (
              <li key={view}>
                <a href={hrefOf({ view })} aria-current={sectionOf(route) === view ? 'page' : undefined}>
                  {capitalize(view)}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <p
          role="status"
          class={`live live-${label.startsWith('Live') ? 'on' : label.startsWith('Stale') ? 'stale' : 'wait'}`}
        >
          {label}
        </p>
        <SignIn signedIn={token !== ''} name={self?.name} onSignIn={signIn} onSignOut={signOut} />
      </header>
      {alert !== '' && (
        <div role="alert" class="alert">
          <span>{alert}</span>
          <button
            type="button"
            onClick={() => {
              setAlert('');
            }}
          >
            Dismiss
          </button>
        </div>
      )}
      <main id="main" tabIndex={-1}>
        <Page route={route} session={session} />
      </main>
    </>
  );
}

function sectionOf(route: Route): Route['view'] {
  return route.view === 'service' || route.view === 'instance' ? 'services' : route.view;
}

function Page({ route, session }: { route: Route; session: Session }) {
  switch (route.view) {
    case 'services':
      return <ServicesView session={session} />;
    case 'service':
      return <ServiceView session={session} service={route.service} />;
    case 'instance':
      return <InstanceView session={session} service={route.service} id={route.id} />;
    case 'events':
      return <EventsView session={session} />;
    case 'subscribers':
      return <SubscribersView session={session} service={route.service} />;
    case 'registry':
      return <RegistryView session={session} />;
    case 'gateway':
      return <GatewayView session={session} />;
  }
}

function SignIn(props: {
  signedIn: boolean;
  name: string | undefined;
  onSignIn: (token: string) => void;
  onSignOut: () => void;
}) {
  const [open, setOpen] = useState(false);
  const [secret, setSecret] = useState('');
  if (props.signedIn) {
    return (
      <div class="who">
        <span>{props.name ?? 'signed in'}</span>
        <button type="button" onClick={props.onSignOut}>
          Sign out
        </button>
      </div>
    );
  }
  if (!open) {
    return (
      <div class="who">
        <button
          type="button"
          onClick={() => {
            setOpen(true);
          }}
        >
          Sign in
        </button>
      </div>
    );
  }
  return (
    <form
      class="who"
      onSubmit={(event) => {
        event.preventDefault();
        if (secret.trim() === '') return;
        setOpen(false);
        props.onSignIn(secret);
        setSecret('');
      }}
    >
      <label>
        Token{' '}
        <input
          type="password"
          autoComplete="off"
          required
          value={secret}
          // The form replaces the button that opened it: the focus goes on with it.
          autoFocus
          onInput={(event) => {
            setSecret(event.currentTarget.value);
          }}
        />
      </label>
      <button type="submit">Sign in</button>
      <button
        type="button"
        onClick={() => {
          setOpen(false);
        }}
      >
        Cancel
      </button>
    </form>
  );
}
