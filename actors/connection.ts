/**
 * Connection: one process per client socket. It owns the socket: decodes and
 * validates every inbound frame before anything else sees it, runs the
 * handshake (hello → challenge → register/auth → welcome), answers pings, and
 * writes outbound frames with a bounded buffer. After login it forwards
 * messaging frames to the device's Session.
 *
 * | message                 | what happens                                                   |
 * | ----------------------- | -------------------------------------------------------------- |
 * | info in(bytes)          | decode → state check → handle or forward; violations → error frame / close |
 * | info tick               | every pingInterval: ping, or close 4440 after idleTimeout of silence |
 * | info auth-timeout       | not logged in by authTimeout → close 4408                      |
 * | info socket-closed      | stop `normal` (the Session monitors this process)              |
 * | cast out(frame)         | write; over maxBufferedBytes at two ticks in a row → close 4450 (slow consumer) |
 * | cast close(code)        | error frame with code, then close with its close code          |
 * | DOWN of its Session     | abnormal → close 1011, the client reconnects and resumes       |
 *
 * Nothing is lost by closing: undelivered messages stay in the inbox.
 */
import { randomBytes } from 'node:crypto';
import { PublicKey } from '@signalapp/libsignal-client';
import type { WebSocket } from 'ws';
import {
  CLOSE_REASONS, ERROR_CODES, FrameKind, INITIAL_STATE, NONCE_BYTES, NO_VIOLATIONS, PROTOCOL_VERSION,
  authResult, authSignedBytes, decodeFrame, encodeFrame, errorFrame, isAuthenticated, nextState, recordViolation, registerSignedBytes,
  type AuthFrame, type CloseCode, type ConnectionState, type ErrorCode, type Frame, type PreKeyFetchFrame, type PreKeyUploadFrame,
  type RegisterFrame, type ServerFrame, type ViolationRecord,
} from '../protocol/index.ts';
import { isParleyError } from '../protocol/errors.ts';
import {
  call, cast, exit, isAlive, isNormalExit, sameRef, send, startPartitionedChild, worker,
  type ActorContext, type Behaviour, type MonitorRef, type NoReplyResult, type SystemMessage,
} from '../supervisors/index.ts';
import type { DeviceAddress } from '../store/types.ts';
import { sessionName, type ChatServices } from './chat-services.ts';
import type { ConnectionProtocol, ConnectionInfo, ConnectionCast, ConnectionRef } from './connection-protocol.ts';
import { closeConnection, outbound } from './connection-protocol.ts';
import { SESSION, type SessionRef } from './session.ts';
import { flush, frameQueue, queueBinary, queuedBytes, type FrameQueue } from './frame-writer.ts';

/** Arguments of `init`. */
export interface ConnectionArgs {
  readonly socket: WebSocket;
  /** Peer address, for logs. (Not the upgrade request itself: the child spec keeps the args alive for the socket's life.) */
  readonly remote: string;
  readonly services: ChatServices;
}

/** The whole state of a connection. */
interface ConnectionData {
  readonly socket: WebSocket;
  /** Frames for `socket`, written once per turn (frame-writer.ts). */
  readonly out: FrameQueue;
  readonly services: ChatServices;
  readonly remote: string;
  phase: ConnectionState;
  nonce: Uint8Array;
  violations: ViolationRecord;
  device: DeviceAddress | undefined;
  session: SessionRef | undefined;
  sessionMonitor: MonitorRef | undefined;
  /** performance.now() of the last frame from the client. */
  lastHeard: number;
  nextPingRid: number;
  ticker: NodeJS.Timeout;
  authTimer: NodeJS.Timeout | undefined;
  closing: boolean;
  /** Ticks in a row at which the outbound buffer was over maxBufferedBytes (see `write`). */
  slowTicks: number;
}

