/**
 * Bad input against a real node over real WebSockets (ARCHITECTURE §4 "Bad
 * input"): every malformed, oversized, unauthorised or out-of-order frame gets
 * a clear error frame and/or a close with a reason code, the node keeps
 * running, and nothing is lost. Raw `ws` sockets send what the SDK would
 * refuse to; the protocol's pure functions are the oracle (frame-fuzz.ts).
 */
import { test } from 'node:test';
import { Packr, Unpackr } from 'msgpackr';
import assert from 'node:assert/strict';
import {
  CLOSE_REASONS, CiphertextType, DEFAULT_LIMITS, ERROR_CODES, FATAL_CODES, FrameKind, NO_VIOLATIONS, PROTOCOL_VERSION, ReceiptStatus,
  authSignedBytes, encodeFrame, errorCodeFromWire, registerSignedBytes,
  type ClientFrame, type CloseCode, type ErrorCode, type ErrorFrame, type MismatchedDevicesFrame, type ServerFrame, type ViolationRecord,
} from '../../protocol/index.ts';
import { libsignalIdentity, type DeviceCredentials, type IdentitySigner, type ParleyClient } from '../../client/index.ts';
import { loginClient, registerClient, startTestNode, take } from '../support/test-node.ts';
import { RawSocket, SeededRandom, bounded, settledHeapUsed, waitUntil } from '../support/raw-socket.ts';
import { expectedOutcome, randomInput, randomSoftInput, stateAfter, wireOf, type FuzzInput, type FuzzTargets, type SimState } from '../support/frame-fuzz.ts';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** Server frames a raw client may legitimately see in answer to anything it sends. */
const ANSWER_KINDS: ReadonlySet<number> = new Set([
  FrameKind.Challenge, FrameKind.Welcome, FrameKind.Ping, FrameKind.Pong, FrameKind.Error, FrameKind.Ok, FrameKind.Sent,
  FrameKind.MismatchedDevices, FrameKind.PreKeyBundles, FrameKind.PreKeysLow, FrameKind.LinkToken, FrameKind.Deliver, FrameKind.ReceiptNotice,
]);

/** The error frame's code, by name; fails on a wire number outside ERROR_CODES. */
function codeOf(f: ServerFrame): ErrorCode {
  assert.equal(f.kind, FrameKind.Error);
  const code = errorCodeFromWire((f as ErrorFrame).code);
  assert.ok(code !== undefined, `error frame with unknown wire code ${(f as ErrorFrame).code}`);
  return code;
}

function isError(code: ErrorCode, rid?: number | null): (f: ServerFrame) => boolean {
  return (f) => f.kind === FrameKind.Error && f.code === wireOf(code) && (rid === undefined || f.rid === rid);
}

/** Everything a socket received is well-formed, of an answer kind, errors have known codes; its close code is in the table. */
function assertCleanSocket(raw: RawSocket): void {
  assert.equal(raw.undecodable, 0, 'the server never sends an undecodable frame');
  for (const f of raw.frames) {
    assert.ok(ANSWER_KINDS.has(f.kind), `unexpected server frame kind ${f.kind}`);
    if (f.kind === FrameKind.Error) codeOf(f);
  }
  if (raw.closeInfo !== undefined) {
    const code = raw.closeInfo.code;
    assert.ok(code === 1009 || CLOSE_REASONS[code as CloseCode] !== undefined, `close code ${code} is in the close-code table`);
  }
}

// ---------------------------------------------------------------------------
// the storm

interface StormStats {
  inputs: number;
  sockets: number;
  readonly codes: Map<string, number>;
  readonly closes: Map<number, number>;
  readonly outcomes: Map<string, number>;
}

const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);

type LaneMode = 'fresh' | 'hello' | 'ready' | 'ready-soft';

interface Lane {
  readonly mode: LaneMode;
  readonly rng: SeededRandom;
  readonly account?: { identity: IdentitySigner; device: DeviceCredentials };
  socket?: RawSocket;
  state: SimState;
  violations: ViolationRecord;
}

let barrierRid = 0xf000_0000;

async function openLaneSocket(url: string, lane: Lane, stats: StormStats): Promise<RawSocket> {
  stats.sockets++;
  lane.violations = NO_VIOLATIONS;
  if (lane.mode === 'fresh') {
    lane.state = 'awaiting-hello';
    return RawSocket.open(url);
  }
  if (lane.mode === 'hello') {
    lane.state = 'awaiting-auth';
    return (await RawSocket.hello(url)).raw;
  }
  lane.state = 'ready';
  return (await RawSocket.login(url, lane.account!.identity, lane.account!.device)).raw;
}

