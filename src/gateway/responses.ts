/**
 * The gateway's own answers: every error is the registry's JSON error body (`{ statusCode, code, error, message }`)
 * with a code from errors/codes.ts, and carries the request's X-Request-Id.
 */
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody, reasonOf } from '../errors/index.js';
import type { ErrorCode } from '../errors/index.js';

const JSON_TYPE = 'application/json; charset=utf-8';

/** An error the gateway answers itself. */
export interface GatewayError {
  code: ErrorCode;
  message: string;
}

function errorJson(error: GatewayError): { status: number; body: string } {
  const body = errorBody(error);
  return { status: body.statusCode, body: JSON.stringify(body) };
}

/** Answers an error; when the upstream's answer has already begun, the connection is cut instead. */
export function sendError(res: ServerResponse, error: GatewayError, requestId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status, body } = errorJson(error);
  const headers = [
    'content-type',
    JSON_TYPE,
    'content-length',
    String(Buffer.byteLength(body)),
    'x-request-id',
    requestId,
  ];
  // RFC 9110 §11.6.1: a 401 names the scheme the gateway expects.
  if (status === 401) headers.push('www-authenticate', 'Bearer');
  res.writeHead(status, headers);
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendBody(res, { status, contentType: JSON_TYPE, body: JSON.stringify(value) });
}

/** A page the gateway answers itself (JSON, the Prometheus text format): current figures, never to be cached. */
export function sendBody(res: ServerResponse, answer: { status: number; contentType: string; body: string }): void {
  const { status, contentType, body } = answer;
  res.writeHead(status, [
    'content-type',
    contentType,
    'content-length',
    String(Buffer.byteLength(body)),
    'cache-control',
    'no-store',
  ]);
  res.end(body);
}

/** An error answer written on a raw socket (an upgrade request has no ServerResponse), then the socket is closed. */
export function writeRawError(socket: Duplex, error: GatewayError, requestId: string): void {
  if (socket.destroyed) return;
  const { status, body } = errorJson(error);
  const lines = [
    `HTTP/1.1 ${status} ${reasonOf(status)}`,
    `content-type: ${JSON_TYPE}`,
    `content-length: ${Buffer.byteLength(body)}`,
    `x-request-id: ${requestId}`,
    ...(status === 401 ? ['www-authenticate: Bearer'] : []),
    'connection: close',
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
