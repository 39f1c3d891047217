/**
 * The XML-RPC endpoint on the HTTP server: `POST /RPC2` and `POST /`, the two paths Python's
 * SimpleXMLRPCServer served MicroReg on (`ServerProxy("http://host:8900")` posts to /RPC2).
 *
 * Invariant: every request gets HTTP 200 with a methodResponse, a result or a fault, and within `bodyTimeoutMs`
 * of its first byte whatever it is sent: the routes live in their own Fastify scope whose only body parser reads
 * any content type with a size cap and a deadline, and whose error handler answers faults.
 */
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessControl } from '../auth/index.js';
import type { Registry } from '../core/index.js';
import { RegistryError } from '../errors/index.js';
import { encodeFault } from './codec.js';
import { Dispatcher } from './dispatcher.js';
import { PROTOCOL_FAULTS, XmlRpcFault, isExpected, parseError, registryFault } from './fault.js';
import { microRegMethods } from './microreg-methods.js';
import { registryMethods } from './registry-methods.js';

export interface XmlRpcOptions {
  /** Largest request body, in bytes: the configuration's `http.bodyLimitBytes`. */
  bodyLimit: number;
  /** How long a request body may take to arrive. */
  bodyTimeoutMs: number;
  /** Deepest nesting of arrays and structs in a call. */
  maxDepth: number;
  /** Most calls in one system.multicall. */
  maxMulticall: number;
  /** Largest answer in bytes, counted as it is encoded; the calls of a multicall share it (issue #14). */
  maxAnswerBytes: number;
  /** Who may call what (issue #13): each method declares the right it needs. */
  access: AccessControl;
}

const XML_RPC_PATHS = ['/RPC2', '/'] as const;
const XML_TYPE = 'text/xml; charset=utf-8';

/**
 * Serves the XML-RPC endpoint over `registry`: MicroReg's methods, `registry.*` and `system.*`.
 * @example
 * const app = buildApi({ registry, logger, bodyLimit: config.http.bodyLimitBytes, watch: config.watch });
 * addXmlRpcRoutes(app, registry, { bodyLimit: config.http.bodyLimitBytes, ...config.xmlrpc });
 * await app.listen({ port: 8900 });
 */
export function addXmlRpcRoutes(app: FastifyInstance, registry: Registry, options: XmlRpcOptions): void {
  const limits = { bytes: options.bodyLimit, timeoutMs: options.bodyTimeoutMs };
  const { access } = options;
  const dispatcher = new Dispatcher(new Map([...microRegMethods(registry), ...registryMethods(registry)]), {
    maxDepth: options.maxDepth,
    maxMulticall: options.maxMulticall,
    maxAnswerBytes: options.maxAnswerBytes,
    logger: app.log,
  });

  void app.register((scope, _opts, done) => {
    // XML-RPC clients send text/xml, but old ones send anything: every body is read here as text and judged by
    // the decoder, so a JSON or form body is a -32700 fault rather than a 415.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, next) => {
      readBody(payload, limits).then(
        (body) => {
          next(null, body);
        },
        (err: unknown) => {
          next(err as Error);
        },
      );
    });
    scope.setErrorHandler(answerError);
    for (const url of XML_RPC_PATHS) {
      scope.post(url, { config: { access: 'in-handler', hidden: true } }, async (request, reply) => {
        const refusal = mediaTypeRefusal(request.headers['content-type']);
        if (refusal) return reply.type(XML_TYPE).send(encodeFault(registryFault(refusal)));
        // A token that is not valid is a fault for every method, before the call is even decoded.
        const caller = access.principalOf(request.raw);
        const body = typeof request.body === 'string' ? request.body : '';
        return reply.type(XML_TYPE).send(await dispatcher.answer(body, caller));
      });
    }
    done();
  });
}

/**
 * XML-RPC clients send text/xml. A call in any other type is not run: a web page can POST text/plain to a registry
 * on loopback without a CORS preflight, and `unregister("billing")` must not be one click away (issue #13).
 */
function mediaTypeRefusal(header: string | undefined): RegistryError | undefined {
  const type = (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'text/xml' || type === 'application/xml') return undefined;
  return new RegistryError(
    'UNSUPPORTED_MEDIA_TYPE',
    `XML-RPC calls are sent as text/xml, not ${type === '' ? 'without a Content-Type' : type}`,
  );
}

/** Errors before the call is decoded (the body too large, too slow, or its Content-Type malformed) as faults. */
function answerError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  let fault: XmlRpcFault;
  if (err instanceof XmlRpcFault) fault = err;
  else if (err instanceof RegistryError) fault = registryFault(err);
  else {
    const status = (err as Partial<FastifyError>).statusCode ?? 500;
    fault =
      status >= 400 && status < 500
        ? parseError(`${STATUS_CODES[status] ?? 'bad request'}: ${err.message}`)
        : registryFault(new RegistryError('INTERNAL', 'internal error', { cause: err }));
  }
  if (!isExpected(err) && fault.faultCode !== PROTOCOL_FAULTS.parseError)
    request.log.error({ err }, 'XML-RPC request failed');
  else request.log.info({ faultCode: fault.faultCode }, fault.faultString);
  // A body not read to its end would be taken for the next request on this connection.
  if (!request.raw.complete) void reply.header('connection', 'close');
  void reply.code(200).type(XML_TYPE).send(encodeFault(fault));
}

/**
 * Reads the body as UTF-8 text. Past `bytes` the rest is drained (so the client, still sending, can read the
 * fault) until the deadline, which bounds both slow bodies and endless ones.
 */
function readBody(stream: Readable, limits: { bytes: number; timeoutMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const tooLarge = (): RegistryError =>
      new RegistryError('PAYLOAD_TOO_LARGE', `the body is larger than ${limits.bytes} bytes`);
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      if (err) {
        // Keep reading into nothing, so the socket is not left paused with unread bytes.
        stream.on('error', () => undefined);
        stream.resume();
        reject(err);
      } else {
        resolve(Buffer.concat(chunks).toString('utf8'));
      }
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limits.bytes) chunks.push(chunk);
      else chunks.length = 0;
    };
    const onEnd = (): void => {
      finish(size > limits.bytes ? tooLarge() : undefined);
    };
    const onError = (err: Error): void => {
      finish(parseError(`the body could not be read (${err.message})`));
    };
    const timer = setTimeout(() => {
      finish(size > limits.bytes ? tooLarge() : parseError(`the body did not arrive within ${limits.timeoutMs} ms`));
    }, limits.timeoutMs);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