/** Sends one input and checks the node's answer against the oracle. */
async function stormOne(raw: RawSocket, lane: Lane, input: FuzzInput, stats: StormStats): Promise<void> {
  const { expected, violations } = expectedOutcome(lane.state, lane.violations, input, performance.now());
  lane.violations = violations;
  bump(stats.outcomes, expected.t === 'violation' ? `violation:${expected.code}` : expected.t);
  const mark = raw.frames.length;
  if (input.text !== undefined) raw.sendText(input.text);
  else raw.sendBytes(input.bytes!);
  // A ping after the input marks where its synchronous answer must have arrived (not allowed before hello).
  const barrier = lane.state !== 'awaiting-hello' ? (barrierRid = (barrierRid + 1) >>> 0) : undefined;
  if (barrier !== undefined) raw.sendFrame({ kind: FrameKind.Ping, rid: barrier });
  const isBarrier = (f: ServerFrame) => f.kind === FrameKind.Pong && f.rid === barrier;
  const ctx = `${input.label} in ${lane.state}`;
  switch (expected.t) {
    case 'violation': {
      if (expected.close !== undefined) {
        const info = await raw.closed();
        assert.equal(info.code, expected.close, `${ctx}: close code for ${expected.code}`);
        await raw.waitFor(isError(expected.code, expected.rid), mark, `${ctx}: error ${expected.code}`);
        if (expected.tooMany) {
          await raw.waitFor(isError('PARLEY_ERR_TOO_MANY_VIOLATIONS'), mark, `${ctx}: too many violations`);
          bump(stats.codes, 'PARLEY_ERR_TOO_MANY_VIOLATIONS');
        }
        bump(stats.codes, expected.code);
        return;
      }
      const end = await raw.waitFor(isBarrier, mark, `${ctx}: barrier pong`);
      const at = raw.frames.slice(mark, end).findIndex(isError(expected.code, expected.rid));
      assert.ok(at >= 0, `${ctx}: error ${expected.code} rid ${expected.rid} before the next frame's answer`);
      bump(stats.codes, expected.code);
      return;
    }
    case 'challenge':
      await raw.waitFor((f) => f.kind === FrameKind.Challenge && f.rid === expected.rid, mark, `${ctx}: challenge`);
      lane.state = stateAfter(lane.state, expected);
      return;
    case 'auth-failed': {
      const info = await raw.closed();
      assert.equal(info.code, 4401, `${ctx}: close 4401`);
      await raw.waitFor(isError('PARLEY_ERR_AUTH_FAILED', expected.rid), mark, `${ctx}: AUTH_FAILED`);
      bump(stats.codes, 'PARLEY_ERR_AUTH_FAILED');
      return;
    }
    case 'pong': {
      const end = await raw.waitFor(isBarrier, mark, `${ctx}: barrier pong`);
      assert.ok(raw.frames.slice(mark, end).some((f) => f.kind === FrameKind.Pong && f.rid === expected.rid), `${ctx}: pong`);
      return;
    }
    case 'accepted':
      await raw.waitFor(isBarrier, mark, `${ctx}: barrier pong`);
      return;
  }
}

async function runLane(url: string, lane: Lane, inputs: number, targets: FuzzTargets, stats: StormStats): Promise<void> {
  for (let i = 0; i < inputs; i++) {
    lane.socket ??= await bounded(openLaneSocket(url, lane, stats), `lane ${lane.mode}: open a socket`);
    const raw = lane.socket;
    stats.inputs++;
    const input = lane.mode === 'ready-soft' ? randomSoftInput(lane.rng, targets) : randomInput(lane.rng, targets);
    await stormOne(raw, lane, input, stats);
    if (raw.closeInfo !== undefined) {
      bump(stats.closes, raw.closeInfo.code);
      assertCleanSocket(raw);
      lane.socket = undefined;
    }
  }
  if (lane.socket !== undefined) {
    await lane.socket.close();
    assertCleanSocket(lane.socket);
    lane.socket = undefined;
  }
}

/** Sends `n` messages each way between two SDK clients and checks each arrives, in order, from the right sender. */
async function exchange(a: { client: ParleyClient; credentials: DeviceCredentials }, b: { client: ParleyClient; credentials: DeviceCredentials }, n: number, tag: string): Promise<void> {
  for (const [from, to] of [[a, b], [b, a]] as const) {
    const ids: string[] = [];
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      ids.push(`${tag}.${i}`);
      sends.push(from.client.send(to.credentials.userId, text(`${tag} ${i}`), { messageId: `${tag}.${i}` }));
    }
    const got = await bounded(take(to.client.messages(), n), `${tag}: ${n} messages delivered`);
    await bounded(Promise.all(sends), `${tag}: ${n} sends confirmed`);
    assert.deepEqual(got.map((m) => m.messageId), ids, `${tag}: delivered in order`);
    for (const m of got) {
      assert.equal(m.from, from.credentials.userId);
      assert.equal(str(m.ciphertext), `${tag} ${m.messageId.split('.')[1]}`);
      m.ack();
    }
  }
}