export const CONNECTION: Behaviour<ConnectionData, ConnectionArgs, ConnectionProtocol> = {
  name: 'Connection',

  init({ socket, remote, services }, ctx) {
    const self = ctx.self;
    const { settings } = services;
    socket.on('message', (data: Buffer, binary: boolean) => send(self, { t: 'in', data, binary }));
    socket.on('close', (code: number) => send(self, { t: 'socket-closed', code }));
    socket.on('error', (err: Error) => services.log.debug({ event: 'connection.socket_error', code: (err as NodeJS.ErrnoException).code }));
    // The gateway paused the socket until this process could take its frames.
    socket.resume();
    const ticker = setInterval(() => send(self, { t: 'tick' }), settings.pingIntervalMs);
    ticker.unref();
    const authTimer = setTimeout(() => send(self, { t: 'auth-timeout' }), settings.authTimeoutMs);
    authTimer.unref();
    return {
      ok: {
        socket, out: frameQueue(socket), services,
        remote,
        phase: INITIAL_STATE, nonce: randomBytes(NONCE_BYTES), violations: NO_VIOLATIONS,
        device: undefined, session: undefined, sessionMonitor: undefined,
        lastHeard: performance.now(), nextPingRid: 1, ticker, authTimer, closing: false, slowTicks: 0,
      },
    };
  },

  handleCast(message: ConnectionCast, state): NoReplyResult<ConnectionData> {
    if (message.t === 'out') write(state, message.frame);
    else closeWith(state, message.code, message.message, null);
    return { noreply: state };
  },

  handleInfo(message, state, ctx): NoReplyResult<ConnectionData> | Promise<NoReplyResult<ConnectionData>> {
    const m = message as ConnectionInfo | SystemMessage;
    if ('type' in m) {
      if (m.type === 'DOWN' && sameRef(m.monitor, state.sessionMonitor)) {
        state.session = undefined;
        if (!isNormalExit(m.reason)) closeWith(state, 'PARLEY_ERR_INTERNAL', 'session failed', null);
      }
      return { noreply: state };
    }
    switch (m.t) {
      case 'in': {
        // Only a login waits (the mailbox holds later frames until it is done); every other frame is handled synchronously.
        const login = onBytes(state, ctx, m.data, m.binary);
        return login === undefined ? { noreply: state } : login.then(() => ({ noreply: state }));
      }
      case 'tick':
        if (performance.now() - state.lastHeard > state.services.settings.idleTimeoutMs) {
          closeWith(state, 'PARLEY_ERR_IDLE_TIMEOUT', 'no frame from the client in time', null);
        } else if (overBuffered(state) && ++state.slowTicks >= 2) {
          closeWith(state, 'PARLEY_ERR_SLOW_CONSUMER', 'outbound buffer full', null);
        } else {
          if (!overBuffered(state)) state.slowTicks = 0;
          write(state, { kind: FrameKind.Ping, rid: state.nextPingRid++ >>> 0 });
          // The heartbeat keeps the user online (queued: one pipelined flush per node per interval).
          if (state.device !== undefined) state.services.presence?.touch(state.device.userId);
        }
        return { noreply: state };
      case 'auth-timeout':
        if (!isAuthenticated(state.phase)) closeWith(state, 'PARLEY_ERR_AUTH_TIMEOUT', 'not logged in in time', null);
        return { noreply: state };
      case 'socket-closed':
        return { stop: 'normal', state };
      case 'drain':
        return { noreply: state };
    }
  },

  terminate(_reason, state, ctx) {
    if (state.device !== undefined) state.services.keys?.detach(state.device, ctx.self);
    clearInterval(state.ticker);
    clearTimeout(state.authTimer);
    if (state.socket.readyState === state.socket.OPEN || state.socket.readyState === state.socket.CONNECTING) state.socket.terminate();
  },
};

