/**
 * `logReports` levels: a child exiting normally (every closed connection does)
 * is routine (info); an abnormal exit and a restart are warnings; crashes errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReportStream, logReports, type Report, type ReportKind } from '../../supervisors/index.ts';
import type { ExitReason } from '../../supervisors/types.ts';

function report(kind: ReportKind, reason: ExitReason | undefined): Report {
  return { kind, at: 0, node: 'n', supervisor: 'sup', childId: 'c', ref: { node: 'n', id: 1 }, behaviour: 'b', reason, stack: undefined };
}

test('logReports - normal child exits at info, abnormal exits and restarts at warn, crashes at error', () => {
  const stream = new ReportStream();
  const seen: Array<[string, string]> = [];
  const off = logReports(stream, {
    info: (_o, msg) => seen.push(['info', msg]),
    warn: (_o, msg) => seen.push(['warn', msg]),
    error: (_o, msg) => seen.push(['error', msg]),
  });
  stream.emit(report('child_exited', 'normal'));
  stream.emit(report('child_exited', 'shutdown'));
  stream.emit(report('child_exited', { shutdown: 'taken over' }));
  stream.emit(report('child_exited', { exit: 'inbox_read_failed' }));
  stream.emit(report('child_exited', undefined));
  stream.emit(report('restarted', 'normal'));
  stream.emit(report('crash', { exit: 'boom' }));
  off();
  assert.deepEqual(seen, [
    ['info', 'child_exited'], ['info', 'child_exited'], ['info', 'child_exited'],
    ['warn', 'child_exited'], ['warn', 'child_exited'], ['warn', 'restarted'], ['error', 'crash'],
  ]);
});