test('bad input - 3,000 random and mutated frames get errors and closes by the spec; the node runs, delivers and does not grow', async () => {
  const t = await startTestNode();
  const lanes: Lane[] = [];
  try {
    const url = t.url;
    const alice = await registerClient(url);
    const bob = await registerClient(url);
    // Accounts the storm logs in as (raw register proves that path too), a sink that exists and never reads.
    const accounts: { identity: IdentitySigner; device: DeviceCredentials }[] = [];
    for (let i = 0; i < 5; i++) {
      const identity = libsignalIdentity();
      const { raw, welcome } = await RawSocket.register(url, identity, 100 + i);
      accounts.push({ identity, device: { userId: welcome.userId, deviceId: welcome.deviceId } });
      await raw.close();
    }
    const sink = accounts.pop()!;
    const targets: FuzzTargets = {
      ghosts: ['ghost-1', 'ghost.2', 'nobody_3'],
      sink: sink.device.userId,
      victims: [alice.credentials, bob.credentials, sink.device],
    };
    const modes: LaneMode[] = ['fresh', 'fresh', 'hello', 'hello', 'ready', 'ready', 'ready', 'ready-soft'];
    modes.forEach((mode, i) => lanes.push({
      mode, rng: new SeededRandom(0x5eed + i), state: 'awaiting-hello', violations: NO_VIOLATIONS,
      account: i >= 4 ? accounts[i - 4] : undefined,
    }));
    const stats: StormStats = { inputs: 0, sockets: 0, codes: new Map(), closes: new Map(), outcomes: new Map() };
    const system = t.node.chat.system;
    const baseline = system.processCount;

    const round = async (n: number, tag: string) => {
      const perLane = Math.ceil(n / lanes.length);
      // The SDK clients talk while the storm runs; every message must arrive.
      await Promise.all([...lanes.map((lane) => runLane(url, lane, perLane, targets, stats)), exchange(alice, bob, 10, tag)]);
      // Every storm socket is closed: its connection and session processes must be gone.
      await waitUntil(() => system.processCount === baseline, `process count back to ${baseline} (now ${system.processCount})`);
    };

    await round(600, 'warmup');
    t.logs.length = 0; // the harness keeps every log line; that is test memory, not the node's
    const before = await settledHeapUsed();
    for (let r = 1; r <= 4; r++) await round(600, `round${r}`);
    t.logs.length = 0;
    const after = await settledHeapUsed();

    // And after the storm.
    await exchange(alice, bob, 20, 'after');
    assert.ok(alice.client.connected && bob.client.connected, 'the SDK clients were never disconnected');

    const growth = after - before;
    assert.ok(growth < 20 * 1024 * 1024, `heap grew ${(growth / 1048576).toFixed(1)} MB over 2,400 storm frames`);
    assert.ok(stats.inputs >= 3000, `${stats.inputs} inputs`);
    // The storm really covered the ground: many sockets, each kind of refusal, the closes of the table.
    assert.ok(stats.sockets > 300, `${stats.sockets} sockets`);
    for (const code of ['PARLEY_ERR_MALFORMED_FRAME', 'PARLEY_ERR_UNKNOWN_FRAME', 'PARLEY_ERR_INVALID_FIELD', 'PARLEY_ERR_UNEXPECTED_FRAME',
      'PARLEY_ERR_OUT_OF_ORDER', 'PARLEY_ERR_NOT_AUTHENTICATED', 'PARLEY_ERR_AUTH_FAILED', 'PARLEY_ERR_UNSUPPORTED_VERSION', 'PARLEY_ERR_TOO_MANY_VIOLATIONS'] as const) {
      assert.ok((stats.codes.get(code) ?? 0) > 0, `the storm produced ${code}: ${JSON.stringify([...stats.codes])}`);
    }
    for (const close of [4400, 4401]) assert.ok((stats.closes.get(close) ?? 0) > 0, `closes with ${close}: ${JSON.stringify([...stats.closes])}`);
    console.log(JSON.stringify({ inputs: stats.inputs, sockets: stats.sockets, growthMB: +(growth / 1048576).toFixed(2), codes: Object.fromEntries(stats.codes), closes: Object.fromEntries(stats.closes) }));
  } finally {
    for (const lane of lanes) await lane.socket?.close();
    await t.stop();
  }
});

// ---------------------------------------------------------------------------
// each client frame type: malformed, oversized, unauthorised

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const MAX_FRAME = DEFAULT_LIMITS.maxFrameBytes;

/** The frame's wire array with one field too many: the wrong number of fields. */
function withExtraField(frame: ClientFrame): Uint8Array {
  const a = unpackr.unpack(encodeFrame(frame)) as unknown[];
  a.push('extra');
  return packr.pack(a);
}

/** A valid frame followed by padding past maxFrameBytes (the transport refuses the message whole). */
function padded(frame: ClientFrame): Uint8Array {
  const bytes = encodeFrame(frame);
  const out = new Uint8Array(MAX_FRAME + 1);
  out.set(bytes);
  return out;
}

const ecKey = () => libsignalIdentity().publicKey;
const GHOST = '00000000-0000-4000-8000-000000000000';

interface KindCase {
  readonly name: string;
  /** The state where the kind is allowed: a fresh socket, after hello, or logged in. */
  readonly allowedIn: SimState;
  readonly valid: (to: string) => ClientFrame;
  /** A field over its limit, when the kind has a sized field, and the code it gets. */
  readonly oversizedField?: { readonly frame: (to: string) => ClientFrame; readonly code: ErrorCode };
  /** Where the kind is refused before login, and with what. */
  readonly unauthorised: { readonly state: SimState; readonly code: ErrorCode };
}