/** Handles one inbound message; returns a promise only for a login (register/auth), which the mailbox waits for. */
function onBytes(state: ConnectionData, ctx: ActorContext<ConnectionProtocol>, data: Buffer, binary: boolean): Promise<void> | undefined {
  if (state.closing) return;
  state.lastHeard = performance.now();
  if (!binary) {
    violation(state, 'PARLEY_ERR_MALFORMED_FRAME', null, 'text frames are not part of the protocol', null);
    return;
  }
  const decoded = decodeFrame(data, state.services.limits);
  if (!decoded.ok) {
    const e = decoded.error;
    violation(state, e.code, e.rid, e.message, e.field);
    return;
  }
  const frame = decoded.frame;
  const next = nextState(state.phase, frame.kind);
  if (!next.ok) {
    violation(state, next.code, ridOf(frame), `${frameName(frame)} not allowed now`, null);
    return;
  }
  state.phase = next.state;
  switch (frame.kind) {
    case FrameKind.Hello:
      write(state, { kind: FrameKind.Challenge, rid: frame.rid, version: PROTOCOL_VERSION, nonce: state.nonce, serverTime: state.services.now() });
      return;
    case FrameKind.Register:
      return login(state, ctx, frame, () => register(state, frame));
    case FrameKind.Auth:
      return login(state, ctx, frame, () => authenticate(state, frame));
    case FrameKind.Ping:
      write(state, { kind: FrameKind.Pong, rid: frame.rid });
      return;
    case FrameKind.Pong:
      return;
    case FrameKind.Send:
    case FrameKind.Ack:
    case FrameKind.Receipt:
      if (state.session !== undefined) cast(state.session, { t: 'frame', frame });
      else closeWith(state, 'PARLEY_ERR_INTERNAL', 'no session', null);
      return;
    case FrameKind.PreKeyUpload:
    case FrameKind.PreKeyFetch:
      serveKeys(state, ctx, frame);
      return;
    default:
      // Device linking arrives with multi-device keys.
      write(state, errorFrame('PARLEY_ERR_INTERNAL', ridOf(frame), `${frameName(frame)} is not served by this node yet`));
      return;
  }
}

/** Pre-key frames go to the keys service; its answers come back through the mailbox (no waiting on the store here). */
function serveKeys(state: ConnectionData, ctx: ActorContext<ConnectionProtocol>, frame: PreKeyUploadFrame | PreKeyFetchFrame): void {
  const { keys } = state.services;
  const device = state.device;
  if (keys === undefined || device === undefined) {
    write(state, errorFrame('PARLEY_ERR_INTERNAL', frame.rid, `${frameName(frame)} is not served by this node`));
    return;
  }
  const self = ctx.self;
  const answer = frame.kind === FrameKind.PreKeyUpload ? keys.upload(device, frame) : keys.fetch(device, frame).then((f) => [f]);
  answer.then(
    (frames) => { for (const f of frames) outbound(self, f); },
    (err: unknown) => {
      state.services.log.error({ event: 'connection.keys_failed', user: device.userId, device: device.deviceId, kind: frameName(frame), code: (err as { code?: string }).code });
      closeConnection(self, 'PARLEY_ERR_INTERNAL', 'key service failed');
    },
  );
}

