/** The Markdown form of a BenchReport (what goes into BENCHMARKS.md). */
import type { LatencyPercentiles } from './histogram.ts';
import type { BenchReport } from './report.ts';

const n = (x: number) => x.toLocaleString('en-US');
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function latencyRow(name: string, l: LatencyPercentiles): string {
  return `| ${name} | ${n(l.count)} | ${l.p50Ms} | ${l.p90Ms} | ${l.p99Ms} | ${l.p999Ms} | ${l.maxMs} |`;
}

export function reportMarkdown(r: BenchReport): string {
  const lines: string[] = [];
  lines.push(`### parley bench ${r.scenario} — ${r.date}`, '');
  lines.push(`Command: \`${r.command}\``, '');
  if (r.outcome !== 'completed') lines.push(`**Ended early: ${r.outcome}.**`, '');
  lines.push(`Machine: ${r.machine.cpus} CPUs, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}, load average at start ${r.machine.loadAverage.map((x) => x.toFixed(2)).join(' ')}.`);
  lines.push(`Plan: ${r.plan.workers} worker(s) (${r.plan.perWorker.map(n).join(', ')} connections), source addresses ${r.plan.sourceAddresses.join(', ')}, ${r.plan.targets.length} gateway target(s)${r.plan.pairsAcrossNodes ? `, ${n(r.plan.pairsAcrossNodes)} pair(s) split over two nodes` : ''}. Run took ${r.durationS} s.`, '');
  if (r.cluster !== null) {
    const c = r.cluster;
    const cleanup = Object.entries(c.cleanup).map(([k, v]) => `${k} ${v}`).join(', ');
    const formed = c.readyS > 0 ? `formed in ${c.readyS} s` : 'never formed';
    lines.push(`Cluster: ${c.nodes} nodes clustered over NATS (${c.natsUrl}) as \`${c.name}\` (PostgreSQL schema and Cassandra keyspace of that name, presence in ${c.presence}), ${c.crossNode ? 'cross-node (each pair split over two nodes, storm logins on another node)' : 'pairs on one node'}; ${formed}; removed after: ${cleanup}.`, '');
  }
  lines.push('| figure | value |', '| --- | ---: |');
  const c = r.connections;
  lines.push(`| connections planned / authenticated / open at hold end | ${n(c.planned)} / ${n(c.authenticated)} / ${n(c.openAtHoldEnd)} |`);
  lines.push(`| peak open connections | ${n(c.peakOpen)} |`);
  if (r.setup !== null) lines.push(`| setup: accounts registered (key check + DB write each) | ${n(c.registeredInSetup)} in ${r.setup.seconds} s, ${n(r.setup.registeredPerS)}/s |`);
  lines.push(`| ramp | ${r.ramp.seconds} s, ${n(r.ramp.connectionsPerS)} connections/s |`);
  if (r.throughput.sent > 0) {
    lines.push(`| throughput (measured window ${r.throughput.windowS} s) | ${n(r.throughput.msgsPerS)} msgs/s (${n(r.throughput.delivered)} delivered, ${n(r.throughput.sent)} sent in all) |`);
  }
  if (r.reconnectStorm !== null) {
    lines.push(`| reconnect storm | ${n(r.reconnectStorm.reconnected)} reconnected in ${r.reconnectStorm.seconds} s (${n(r.reconnectStorm.perS)}/s) |`);
  }
  lines.push(`| heartbeats answered | ${n(r.heartbeats.pingsAnswered)} |`);
  if (r.memoryPerConnection !== null) {
    const m = r.memoryPerConnection;
    lines.push(`| **gateway memory per connection** (after GC) | **${n(m.gatewayRssBytes)} B RSS**, ${n(m.gatewayHeapBytes)} B JS heap |`);
    lines.push(`| load generator RSS per connection | ${n(m.loadGeneratorRssBytes)} B |`);
  }
  lines.push(`| load generator | ${r.loadGenerator.workers} process(es), ${mb(r.loadGenerator.rssBytes)} RSS at end, ${r.loadGenerator.cpuCoresAvg} cores avg, ${r.loadGenerator.cpuCoresHold} in the hold step |`);
  lines.push(`| errors | ${n(r.errorsTotal)}${r.errorsTotal > 0 ? ` (${Object.entries(r.errors).map(([k, v]) => `${k}: ${n(v)}`).join(', ')})` : ''} |`, '');
  lines.push('| latency (ms) | count | p50 | p90 | p99 | p99.9 | max |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  lines.push(latencyRow('login (connect → welcome)', r.latency.login));
  if (r.latency.message.count > 0) lines.push(latencyRow('message (send → deliver)', r.latency.message));
  if (r.latency.reconnect.count > 0) lines.push(latencyRow('reconnect (drop → welcome)', r.latency.reconnect));
  lines.push('');
  if (r.servers.length > 0) {
    lines.push('| server process | pid | connections | CPU avg / peak / in hold (cores) | RSS peak | RSS idle → loaded (after GC) | heap idle → loaded |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const s of r.servers) {
      lines.push(`| ${s.name} | ${s.pid} | ${n(s.connections)} | ${s.cpuCoresAvg} / ${s.cpuCoresPeak} / ${s.cpuCoresHold} | ${mb(s.rssBytesPeak)} | ${mb(s.rssBytesBaseline)} → ${mb(s.rssBytesLoaded)} | ${mb(s.heapBytesBaseline)} → ${mb(s.heapBytesLoaded)} |`);
    }
    lines.push('');
    const warned = r.servers.filter((s) => Object.keys(s.warnings ?? {}).length > 0);
    for (const s of warned) lines.push(`${s.name} logged at warn or worse: ${Object.entries(s.warnings).map(([k, v]) => `${k} × ${n(v)}`).join(', ')}.`);
    if (warned.length > 0) lines.push('');
  }
  if (r.servers.length > 0) {
    const hold = r.servers.reduce((a, s) => a + s.cpuCoresHold, 0);
    lines.push(`In the hold step: gateways ${hold.toFixed(2)} cores, load generator ${r.loadGenerator.cpuCoresHold} cores, for ${n(r.connections.openAtHoldEnd)} connections.`, '');
  }
  if (r.comparison !== null) {
    lines.push(`Compared with the ${r.comparison.previousScenario} report of ${r.comparison.previousDate}:`, '');
    lines.push('| figure | previous | now | now / previous | |', '| --- | ---: | ---: | ---: | --- |');
    for (const f of r.comparison.figures) {
      lines.push(`| ${f.metric} (${f.better} is better) | ${n(f.previous)} | ${n(f.current)} | ${f.ratio} | ${f.regressed ? '**regressed**' : ''} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