const KIND_CASES: readonly KindCase[] = [
  {
    name: 'hello', allowedIn: 'awaiting-hello',
    valid: () => ({ kind: FrameKind.Hello, rid: 7, version: PROTOCOL_VERSION, clientInfo: 'x' }),
    oversizedField: { frame: () => ({ kind: FrameKind.Hello, rid: 7, version: PROTOCOL_VERSION, clientInfo: 'x'.repeat(129) }), code: 'PARLEY_ERR_FIELD_TOO_LARGE' },
    unauthorised: { state: 'awaiting-auth', code: 'PARLEY_ERR_OUT_OF_ORDER' },
  },
  {
    name: 'register', allowedIn: 'awaiting-auth',
    valid: () => ({ kind: FrameKind.Register, rid: 7, identityKey: ecKey(), registrationId: 5, signature: new Uint8Array(64), linkToken: null }),
    oversizedField: { frame: () => ({ kind: FrameKind.Register, rid: 7, identityKey: ecKey(), registrationId: 5, signature: new Uint8Array(64), linkToken: new Uint8Array(65) }), code: 'PARLEY_ERR_FIELD_TOO_LARGE' },
    unauthorised: { state: 'awaiting-hello', code: 'PARLEY_ERR_OUT_OF_ORDER' },
  },
  {
    name: 'auth', allowedIn: 'awaiting-auth',
    valid: (to) => ({ kind: FrameKind.Auth, rid: 7, userId: to, deviceId: 1, signature: new Uint8Array(64) }),
    oversizedField: { frame: () => ({ kind: FrameKind.Auth, rid: 7, userId: 'u'.repeat(65), deviceId: 1, signature: new Uint8Array(64) }), code: 'PARLEY_ERR_FIELD_TOO_LARGE' },
    unauthorised: { state: 'awaiting-hello', code: 'PARLEY_ERR_OUT_OF_ORDER' },
  },
  {
    name: 'ping', allowedIn: 'ready', valid: () => ({ kind: FrameKind.Ping, rid: 7 }),
    unauthorised: { state: 'awaiting-hello', code: 'PARLEY_ERR_OUT_OF_ORDER' },
  },
  {
    name: 'pong', allowedIn: 'ready', valid: () => ({ kind: FrameKind.Pong, rid: 7 }),
    unauthorised: { state: 'awaiting-hello', code: 'PARLEY_ERR_OUT_OF_ORDER' },
  },
  {
    name: 'send', allowedIn: 'ready',
    valid: (to) => ({ kind: FrameKind.Send, rid: 7, messageId: 'm1', to, envelopes: [{ deviceId: 0, registrationId: 0, type: CiphertextType.Opaque, ciphertext: text('x') }] }),
    oversizedField: {
      frame: (to) => ({ kind: FrameKind.Send, rid: 7, messageId: 'm1', to, envelopes: [{ deviceId: 0, registrationId: 0, type: CiphertextType.Opaque, ciphertext: new Uint8Array(DEFAULT_LIMITS.maxPayloadBytes + 1) }] }),
      code: 'PARLEY_ERR_PAYLOAD_TOO_LARGE',
    },
    unauthorised: { state: 'awaiting-auth', code: 'PARLEY_ERR_NOT_AUTHENTICATED' },
  },
  {
    name: 'ack', allowedIn: 'ready', valid: () => ({ kind: FrameKind.Ack, rid: 7, seqs: [1] }),
    oversizedField: { frame: () => ({ kind: FrameKind.Ack, rid: 7, seqs: Array.from({ length: 257 }, (_, i) => i + 1) }), code: 'PARLEY_ERR_FIELD_TOO_LARGE' },
    unauthorised: { state: 'awaiting-auth', code: 'PARLEY_ERR_NOT_AUTHENTICATED' },
  },
  {
    name: 'receipt', allowedIn: 'ready', valid: (to) => ({ kind: FrameKind.Receipt, rid: 7, status: ReceiptStatus.Read, to, messageIds: ['m1'] }),
    oversizedField: { frame: (to) => ({ kind: FrameKind.Receipt, rid: 7, status: ReceiptStatus.Read, to, messageIds: Array.from({ length: 257 }, (_, i) => `m${i}`) }), code: 'PARLEY_ERR_FIELD_TOO_LARGE' },
    unauthorised: { state: 'awaiting-auth', code: 'PARLEY_ERR_NOT_AUTHENTICATED' },
  },
  {
    name: 'prekey-upload', allowedIn: 'ready',
    valid: () => ({ kind: FrameKind.PreKeyUpload, rid: 7, identityKey: ecKey(), registrationId: 5, signedPreKey: null, kyberLastResort: null, oneTimePreKeys: [], oneTimeKyberPreKeys: [] }),
    oversizedField: {
      frame: () => ({ kind: FrameKind.PreKeyUpload, rid: 7, identityKey: ecKey(), registrationId: 5, signedPreKey: null, kyberLastResort: null, oneTimePreKeys: Array.from({ length: 101 }, (_, i) => ({ id: i, publicKey: ecKey() })), oneTimeKyberPreKeys: [] }),
      code: 'PARLEY_ERR_FIELD_TOO_LARGE',
    },
    unauthorised: { state: 'awaiting-auth', code: 'PARLEY_ERR_NOT_AUTHENTICATED' },
  },
  {
    name: 'prekey-fetch', allowedIn: 'ready', valid: (to) => ({ kind: FrameKind.PreKeyFetch, rid: 7, userId: to, deviceId: 0 }),
    oversizedField: { frame: () => ({ kind: FrameKind.PreKeyFetch, rid: 7, userId: 'u'.repeat(65), deviceId: 0 }), code: 'PARLEY_ERR_FIELD_TOO_LARGE' },
    unauthorised: { state: 'awaiting-auth', code: 'PARLEY_ERR_NOT_AUTHENTICATED' },
  },
  {
    name: 'link-device', allowedIn: 'ready', valid: () => ({ kind: FrameKind.LinkDevice, rid: 7 }),
    unauthorised: { state: 'awaiting-auth', code: 'PARLEY_ERR_NOT_AUTHENTICATED' },
  },
];

/** A raw socket brought to `state` (logged in as `account` for `ready`). */
async function socketIn(url: string, state: SimState, account: { identity: IdentitySigner; device: DeviceCredentials }): Promise<RawSocket> {
  if (state === 'awaiting-hello') return RawSocket.open(url);
  if (state === 'awaiting-auth') return (await RawSocket.hello(url)).raw;
  return (await RawSocket.login(url, account.identity, account.device)).raw;
}

/**
 * Sends `bytes` in `state` and checks the answer: an error frame with `code`
 * (rid echoed when given); then a close with the code's own close code when
 * the policy says so (fatal codes, anything before login), else the socket
 * still answers a ping.
 */