/** Runs register/auth; on success opens the session and says welcome, else closes 4401. */
async function login(state: ConnectionData, ctx: ActorContext<ConnectionProtocol>, frame: RegisterFrame | AuthFrame, check: () => Promise<DeviceAddress | undefined>): Promise<void> {
  let device: DeviceAddress | undefined;
  try {
    device = await check();
  } catch (err) {
    if (isParleyError(err) && (err.code === 'PARLEY_ERR_STORE_UNAVAILABLE')) {
      return closeWith(state, 'PARLEY_ERR_SHUTTING_DOWN', 'store unavailable, try again', frame.rid);
    }
    // INVALID_INPUT: a well-formed wire user id the store cannot hold (not a UUID) names no
    // device. It is a failed login (AUTH_FAILED, 4401), not a crash of this process, which
    // cut the socket with 1006 and no error frame.
    if (isParleyError(err) && (err.code === 'PARLEY_ERR_STORE_CONFLICT' || err.code === 'PARLEY_ERR_STORE_INVALID_INPUT')) device = undefined;
    else throw err;
  }
  if (device === undefined) {
    state.phase = authResult(state.phase, false).state;
    state.services.log.info({ event: 'connection.auth_failed', remote: state.remote, kind: frameName(frame) });
    return closeWith(state, 'PARLEY_ERR_AUTH_FAILED', 'authentication failed', frame.rid);
  }
  if (state.closing) return;
  state.device = device;
  clearTimeout(state.authTimer);
  state.authTimer = undefined;
  const session = await openSession(state.services, device, ctx.self);
  state.session = session;
  state.sessionMonitor = ctx.monitor(session);
  state.phase = authResult(state.phase, true).state;
  const { settings, limits } = state.services;
  write(state, {
    kind: FrameKind.Welcome, rid: frame.rid, userId: device.userId, deviceId: device.deviceId,
    sessionId: `${session.node}.${session.id}`, serverTime: state.services.now(),
    pingIntervalMs: settings.pingIntervalMs, maxPayloadBytes: limits.maxPayloadBytes,
  });
  state.services.log.debug({ event: 'connection.login', user: device.userId, device: device.deviceId });
  state.services.presence?.touch(device.userId);
  const keys = state.services.keys;
  if (keys !== undefined) {
    keys.attach(device, ctx.self);
    const self = ctx.self;
    // On login, a device low on one-time keys is told at once. A device that
    // just registered has none by definition and uploads them itself: no notice.
    if (frame.kind === FrameKind.Auth) {
      keys.lowKeysNotice(device).then((notice) => { if (notice !== undefined) outbound(self, notice); }, () => { /* told again on the next login or upload */ });
    }
  }
}

async function register(state: ConnectionData, frame: RegisterFrame): Promise<DeviceAddress | undefined> {
  if (frame.linkToken !== null) return undefined; // device linking arrives with multi-device keys
  if (!verify(frame.identityKey, registerSignedBytes(state.nonce, frame.identityKey, frame.registrationId, null), frame.signature)) return undefined;
  const { accounts, directory } = state.services;
  const account = await accounts.createAccount();
  const { device } = await accounts.addDevice(account.userId, { identityKey: frame.identityKey, registrationId: frame.registrationId, name: '' });
  directory.invalidate(account.userId);
  return { userId: device.userId, deviceId: device.deviceId };
}

async function authenticate(state: ConnectionData, frame: AuthFrame): Promise<DeviceAddress | undefined> {
  const device = await state.services.accounts.getDevice({ userId: frame.userId, deviceId: frame.deviceId });
  if (device === undefined) return undefined;
  if (!verify(device.identityKey, authSignedBytes(state.nonce, frame.userId, frame.deviceId), frame.signature)) return undefined;
  return { userId: device.userId, deviceId: device.deviceId };
}

function verify(identityKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return PublicKey.deserialize(new Uint8Array(identityKey)).verify(new Uint8Array(message), new Uint8Array(signature));
  } catch {
    return false; // not a valid key encoding
  }
}

/**
 * The device's session: attach to the running one on this node (takeover) or
 * start it. In a cluster a session of the device on another node is taken
 * over by name: a new one starts here and claims the name; the old one
 * closes its connection 4409 and stops.
 */
