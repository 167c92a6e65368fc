import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startEphemeralStack, type EphemeralStack } from '../../infra/ephemeral';
import { freePorts, isPortInUse, listenHostFromEnv, portOpen } from '../../infra/stack';
import { ArtifactStore } from '../../src/storage/store';

const stacks: EphemeralStack[] = [];
afterAll(async () => {
  for (const s of stacks) await s.stop();
});

function occupy(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('ephemeral stacks and taken ports', () => {
  it('freePorts hands out distinct ports nobody listens on', async () => {
    const ports = await freePorts(6);
    expect(new Set(ports).size).toBe(6);
    for (const p of ports) expect(await portOpen('127.0.0.1', p)).toBe(false);
  });

  it('a MinIO console port taken by another process fails the start at once, and the stack retries on fresh ports', async () => {
    const taken = await occupy((await freePorts(1))[0]);
    const takenPort = (taken.address() as net.AddressInfo).port;
    const lines: string[] = [];
    const attempts: number[][] = [];
    try {
      const started = Date.now();
      const stack = await startEphemeralStack((l) => lines.push(l), {
        choosePorts: async (attempt) => {
          const [t, ui, s3] = await freePorts(3);
          const ports = attempt === 1 ? [t, ui, s3, takenPort] : [...(await freePorts(4))];
          attempts.push(ports);
          return ports;
        },
      });
      stacks.push(stack);
      // The first attempt's MinIO exits on the taken console port; that is noticed when it exits, not after
      // the 60 s health timeout.
      expect(Date.now() - started).toBeLessThan(45_000);
      // Attempt 1 must fail on the taken port. Test files run in parallel and start stacks of their own, so a
      // fresh port can (rarely) be taken by one of them between choosing and binding: that is retried too.
      expect(attempts.length).toBeGreaterThanOrEqual(2);
      const last = attempts[attempts.length - 1];
      expect(last).not.toContain(takenPort);
      expect(stack.minioConsolePort).toBe(last[3]);
      expect(stack.s3.endpoint).toBe(`http://127.0.0.1:${last[2]}`);
      expect(lines.some((l) => /port was taken while starting \(attempt 1\)/.test(l))).toBe(true);
      const retries = lines.filter((l) => /port was taken while starting/.test(l));
      expect(retries).toHaveLength(attempts.length - 1);
      const store = ArtifactStore.fromSettings(stack.s3);
      await store.putJson('probe/ok.json', { ok: 1 });
      expect(await store.getJson('probe/ok.json')).toEqual({ ok: 1 });
      expect(await portOpen('127.0.0.1', stack.minioConsolePort)).toBe(true);
    } finally {
      taken.close();
    }
  }, 120_000);

  it('a failure that is not a taken port is not retried', async () => {
    let calls = 0;
    await expect(
      startEphemeralStack(() => {}, {
        choosePorts: async () => {
          calls += 1;
          return [70_000, 1, 2, 3];
        },
      }),
    ).rejects.toThrow();
    expect(calls).toBe(1);
    expect(isPortInUse(new Error('listen EADDRINUSE: address already in use 127.0.0.1:9001'))).toBe(true);
    expect(isPortInUse(new Error('the MinIO server did not become healthy within 60 s'))).toBe(false);
  }, 120_000);

  it('listens on loopback only by default, and on every interface with listen host 0.0.0.0', async () => {
    // 127.0.0.2 is this machine too, but a server bound to 127.0.0.1 does not answer there; one bound to
    // 0.0.0.0 does, as it does on the machine's other addresses (what workers on other machines connect to).
    const loopback = await startEphemeralStack();
    stacks.push(loopback);
    const open = await startEphemeralStack(() => {}, { listenHost: '0.0.0.0' });
    stacks.push(open);
    const port = (address: string) => Number(address.split(':')[1]);
    expect(await portOpen('127.0.0.1', port(loopback.temporal.address))).toBe(true);
    expect(await portOpen('127.0.0.2', port(loopback.temporal.address))).toBe(false);
    expect(await portOpen('127.0.0.2', Number(new URL(loopback.s3.endpoint).port))).toBe(false);
    expect(await portOpen('127.0.0.2', port(open.temporal.address))).toBe(true);
    expect(await portOpen('127.0.0.2', open.minioConsolePort)).toBe(true);
    const other = ArtifactStore.fromSettings({
      ...open.s3,
      endpoint: `http://127.0.0.2:${new URL(open.s3.endpoint).port}`,
    });
    await other.putJson('probe/remote.json', { from: '127.0.0.2' });
    expect(await ArtifactStore.fromSettings(open.s3).getJson('probe/remote.json')).toEqual({
      from: '127.0.0.2',
    });
  }, 120_000);

  it('ISTAR_LISTEN_HOST accepts 127.0.0.1 and 0.0.0.0 and names itself for anything else', () => {
    expect(listenHostFromEnv({})).toBe('127.0.0.1');
    expect(listenHostFromEnv({ ISTAR_LISTEN_HOST: ' 0.0.0.0 ' })).toBe('0.0.0.0');
    expect(listenHostFromEnv({ ISTAR_LISTEN_HOST: '127.0.0.1' })).toBe('127.0.0.1');
    expect(() => listenHostFromEnv({ ISTAR_LISTEN_HOST: '10.1.2.3' })).toThrow(
      /ISTAR_LISTEN_HOST must be 127.0.0.1 \(this machine only\) or 0.0.0.0 \(every interface\), got "10.1.2.3"/,
    );
    expect(() => listenHostFromEnv({ ISTAR_LISTEN_HOST: 'localhost' })).toThrow(/ISTAR_LISTEN_HOST/);
  });
});