async function expectRefusal(url: string, state: SimState, account: { identity: IdentitySigner; device: DeviceCredentials }, bytes: Uint8Array, code: ErrorCode, rid: number | null, what: string): Promise<void> {
  const raw = await socketIn(url, state, account);
  try {
    const mark = raw.frames.length;
    raw.sendBytes(bytes);
    const closes = state !== 'ready' || FATAL_CODES.has(code);
    if (closes) {
      const info = await raw.closed();
      const own = ERROR_CODES[code].close;
      assert.equal(info.code, own !== 0 ? own : 4400, `${what}: close code`);
      assert.equal(info.reason, CLOSE_REASONS[info.code as CloseCode].reason, `${what}: close reason`);
    } else {
      raw.sendFrame({ kind: FrameKind.Ping, rid: 424242 });
      await raw.waitFor((f) => f.kind === FrameKind.Pong && f.rid === 424242, mark, `${what}: the socket still answers`);
    }
    const at = await raw.waitFor((f) => f.kind === FrameKind.Error, mark, `${what}: error frame`);
    const err = raw.frames[at] as ErrorFrame;
    assert.equal(codeOf(err), code, `${what}: error code`);
    if (rid !== null) assert.equal(err.rid, rid, `${what}: rid echoed`);
    assertCleanSocket(raw);
  } finally {
    await raw.close();
  }
}

test('bad input - every client frame type: malformed, oversized (field and frame) and unauthorised variants', async () => {
  const t = await startTestNode();
  try {
    const identity = libsignalIdentity();
    const { raw, welcome } = await RawSocket.register(t.url, identity, 77);
    await raw.close();
    const account = { identity, device: { userId: welcome.userId, deviceId: welcome.deviceId } };
    const to = welcome.userId;
    for (const c of KIND_CASES) {
      // malformed: one field too many
      await expectRefusal(t.url, c.allowedIn, account, withExtraField(c.valid(to)), 'PARLEY_ERR_MALFORMED_FRAME', 7, `${c.name} malformed`);
      // malformed: a field of the wrong type (the request id as a string)
      const wrongType = unpackr.unpack(encodeFrame(c.valid(to))) as unknown[];
      wrongType[1] = 'seven';
      await expectRefusal(t.url, c.allowedIn, account, packr.pack(wrongType), 'PARLEY_ERR_INVALID_FIELD', null, `${c.name} wrong type`);
      // oversized: a field over its limit
      if (c.oversizedField !== undefined) {
        await expectRefusal(t.url, c.allowedIn, account, encodeFrame(c.oversizedField.frame(to)), c.oversizedField.code, 7, `${c.name} oversized field`);
      }
      // oversized: the whole message over maxFrameBytes, refused by the transport (1009) or the decoder (4413)
      const big = await socketIn(t.url, c.allowedIn, account);
      big.sendBytes(padded(c.valid(to)));
      const info = await big.closed();
      assert.ok(info.code === 1009 || info.code === 4413, `${c.name} oversized frame: closed ${info.code}`);
      assertCleanSocket(big);
      // unauthorised: before hello / before login
      await expectRefusal(t.url, c.unauthorised.state, account, encodeFrame(c.valid(to)), c.unauthorised.code, 7, `${c.name} unauthorised`);
    }
    // The node is fine: the account still logs in and works.
    const again = await RawSocket.login(t.url, identity, account.device);
    again.raw.sendFrame({ kind: FrameKind.Ping, rid: 99 });
    await again.raw.next((f) => f.kind === FrameKind.Pong && f.rid === 99);
    await again.raw.close();
  } finally {
    await t.stop();
  }
});

// ---------------------------------------------------------------------------
// specific refusals

async function rawAccount(url: string): Promise<{ identity: IdentitySigner; device: DeviceCredentials }> {
  const identity = libsignalIdentity();
  const { raw, welcome } = await RawSocket.register(url, identity, 321);
  await raw.close();
  return { identity, device: { userId: welcome.userId, deviceId: welcome.deviceId } };
}

test('bad input - oversized frames: over maxFrameBytes closes 1009, a ciphertext over 64 KiB is PAYLOAD_TOO_LARGE', async () => {
  const t = await startTestNode();
  try {
    const account = await rawAccount(t.url);
    const bob = await registerClient(t.url);
    for (const state of ['awaiting-hello', 'ready'] as const) {
      const raw = await socketIn(t.url, state, account);
      raw.sendBytes(new Uint8Array(MAX_FRAME + 1).fill(0x90));
      const info = await raw.closed();
      assert.ok(info.code === 1009 || info.code === 4413, `frame over maxFrameBytes in ${state}: ${info.code}`);
    }
    const big = (n: number): ClientFrame => ({
      kind: FrameKind.Send, rid: 31, messageId: 'big', to: bob.credentials.userId,
      envelopes: [{ deviceId: 0, registrationId: 0, type: CiphertextType.Opaque, ciphertext: new Uint8Array(n).fill(7) }],
    });
    // After login: an error frame, the connection stays, and nothing was stored.
    await expectRefusal(t.url, 'ready', account, encodeFrame(big(DEFAULT_LIMITS.maxPayloadBytes + 1)), 'PARLEY_ERR_PAYLOAD_TOO_LARGE', 31, 'payload after login');
    // Before login the same frame is refused at once: its own close code, 4413.
    await expectRefusal(t.url, 'awaiting-auth', account, encodeFrame(big(DEFAULT_LIMITS.maxPayloadBytes + 1)), 'PARLEY_ERR_PAYLOAD_TOO_LARGE', 31, 'payload before login');
    // Exactly the limit is fine and arrives whole.
    const { raw } = await RawSocket.login(t.url, account.identity, account.device);
    raw.sendBytes(encodeFrame(big(DEFAULT_LIMITS.maxPayloadBytes)));
    await raw.next((f) => f.kind === FrameKind.Sent && f.rid === 31, 'sent');
    const [m] = await bounded(take(bob.client.messages(), 1), 'the 64 KiB message');
    assert.equal(m!.messageId, 'big', 'the refused sends delivered nothing');
    assert.equal(m!.ciphertext.length, DEFAULT_LIMITS.maxPayloadBytes);
    await raw.close();
  } finally {
    await t.stop();
  }
});

