import { Etcd3, GRPCUnavailableError, type IOptions } from 'etcd3';

/** How a registry node reaches etcd. The caller passes every value: nothing here has a default. */
export interface EtcdConnectionOptions {
  /** Client URLs, `http://host:port` or `https://host:port`. */
  endpoints: string[];
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** etcd's password auth. Never logged. */
  auth?: { username: string; password: string };
  /** How long a call may wait for etcd before it fails: bounds connecting and every request. */
  dialTimeoutMs: number;
}

/**
 * One etcd client per registry node, shared by the store and the cluster node: etcd3 multiplexes their watches and
 * lease keepalives on one connection. Closing the store or the cluster node leaves it open; `close()` ends it.
 */
export interface EtcdConnection {
  readonly client: Etcd3;
  readonly endpoints: readonly string[];
  readonly dialTimeoutMs: number;
  /** The deadline of a call issued now. */
  deadline(): Date;
  close(): Promise<void>;
}

/** A watch stream that lost etcd tries again after this long, doubled per failure up to the dial timeout. */
const WATCH_RETRY_FIRST_MS = 100;

/** etcd3's watch backoff (cockatiel's IBackoff shape): doubles from WATCH_RETRY_FIRST_MS up to `maxMs`. */
interface Backoff {
  readonly duration: number;
  next(): Backoff;
}
const backoff = (duration: number, maxMs: number): Backoff => ({
  duration,
  next: () => backoff(Math.min(duration * 2, maxMs), maxMs),
});

/** etcd3's per-member fault policy (cockatiel's IPolicy shape). */
type MemberPolicy = ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>;

/** After this many failures in a row to reach a member, it is skipped for a while. */
const MEMBER_FAILURES_BEFORE_SKIP = 3;

/**
 * A circuit breaker per member: skipped for `skipMs` after MEMBER_FAILURES_BEFORE_SKIP recoverable failures in a row,
 * then tried again (one more failure skips it again). etcd3's default skips a member for 5s, which would refuse
 * every write for up to 5s after a lone etcd came back.
 */
function memberBreaker(skipMs: number): MemberPolicy {
  let failures = 0;
  let skipUntil = 0;
  const noEvent = () => ({ dispose: () => undefined });
  // `_altReturn` is a type-only member of IPolicy: no object has it.
  const policy: Omit<MemberPolicy, '_altReturn'> = {
    onSuccess: noEvent,
    onFailure: noEvent,
    async execute(fn, signal) {
      if (failures >= MEMBER_FAILURES_BEFORE_SKIP && Date.now() < skipUntil) {
        throw new Error('etcd member skipped after repeated failures');
      }
      try {
        const result = await fn({ signal: signal ?? new AbortController().signal });
        failures = 0;
        return result;
      } catch (err) {
        // Only a failure to reach the member counts: a deadline passed under load says nothing about the member,
        // and skipping it then would refuse every write for a while (seen with 1,000 writes at once).
        if (err instanceof GRPCUnavailableError) {
          failures++;
          if (failures >= MEMBER_FAILURES_BEFORE_SKIP) skipUntil = Date.now() + skipMs;
        }
        throw err;
      }
    },
  };
  return policy as MemberPolicy;
}

export function connectEtcd(options: EtcdConnectionOptions): EtcdConnection {
  const { endpoints, tls, auth, dialTimeoutMs } = options;
  const config: IOptions = {
    hosts: endpoints,
    dialTimeout: dialTimeoutMs,
    grpcOptions: {
      // A member that stops answering (paused, or a dead peer behind a live socket) is noticed by keepalive pings.
      // etcd refuses pings more often than every 5s (--grpc-keepalive-min-time).
      // Pinging at exactly etcd's minimum gets pings refused as "excess" now and then: keep a margin.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': dialTimeoutMs,
      'grpc.keepalive_permit_without_calls': 1,
      // Pages of a full read (500 records) stay under this; gRPC's default of 4 MiB is one page of large records.
      'grpc.max_receive_message_length': 128 * 1024 * 1024,
    },
    faultHandling: {
      host: () => memberBreaker(dialTimeoutMs),
      // The default backs off up to 30s, so a registry would stay blind that long after etcd came back.
      watchBackoff: backoff(WATCH_RETRY_FIRST_MS, Math.max(WATCH_RETRY_FIRST_MS, dialTimeoutMs)),
    },
  };
  if (tls) {
    config.credentials = {
      // Without a CA, grpc uses the system's roots; etcd3's type wants a Buffer but passes it to grpc as is.
      rootCertificate: tls.ca as Buffer,
      ...(tls.key && { privateKey: tls.key }),
      ...(tls.cert && { certChain: tls.cert }),
    };
  }
  if (auth) config.auth = { username: auth.username, password: auth.password };
  const client = new Etcd3(config);
  return {
    client,
    endpoints: [...endpoints],
    dialTimeoutMs,
    deadline: () => new Date(Date.now() + dialTimeoutMs),
    close: () => {
      client.close();
      return Promise.resolve();
    },
  };
}
