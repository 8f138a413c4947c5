/**
 * WebSocket close codes the server uses, 4000–4999 being the range RFC 6455
 * leaves to applications. The last three digits echo the nearest HTTP status
 * (4409 "Connected elsewhere" is Signal-Server's own), so they read at a glance.
 * `reconnect` tells a client whether to reconnect on its own (with backoff).
 * The close reason string is at most 123 bytes of UTF-8 (RFC 6455 §5.5).
 */
export enum CloseCode {
  Normal = 1000,
  GoingAway = 1001,
  InternalError = 1011,
  ProtocolViolation = 4400,
  AuthFailed = 4401,
  DeviceRemoved = 4403,
  AuthTimeout = 4408,
  ConnectedElsewhere = 4409,
  FrameTooLarge = 4413,
  UnsupportedVersion = 4426,
  RateLimited = 4429,
  IdleTimeout = 4440,
  SlowConsumer = 4450,
  ShuttingDown = 4503,
}

/** What a close code means to a client. */
export interface CloseReason {
  /** The close frame's reason text. */
  readonly reason: string;
  /** Whether the client should reconnect by itself (with backoff). */
  readonly reconnect: boolean;
}

/** Every close code, its reason text and reconnect advice. */
export const CLOSE_REASONS: Readonly<Record<CloseCode, CloseReason>> = {
  [CloseCode.Normal]: { reason: 'Normal closure', reconnect: false },
  [CloseCode.GoingAway]: { reason: 'Going away', reconnect: true },
  [CloseCode.InternalError]: { reason: 'Internal error', reconnect: true },
  [CloseCode.ProtocolViolation]: { reason: 'Protocol violation', reconnect: false },
  [CloseCode.AuthFailed]: { reason: 'Authentication failed', reconnect: false },
  [CloseCode.DeviceRemoved]: { reason: 'Device removed', reconnect: false },
  [CloseCode.AuthTimeout]: { reason: 'Authentication timeout', reconnect: true },
  [CloseCode.ConnectedElsewhere]: { reason: 'Connected elsewhere', reconnect: false },
  [CloseCode.FrameTooLarge]: { reason: 'Frame too large', reconnect: false },
  [CloseCode.UnsupportedVersion]: { reason: 'Unsupported protocol version', reconnect: false },
  [CloseCode.RateLimited]: { reason: 'Rate limited', reconnect: true },
  [CloseCode.IdleTimeout]: { reason: 'Idle timeout', reconnect: true },
  [CloseCode.SlowConsumer]: { reason: 'Slow consumer', reconnect: true },
  [CloseCode.ShuttingDown]: { reason: 'Server shutting down', reconnect: true },
};