test('bad input - frames before hello are OUT_OF_ORDER and before login NOT_AUTHENTICATED, each closed 4400', async () => {
  const t = await startTestNode();
  try {
    const account = await rawAccount(t.url);
    const send: ClientFrame = { kind: FrameKind.Send, rid: 5, messageId: 'm', to: account.device.userId, envelopes: [{ deviceId: 0, registrationId: 0, type: 0, ciphertext: text('x') }] };
    await expectRefusal(t.url, 'awaiting-hello', account, encodeFrame(send), 'PARLEY_ERR_OUT_OF_ORDER', 5, 'send before hello');
    await expectRefusal(t.url, 'awaiting-hello', account, encodeFrame({ kind: FrameKind.Ping, rid: 6 }), 'PARLEY_ERR_OUT_OF_ORDER', 6, 'ping before hello');
    await expectRefusal(t.url, 'awaiting-auth', account, encodeFrame(send), 'PARLEY_ERR_NOT_AUTHENTICATED', 5, 'send before login');
    await expectRefusal(t.url, 'awaiting-auth', account, encodeFrame({ kind: FrameKind.Ack, rid: 8, seqs: [1] }), 'PARLEY_ERR_NOT_AUTHENTICATED', 8, 'ack before login');
    // After login a second hello is OUT_OF_ORDER too, but only an error: the policy tolerates a few.
    await expectRefusal(t.url, 'ready', account, encodeFrame({ kind: FrameKind.Hello, rid: 9, version: 1, clientInfo: '' }), 'PARLEY_ERR_OUT_OF_ORDER', 9, 'hello after login');
    // Text messages are not frames.
    const raw = await RawSocket.open(t.url);
    raw.sendText('{"kind":"hello"}');
    assert.equal((await raw.closed()).code, 4400);
    assert.equal(codeOf(raw.frames[0]!), 'PARLEY_ERR_MALFORMED_FRAME');
  } finally {
    await t.stop();
  }
});

test('bad input - an unsupported protocol version is refused with UNSUPPORTED_VERSION and 4426', async () => {
  const t = await startTestNode();
  try {
    const raw = await RawSocket.open(t.url);
    raw.sendFrame({ kind: FrameKind.Hello, rid: 3, version: PROTOCOL_VERSION + 1, clientInfo: 'future' });
    const info = await raw.closed();
    assert.equal(info.code, 4426);
    const err = raw.frames[0] as ErrorFrame;
    assert.equal(codeOf(err), 'PARLEY_ERR_UNSUPPORTED_VERSION');
    assert.equal(err.rid, 3);
    assert.match(err.message, new RegExp(`supported: ${PROTOCOL_VERSION}`), 'the message lists the supported versions');
    assert.equal(raw.frames.length, 1, 'no challenge');
  } finally {
    await t.stop();
  }
});

/** Logs in over a raw socket with a signature by `signer` for `device`, expecting AUTH_FAILED and 4401. */
async function expectAuthFailed(url: string, signer: IdentitySigner, device: DeviceCredentials, what: string): Promise<void> {
  const { raw, challenge } = await RawSocket.hello(url);
  raw.sendFrame({ kind: FrameKind.Auth, rid: 11, userId: device.userId, deviceId: device.deviceId, signature: signer.sign(authSignedBytes(challenge.nonce, device.userId, device.deviceId)) });
  const info = await raw.closed();
  assert.equal(info.code, 4401, `${what}: close 4401`);
  assert.equal(info.reason, 'Authentication failed');
  assert.deepEqual(raw.frames.slice(1).map((f) => [f.kind, codeOf(f), (f as ErrorFrame).rid]), [[FrameKind.Error, 'PARLEY_ERR_AUTH_FAILED', 11]], `${what}: one AUTH_FAILED error, no welcome`);
}

test('bad input - auth as another user\'s device, an unknown device or an unknown user fails with AUTH_FAILED and 4401', async () => {
  const t = await startTestNode();
  try {
    const alice = await registerClient(t.url);
    const bob = await registerClient(t.url);
    const mallory = libsignalIdentity();
    await expectAuthFailed(t.url, mallory, bob.credentials, 'bob\'s device signed by another key');
    await expectAuthFailed(t.url, bob.identity, { userId: bob.credentials.userId, deviceId: 9 }, 'bob\'s key, a device bob does not have');
    await expectAuthFailed(t.url, mallory, { userId: GHOST, deviceId: 1 }, 'a user that does not exist');
    await expectAuthFailed(t.url, mallory, { userId: 'not-a-uuid', deviceId: 1 }, 'a well-formed id no account can have');
    // A signature over another nonce (a replayed login) does not pass either.
    const old = await RawSocket.hello(t.url);
    const replayed = bob.identity.sign(authSignedBytes(old.challenge.nonce, bob.credentials.userId, bob.credentials.deviceId));
    await old.raw.close();
    const { raw } = await RawSocket.hello(t.url);
    raw.sendFrame({ kind: FrameKind.Auth, rid: 12, userId: bob.credentials.userId, deviceId: bob.credentials.deviceId, signature: replayed });
    assert.equal((await raw.closed()).code, 4401, 'replayed signature');
    // Bob was never disturbed (no takeover): he is still connected and receives.
    assert.ok(bob.client.connected);
    await alice.client.send(bob.credentials.userId, text('still yours'));
    const [m] = await bounded(take(bob.client.messages(), 1), 'bob receives');
    assert.equal(str(m!.ciphertext), 'still yours');
  } finally {
    await t.stop();
  }
});

