import { describe, expect, it } from 'vitest';
import { DEFAULTS } from './config.js';
import { loadConfig } from './load-config.js';

describe('watch options', () => {
  it('defaults to a 10,000-change, 64 MiB log, a 15 s keep-alive, a 1 MiB stream bound and a 1 min snapshot', () => {
    expect(DEFAULTS.watch).toEqual({
      changeLogSize: 10_000,
      changeLogBytes: 64 * 1024 * 1024,
      keepAliveIntervalMs: 15_000,
      streamBufferBytes: 1_048_576,
      snapshotTimeoutMs: 60_000,
    });
  });

  it('reads flags and environment variables', () => {
    const config = loadConfig({
      env: {
        SWITCHBOARD_WATCH_KEEP_ALIVE_INTERVAL: '30s',
        SWITCHBOARD_WATCH_STREAM_BUFFER: '65536',
        SWITCHBOARD_WATCH_SNAPSHOT_TIMEOUT: '5s',
      },
      flags: { 'watch-change-log-size': '500', 'watch-change-log-bytes': '1048576' },
    });
    expect(config.watch).toEqual({
      changeLogSize: 500,
      changeLogBytes: 1_048_576,
      keepAliveIntervalMs: 30_000,
      streamBufferBytes: 65_536,
      snapshotTimeoutMs: 5_000,
    });
  });

  it('reports every bad value at once', () => {
    expect(() =>
      loadConfig({ env: {}, flags: { 'watch-change-log-size': '0', 'watch-stream-buffer': 'lots' } }),
    ).toThrow(/--watch-change-log-size.*--watch-stream-buffer/);
  });
});
