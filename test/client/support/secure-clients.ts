/**
 * SecureClients for tests: each device's local store in a temp folder apart
 * from the node's data folder (the server-blind test searches only the
 * server's files), fast reconnects, and one `closeAll` for the `finally`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IdentityKeyPair } from '@signalapp/libsignal-client';
import type { ChatServices } from '../../../actors/chat-services.ts';
import { SecureClient, type SecureClientOptions } from '../../../client/index.ts';
import { LocalStore } from '../../../client/e2ee/local-store.ts';
import { TEST_BACKOFF } from '../../support/test-node.ts';

export interface SecureClients {
  readonly dir: string;
  /** Registers a new account; its store file is `<dir>/<name>.db`. */
  register(name: string, extra?: Partial<SecureClientOptions>): Promise<SecureClient>;
  /** Opens the device stored as `name` again (after close: a restarted app). */
  open(name: string, extra?: Partial<SecureClientOptions>): Promise<SecureClient>;
  storePath(name: string): string;
  /** Closes every client made here and removes the folder. */
  closeAll(): Promise<void>;
}

export function secureClients(url: string): SecureClients {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-sdk-'));
  const made = new Set<SecureClient>();
  const storePath = (name: string) => path.join(dir, `${name}.db`);
  const track = (c: SecureClient) => {
    made.add(c);
    return c;
  };
  return {
    dir,
    storePath,
    register: async (name, extra = {}) => track(await SecureClient.register({ url, storePath: storePath(name), backoff: TEST_BACKOFF, ...extra })),
    open: async (name, extra = {}) => track(await SecureClient.open({ url, storePath: storePath(name), backoff: TEST_BACKOFF, ...extra })),
    async closeAll() {
      await Promise.all([...made].map((c) => c.close().catch(() => undefined)));
      made.clear();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the first `name` event of `emitter` whose payload passes `match`. */
export function nextEvent<T>(emitter: NodeJS.EventEmitter, name: string, match: (value: T) => boolean = () => true): Promise<T> {
  return new Promise<T>((resolve) => {
    const on = (value: T) => {
      if (!match(value)) return;
      emitter.off(name, on);
      resolve(value);
    };
    emitter.on(name, on);
  });
}

/**
 * Re-installs a device the way the account service would: the old device is
 * removed, a new one (new identity key, new device id) joins the same user,
 * and a fresh local store is written for it. Returns the new device's client.
 */
export async function reinstall(
  node: { chat: { services: ChatServices } }, sdk: SecureClients, name: string, userId: string, oldDeviceId: number,
): Promise<SecureClient> {
  const { accounts, directory } = node.chat.services;
  const pair = IdentityKeyPair.generate();
  const registrationId = 1 + Math.floor(Math.random() * 16383);
  await accounts.removeDevice({ userId, deviceId: oldDeviceId });
  const { device } = await accounts.addDevice(userId, { identityKey: pair.publicKey.serialize(), registrationId, name: '' });
  directory.invalidate(userId);
  const local = new LocalStore(sdk.storePath(name));
  local.setMeta('identity', pair.serialize());
  local.setNumber('registration-id', registrationId);
  local.setText('user-id', userId);
  local.setNumber('device-id', device.deviceId);
  local.close();
  return sdk.open(name);
}

/** Polls `check` until it returns true (bounded: fails after `timeoutMs`). */
export async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