test('bad input - register whose signature does not match its identity key fails with 4401', async () => {
  const t = await startTestNode();
  try {
    const claimed = libsignalIdentity();
    const signer = libsignalIdentity();
    for (const [what, sign] of [
      ['signed by another key', (nonce: Uint8Array) => signer.sign(registerSignedBytes(nonce, claimed.publicKey, 42, null))],
      ['signed over another registration id', (nonce: Uint8Array) => claimed.sign(registerSignedBytes(nonce, claimed.publicKey, 43, null))],
      ['signed over another nonce', () => claimed.sign(registerSignedBytes(new Uint8Array(32), claimed.publicKey, 42, null))],
      ['an auth signature', (nonce: Uint8Array) => claimed.sign(authSignedBytes(nonce, 'x', 1))],
    ] as const) {
      const { raw, challenge } = await RawSocket.hello(t.url);
      raw.sendFrame({ kind: FrameKind.Register, rid: 4, identityKey: claimed.publicKey, registrationId: 42, signature: sign(challenge.nonce), linkToken: null });
      assert.equal((await raw.closed()).code, 4401, what);
      assert.equal(codeOf(raw.frames[1]!), 'PARLEY_ERR_AUTH_FAILED', what);
      assert.ok(!raw.frames.some((f) => f.kind === FrameKind.Welcome), `${what}: no account`);
    }
  } finally {
    await t.stop();
  }
});

test('bad input - a delivered message always names the authenticated sender, whatever the client sends', async () => {
  const t = await startTestNode();
  try {
    const bob = await registerClient(t.url);
    const carol = await registerClient(t.url);
    const mallory = await rawAccount(t.url);
    const to = bob.credentials.userId;
    const envelope = [0, 0, 0, text('forged?')];
    // A send with a sender field appended (there is none in the protocol): malformed, closed, nothing stored.
    await expectRefusal(t.url, 'ready', mallory, packr.pack([FrameKind.Send, 1, 'f1', to, [envelope], carol.credentials.userId, 1]), 'PARLEY_ERR_MALFORMED_FRAME', 1, 'send with a from field');
    // A deliver frame "from carol": a server-only kind, closed, nothing stored.
    await expectRefusal(t.url, 'ready', mallory, encodeFrame({ kind: FrameKind.Deliver, seq: 1, from: carol.credentials.userId, fromDevice: 1, messageId: 'f2', serverTime: 1, type: 0, ciphertext: text('forged') }), 'PARLEY_ERR_UNEXPECTED_FRAME', null, 'deliver from a client');
    // A message id that looks like carol's: still mallory's message.
    const { raw } = await RawSocket.login(t.url, mallory.identity, mallory.device);
    raw.sendBytes(packr.pack([FrameKind.Send, 2, `${carol.credentials.userId}.1`, to, [envelope]]));
    await raw.next((f) => f.kind === FrameKind.Sent && f.rid === 2, 'sent');
    await raw.close();
    await carol.client.send(to, text('marker'), { messageId: 'marker' });
    const got = await bounded(take(bob.client.messages(), 2), 'bob receives two');
    assert.deepEqual(got.map((m) => [m.messageId, m.from, m.fromDevice]), [
      [`${carol.credentials.userId}.1`, mallory.device.userId, mallory.device.deviceId],
      ['marker', carol.credentials.userId, carol.credentials.deviceId],
    ], 'from/fromDevice is the authenticated device; the forged frames delivered nothing');
  } finally {
    await t.stop();
  }
});

test('bad input - receipt and send to an unknown user get UNKNOWN_USER; the connection and later sends still work', async () => {
  const t = await startTestNode();
  try {
    const bob = await registerClient(t.url);
    const account = await rawAccount(t.url);
    const { raw } = await RawSocket.login(t.url, account.identity, account.device);
    let rid = 100;
    for (const ghost of [GHOST, 'not-a-uuid']) {
      raw.sendFrame({ kind: FrameKind.Receipt, rid: ++rid, status: ReceiptStatus.Read, to: ghost, messageIds: ['m1'] });
      const r = await raw.next((f) => f.kind === FrameKind.Error && f.rid === rid, `receipt to ${ghost}`);
      assert.equal(codeOf(r), 'PARLEY_ERR_UNKNOWN_USER');
      raw.sendFrame({ kind: FrameKind.Send, rid: ++rid, messageId: `m${rid}`, to: ghost, envelopes: [{ deviceId: 0, registrationId: 0, type: 0, ciphertext: text('x') }] });
      const s = await raw.next((f) => f.kind === FrameKind.Error && f.rid === rid, `send to ${ghost}`);
      assert.equal(codeOf(s), 'PARLEY_ERR_UNKNOWN_USER');
    }
    // Request outcomes are not violations: many of them do not close the socket.
    for (let i = 0; i < 15; i++) raw.sendFrame({ kind: FrameKind.Receipt, rid: 200 + i, status: ReceiptStatus.Read, to: GHOST, messageIds: ['m'] });
    await raw.next((f) => f.kind === FrameKind.Error && f.rid === 214, 'the 15th UNKNOWN_USER');
    // And this device's next send is served normally.
    raw.sendFrame({ kind: FrameKind.Send, rid: 300, messageId: 'ok1', to: bob.credentials.userId, envelopes: [{ deviceId: 0, registrationId: 0, type: 0, ciphertext: text('after') }] });
    await raw.next((f) => f.kind === FrameKind.Sent && f.rid === 300, 'sent after the refusals');
    const [m] = await bounded(take(bob.client.messages(), 1), 'bob receives');
    assert.equal(m!.messageId, 'ok1');
    assertCleanSocket(raw);
    await raw.close();
  } finally {
    await t.stop();
  }
});

