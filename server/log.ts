/**
 * Structured JSON logging (pino): one line per event. Log ids, never message
 * bodies: nothing a client sends as payload may be passed to a logger.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.ts';

export type { Logger } from 'pino';

/**
 * Creates the node's root logger writing JSON lines to `destination`
 * (stdout by default). `base` fields appear on every line.
 */
export function createLogger(level: LogLevel, base: Record<string, unknown> = {}, destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, destination);
}