async function openSession(services: ChatServices, device: DeviceAddress, conn: ConnectionRef): Promise<SessionRef> {
  const name = sessionName(device);
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = services.system.registry.whereis(name) as SessionRef | undefined;
    const cluster = services.cluster;
    // A local session that exited may stay in the cluster registry until the
    // deletion of its name comes back from the shared store: taken over too.
    if (cluster !== undefined && (existing === undefined || existing.node !== services.system.node || !isAlive(existing))) {
      const spec = worker('session', SESSION, { device, conn, services }, { restart: 'temporary' });
      const ref = (await startPartitionedChild(services.sessionSupervisor, spec, name)) as SessionRef;
      try {
        await cluster.claimSession(name, ref);
      } catch (err) {
        exit(ref, 'kill');
        throw err;
      }
      return ref;
    }
    if (existing !== undefined) {
      try {
        await call(existing, { t: 'attach', conn });
        return existing;
      } catch {
        continue; // it exited meanwhile: start a new one
      }
    }
    const spec = worker('session', SESSION, { device, conn, services }, { restart: 'temporary', name });
    const ref = await startPartitionedChild(services.sessionSupervisor, spec, name).catch(() => undefined);
    if (ref !== undefined) return ref as SessionRef;
  }
  throw new Error('could not open a session');
}


// ---------------------------------------------------------------------------
// writing

/** Writes one frame; the frames of one event-loop turn leave in one socket write (frame-writer.ts). */
function write(state: ConnectionData, frame: ServerFrame): void {
  const { socket } = state;
  if (state.closing || socket.readyState !== socket.OPEN) return;
  queueBinary(state.out, encodeFrame(frame));
  // Not closed on the first write over maxBufferedBytes: one inbox read (up to readBatch
  // deliveries, queued in one turn) passes the bound for a moment even when the client
  // reads at full speed, so a device with a backlog of large messages was closed 4450 on
  // every reconnect and never drained it. A slow consumer is one still over the bound at
  // two ticks in a row (`tick`); past the most one burst can hold (the bound plus a full
  // delivery window of maximal payloads) it is closed at once.
  const { settings, limits } = state.services;
  if (bufferedBytes(state) > settings.maxBufferedBytes + settings.deliveryWindow * (limits.maxPayloadBytes + 1024)) {
    closeWith(state, 'PARLEY_ERR_SLOW_CONSUMER', 'outbound buffer full', null);
  }
}

/** Bytes written and not yet taken by the kernel, with those queued for the end of the turn. */
function bufferedBytes(state: ConnectionData): number {
  return state.socket.bufferedAmount + queuedBytes(state.out);
}

function overBuffered(state: ConnectionData): boolean {
  return bufferedBytes(state) > state.services.settings.maxBufferedBytes;
}

function violation(state: ConnectionData, code: ErrorCode, rid: number | null, message: string, field: string | null): void {
  const action = recordViolation(state.violations, code, performance.now(), isAuthenticated(state.phase));
  state.violations = action.record;
  if (action.action === 'error') {
    write(state, errorFrame(code, rid, message, field));
    return;
  }
  write(state, errorFrame(code, rid, message, field));
  if (action.code !== code) write(state, errorFrame(action.code, null, 'too many protocol violations'));
  closeSocket(state, action.closeCode);
}

/** Error frame with `code`, then close with the code's close code (1011 for internal errors). */
function closeWith(state: ConnectionData, code: ErrorCode, message: string, rid: number | null): void {
  if (state.closing) return;
  write(state, errorFrame(code, rid, message));
  const close = ERROR_CODES[code].close;
  closeSocket(state, close === 0 ? 1011 : close);
}

function closeSocket(state: ConnectionData, closeCode: number): void {
  if (state.closing) return;
  state.closing = true;
  const reason = CLOSE_REASONS[closeCode as CloseCode]?.reason ?? 'closing';
  state.services.log.debug({ event: 'connection.closed', code: closeCode, user: state.device?.userId, device: state.device?.deviceId });
  const { socket } = state;
  if (socket.readyState === socket.OPEN) {
    flush(state.out); // what was queued goes before the close frame
    socket.close(closeCode, reason);
    // A peer that never answers the close handshake (or a full buffer) is cut off.
    setTimeout(() => socket.terminate(), 2000).unref();
  }
}

function ridOf(frame: Frame): number | null {
  return 'rid' in frame && typeof frame.rid === 'number' ? frame.rid : null;
}

function frameName(frame: Frame): string {
  return FrameKind[frame.kind] ?? String(frame.kind);
}