test('bad input - a send whose envelopes do not match the recipient\'s devices gets mismatched-devices and delivers nothing', async () => {
  const t = await startTestNode();
  try {
    const bob = await registerClient(t.url);
    const second = libsignalIdentity();
    const { device } = await t.node.chat.services.accounts.addDevice(bob.credentials.userId, { identityKey: second.publicKey, registrationId: 9, name: 'second' });
    t.node.chat.services.directory.invalidate(bob.credentials.userId);
    const bob2 = await loginClient(t.url, second, 9, { userId: bob.credentials.userId, deviceId: device.deviceId });
    const account = await rawAccount(t.url);
    const { raw } = await RawSocket.login(t.url, account.identity, account.device);
    const env = (deviceId: number) => ({ deviceId, registrationId: 0, type: CiphertextType.Whisper, ciphertext: text(`for ${deviceId}`) });
    const cases: [number[], number[], number[]][] = [
      [[1, 5], [device.deviceId], [5]],
      [[device.deviceId], [1], []],
      [[1, device.deviceId, 7, 8], [], [7, 8]],
    ];
    let rid = 0;
    for (const [devices, missing, extra] of cases) {
      raw.sendFrame({ kind: FrameKind.Send, rid: ++rid, messageId: `bad${rid}`, to: bob.credentials.userId, envelopes: devices.map(env) });
      const f = await raw.next((x) => 'rid' in x && x.rid === rid && (x.kind === FrameKind.MismatchedDevices || x.kind === FrameKind.Error || x.kind === FrameKind.Sent), `answer to ${devices}`) as MismatchedDevicesFrame;
      assert.equal(f.kind, FrameKind.MismatchedDevices, `envelopes for ${devices}`);
      assert.equal(f.userId, bob.credentials.userId);
      assert.deepEqual([[...f.missing].sort(), [...f.extra].sort()], [missing, extra], `envelopes for ${devices}`);
    }
    raw.sendFrame({ kind: FrameKind.Send, rid: 50, messageId: 'good', to: bob.credentials.userId, envelopes: [env(1), env(device.deviceId)] });
    await raw.next((x) => x.kind === FrameKind.Sent && x.rid === 50, 'sent');
    for (const [client, id] of [[bob.client, 1], [bob2, device.deviceId]] as const) {
      const [m] = await bounded(take(client.messages(), 1), `device ${id} receives`);
      assert.equal(m!.messageId, 'good', `device ${id}: the mismatched sends delivered nothing`);
      assert.equal(str(m!.ciphertext), `for ${id}`, 'each device gets its own envelope');
    }
    await raw.close();
  } finally {
    await t.stop();
  }
});

test('bad input - acks for seqs never delivered are ignored and delete nothing', async () => {
  const t = await startTestNode();
  try {
    const alice = await registerClient(t.url);
    const bob = await rawAccount(t.url);
    const ids = ['a1', 'a2', 'a3'];
    for (const id of ids) await alice.client.send(bob.device.userId, text(id), { messageId: id });
    const { raw } = await RawSocket.login(t.url, bob.identity, bob.device);
    const delivered: number[] = [];
    for (let i = 0; i < 3; i++) {
      const f = await raw.next((x) => x.kind === FrameKind.Deliver, 'deliver');
      if (f.kind === FrameKind.Deliver) delivered.push(f.seq);
    }
    const never = [0, Math.max(...delivered) + 1, Math.max(...delivered) + 1000, 2 ** 40, Number.MAX_SAFE_INTEGER];
    const mark = raw.frames.length;
    raw.sendFrame({ kind: FrameKind.Ack, rid: 60, seqs: never });
    raw.sendFrame({ kind: FrameKind.Ack, rid: 61, seqs: [delivered[1]!] }); // not a prefix: nothing may be deleted
    raw.sendFrame({ kind: FrameKind.Ping, rid: 62 });
    const end = await raw.waitFor((f) => f.kind === FrameKind.Pong && f.rid === 62, mark, 'pong');
    assert.deepEqual(raw.frames.slice(mark, end).filter((f) => f.kind === FrameKind.Error), [], 'acks of unknown seqs get no error');
    await raw.close();
    // Every un-acked message is still in the inbox, in order.
    const again = await RawSocket.login(t.url, bob.identity, bob.device);
    const redelivered: string[] = [];
    while (redelivered.length < 3) {
      const f = await again.raw.next((x) => x.kind === FrameKind.Deliver, 'redelivery');
      if (f.kind === FrameKind.Deliver) redelivered.push(f.messageId);
    }
    assert.deepEqual(redelivered, ids);
    await again.raw.close();
  } finally {
    await t.stop();
  }
});
